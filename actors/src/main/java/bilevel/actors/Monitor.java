package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import bilevel.numerics.train.MetricsWriter;
import bilevel.numerics.train.ModelFile;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.StepMetrics;
import bilevel.numerics.train.TrainingSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The Monitor writes what a run leaves on disk — the metrics file (one JSON line per update), the
 * checkpoints ({@link CheckpointStore}) and the model file — and shows the progress: a one-line bar
 * redrawn in place on a terminal (steps, total computations, batch loss, validation PSNR, ε, α, ETA), or
 * plain log lines (at most one every few seconds, and every validation) when stderr is not a terminal.
 * It runs on Akka's blocking-I/O dispatcher.
 */
public final class Monitor extends AbstractBehavior<Monitor.Command> {

    /** Messages the Monitor understands. */
    public sealed interface Command extends CborSerializable permits Started, Step, WriteCheckpoint, Finish {
    }

    /** The Optimizer starts (or resumes) at these totals. */
    public record Started(long steps, long computations, double seconds, boolean resumed, int solvers, String mode)
            implements Command {
    }

    /** One update: its metrics line, and the hypergradients computed so far. */
    public record Step(StepMetrics metrics, long hypergradients) implements Command {
    }

    /** Write this checkpoint (its warm-start files are written) and answer {@code replyTo}. */
    public record WriteCheckpoint(Checkpoint checkpoint, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /** The run is complete: write the model file and answer {@code replyTo}. */
    public record Finish(double[] theta, long steps, long computations, double seconds, Double validationPsnr,
                         double secondsPerHypergradient, long hypergradients, String mode, int solvers,
                         ActorRef<Optimizer.Command> replyTo) implements Command {
        public Finish {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Finish f && Arrays.equals(theta, f.theta) && steps == f.steps
                    && computations == f.computations && Double.compare(seconds, f.seconds) == 0
                    && Objects.equals(validationPsnr, f.validationPsnr)
                    && Double.compare(secondsPerHypergradient, f.secondsPerHypergradient) == 0
                    && hypergradients == f.hypergradients && mode.equals(f.mode) && solvers == f.solvers
                    && replyTo.equals(f.replyTo);
        }

        @Override
        public int hashCode() {
            return Objects.hash(Arrays.hashCode(theta), steps, computations);
        }
    }

    /**
     * What the Monitor writes to (plain objects handed over at creation).
     *
     * @param outDir      run folder (metrics.jsonl, model.json)
     * @param checkpoints checkpoint store
     * @param progress    where the progress goes (null: nowhere)
     * @param terminal    redraw one line in place (a terminal) or print plain lines
     */
    public record Setup(Path outDir, TrainingSpec spec, String dataFingerprint, CheckpointStore checkpoints,
                        PrintWriter progress, boolean terminal) {
    }

    private static final long PLAIN_LINE_NANOS = 5_000_000_000L;

    private final Setup setup;
    private MetricsWriter metrics;
    private long startSteps;
    private long startComputations;
    private double startSeconds;
    private long lastPlainLine;
    private Double lastPsnr;
    private String lastLine = "";

    public static Behavior<Command> create(Setup setup) {
        return Behaviors.setup(ctx -> new Monitor(ctx, setup));
    }

    private Monitor(ActorContext<Command> context, Setup setup) {
        super(context);
        this.setup = setup;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Started.class, this::onStarted)
                .onMessage(Step.class, this::onStep)
                .onMessage(WriteCheckpoint.class, this::onWriteCheckpoint)
                .onMessage(Finish.class, this::onFinish)
                .onSignal(PostStop.class, s -> onPostStop())
                .build();
    }

    private Behavior<Command> onStarted(Started m) {
        startSteps = m.steps();
        startComputations = m.computations();
        startSeconds = m.seconds();
        metrics = new MetricsWriter(setup.outDir().resolve("metrics.jsonl"));
        if (setup.progress() != null) {
            TrainingSpec.TrainSpec t = setup.spec().train();
            setup.progress().printf(Locale.ROOT, "%s %s (%s) with %d %s solver%s, budget %s%s -> %s%n",
                    m.resumed() ? "resuming at step " + m.steps() + ":" : "training", setup.spec().regularizer().type(),
                    t.method(), m.solvers(), m.mode(), m.solvers() == 1 ? "" : "s",
                    t.budget() > 0 ? t.budget() + " computations" : "unlimited",
                    t.maxSteps() > 0 ? ", " + t.maxSteps() + " steps" : "", setup.outDir());
            setup.progress().flush();
        }
        return this;
    }

    private Behavior<Command> onStep(Step m) {
        metrics.write(m.metrics());
        if (m.metrics().validationPsnr() != null) {
            lastPsnr = m.metrics().validationPsnr();
        }
        show(m.metrics(), m.metrics().validationPsnr() != null, false);
        return this;
    }

    private Behavior<Command> onWriteCheckpoint(WriteCheckpoint m) {
        try {
            Path f = setup.checkpoints().write(m.checkpoint());
            m.replyTo().tell(new Optimizer.CheckpointWritten(m.checkpoint().sequence(), f.toString(), null));
        } catch (RuntimeException e) {
            m.replyTo().tell(new Optimizer.CheckpointWritten(m.checkpoint().sequence(), null, String.valueOf(e.getMessage())));
        }
        return this;
    }

    private Behavior<Command> onFinish(Finish m) {
        try {
            TrainingSpec spec = setup.spec();
            Map<String, Object> training = new LinkedHashMap<>();
            training.put("steps", m.steps());
            training.put("computations", m.computations());
            training.put("seconds", m.seconds());
            training.put("validationPsnr", m.validationPsnr() == null ? Double.NaN : m.validationPsnr());
            training.put("secondsPerHypergradient", m.secondsPerHypergradient());
            training.put("hypergradients", m.hypergradients());
            training.put("runtime", m.mode());
            training.put("solvers", m.solvers());
            ModelFile.of(spec.regularizer().type(),
                    RegularizerFactory.resolvedOptions(spec.regularizer().type(), spec.regularizer().options()), m.theta(), spec.problem(),
                    setup.dataFingerprint(), spec.seed(), training, spec).write(setup.outDir().resolve("model.json"));
            closeMetrics();
            if (setup.progress() != null && setup.terminal() && !lastLine.isEmpty()) {
                setup.progress().println();
                setup.progress().flush();
                lastLine = "";
            }
            m.replyTo().tell(new Optimizer.Finished(null));
        } catch (RuntimeException e) {
            m.replyTo().tell(new Optimizer.Finished(String.valueOf(e.getMessage())));
        }
        return this;
    }

    private Behavior<Command> onPostStop() {
        closeMetrics();
        if (setup.progress() != null && setup.terminal() && !lastLine.isEmpty()) {
            setup.progress().println();
            setup.progress().flush();
        }
        return this;
    }

    private void closeMetrics() {
        if (metrics != null) {
            metrics.close();
            metrics = null;
        }
    }

    private void show(StepMetrics m, boolean validation, boolean force) {
        PrintWriter out = setup.progress();
        if (out == null) {
            return;
        }
        String line = progressLine(m, lastPsnr, eta(m), setup.spec().train());
        if (setup.terminal()) {
            int pad = Math.max(0, lastLine.length() - line.length());
            out.print("\r" + line + " ".repeat(pad));
            out.flush();
            lastLine = line;
        } else {
            long now = System.nanoTime();
            if (validation || force || lastPlainLine == 0 || now - lastPlainLine >= PLAIN_LINE_NANOS) {
                out.println(line);
                out.flush();
                lastPlainLine = now;
            }
        }
    }

    /** Seconds to the budget or step limit at the rate since this process started (NaN: unknown). */
    private double eta(StepMetrics m) {
        TrainingSpec.TrainSpec t = setup.spec().train();
        double elapsed = m.seconds() - startSeconds;
        double eta = Double.POSITIVE_INFINITY;
        if (elapsed <= 0) {
            return Double.NaN;
        }
        if (t.budget() > 0 && m.computations() > startComputations) {
            double rate = (m.computations() - startComputations) / elapsed;
            eta = Math.min(eta, Math.max(0, t.budget() - m.computations()) / rate);
        }
        long done = m.step() + 1;
        if (t.maxSteps() > 0 && done > startSteps) {
            double rate = (done - startSteps) / elapsed;
            eta = Math.min(eta, Math.max(0, t.maxSteps() - done) / rate);
        }
        return Double.isInfinite(eta) ? Double.NaN : eta;
    }

    /** The progress line of a step (shared by the bar and the plain log lines). */
    static String progressLine(StepMetrics m, Double psnr, double etaSeconds, TrainingSpec.TrainSpec t) {
        StringBuilder b = new StringBuilder();
        double fraction = Double.NaN;
        if (t.budget() > 0) {
            fraction = Math.min(1.0, (double) m.computations() / t.budget());
        }
        if (t.maxSteps() > 0) {
            double f = Math.min(1.0, (m.step() + 1.0) / t.maxSteps());
            fraction = Double.isNaN(fraction) ? f : Math.max(fraction, f);
        }
        if (!Double.isNaN(fraction)) {
            int width = 20;
            int full = (int) Math.round(fraction * width);
            b.append('[').append("#".repeat(full)).append(".".repeat(width - full)).append(']')
                    .append(String.format(Locale.ROOT, " %3.0f%% ", 100 * fraction));
        }
        b.append(String.format(Locale.ROOT, "step %d  comps %s  loss %.4g  val %s  eps %.2e  alpha %.2e",
                m.step() + 1, compact(m.computations()), m.batchLoss(),
                psnr == null ? "-" : String.format(Locale.ROOT, "%.2f dB", psnr), m.epsilon(), m.alpha()));
        if (m.staleness() > 0) {
            b.append(String.format(Locale.ROOT, "  stale %.1f", m.staleness()));
        }
        b.append("  ETA ").append(Double.isNaN(etaSeconds) ? "?" : duration(etaSeconds));
        return b.toString();
    }

    static String compact(long n) {
        if (n < 10_000) {
            return Long.toString(n);
        }
        if (n < 10_000_000) {
            return String.format(Locale.ROOT, "%.1fk", n / 1e3);
        }
        return String.format(Locale.ROOT, "%.1fM", n / 1e6);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 3600) {
            return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
        }
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
