package bilevel.actors;

import akka.Done;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.DispatcherSelector;
import akka.actor.typed.Terminated;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import bilevel.numerics.data.MinibatchSampler;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import bilevel.numerics.util.AtomicFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a training on the local cores with the actor runtime: one {@link Sampler}, one {@link Optimizer},
 * one {@link Monitor} and {@code runtime.solvers} {@link Solver}s (each on its own thread), in one actor
 * system that lives for the run. Blocking: {@link #train} returns when the run has finished (or was
 * stopped by SIGTERM/Ctrl-C after writing a checkpoint).
 *
 * <p>A run folder holds {@code metrics.jsonl}, {@code checkpoints/} and, at the end, {@code model.json}.
 * {@link #resume} continues from the newest valid checkpoint: in sync mode the result is the same θ,
 * bit for bit, as an uninterrupted run (the checkpoint holds the solvers' warm starts too).
 */
public final class TrainingRuntime {

    /**
     * What a run produced.
     *
     * @param seconds          wall time of the run (including earlier processes of a resumed run)
     * @param trainingSeconds  wall time of this process from the first work item to the last update
     *                         (without the initial validation, the final validation and checkpoint)
     * @param numericsSeconds  time the solvers spent in the numerics for the results used (summed over solvers)
     * @param meanStaleness    async: mean staleness of the updates
     * @param interrupted      stopped by a signal (a checkpoint was written; no model file)
     * @param checkpoints      number of the last checkpoint written
     * @param reissued         work items issued again (solver failures, timeouts, rejections)
     * @param solverFailures   solver restarts after a failed computation
     * @param timeouts         work items that timed out
     * @param appliedPerSample how often each sample's hypergradient went into θ in this process
     * @param timedHypergradients hypergradients computed in this process, whose time {@code numericsSeconds} is
     *                         ({@code hypergradients} also counts those before a resume)
     */
    public record Result(double[] theta, long steps, long computations, double seconds, double trainingSeconds,
                         double validationPsnr,
                         long hypergradients, double numericsSeconds, long nonFinite, long stale, long duplicates,
                         long refinements, long abandoned, double meanStaleness, boolean interrupted, int solvers,
                         String mode, long checkpoints, long reissued, long solverFailures, long timeouts,
                         int[] appliedPerSample, long timedHypergradients) {
        public Result {
            theta = theta.clone();
            appliedPerSample = appliedPerSample.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public int[] appliedPerSample() {
            return appliedPerSample.clone();
        }

        /** Numerics time per hypergradient computed in this process (a resumed run's earlier ones are not timed). */
        public double secondsPerHypergradient() {
            return timedHypergradients == 0 ? 0 : numericsSeconds / timedHypergradients;
        }

        public double computationsPerSecond() {
            return computations / Math.max(1e-9, seconds);
        }
    }

    /**
     * How to run.
     *
     * @param progress      where progress goes (null: nowhere)
     * @param terminal      progress redrawn in place (a terminal) or as plain lines
     * @param faults        test hook for solvers ({@link Solver.Faults#NONE})
     * @param akkaOverrides Akka settings over {@link #akkaConfig()} (e.g. from tests)
     */
    public record Options(PrintWriter progress, boolean terminal, Solver.Faults faults, Config akkaOverrides) {
        public static Options quiet() {
            return new Options(null, false, Solver.Faults.NONE, ConfigFactory.empty());
        }

        public Options withFaults(Solver.Faults f) {
            return new Options(progress, terminal, f, akkaOverrides);
        }

        public Options withAkka(Config c) {
            return new Options(progress, terminal, faults, c);
        }
    }

    private TrainingRuntime() {
    }

    /** Akka settings of the runtime: {@code bilevel/runtime-akka.conf} over Akka's defaults. */
    public static Config akkaConfig() {
        return ConfigFactory.parseResources(TrainingRuntime.class.getClassLoader(), "bilevel/runtime-akka.conf")
                .withFallback(ConfigFactory.defaultReference(TrainingRuntime.class.getClassLoader()));
    }

    /** A fresh run into {@code outDir} (which the caller has checked). */
    public static Result train(TrainingSpec spec, RuntimeSpec runtime, TrainingData data, Path outDir, Options options) {
        return run(spec, runtime, data, outDir, null, options);
    }

    /** Continues the run in {@code outDir} from {@code checkpoint} (null: from the start). */
    public static Result resume(TrainingSpec spec, RuntimeSpec runtime, TrainingData data, Path outDir,
                                CheckpointStore.Loaded checkpoint, Options options) {
        if (checkpoint == null) {
            truncateMetrics(outDir.resolve("metrics.jsonl"), 0);
            deleteIfExists(outDir.resolve("model.json"));
        }
        return run(spec, runtime, data, outDir, checkpoint, options);
    }

    private static Result run(TrainingSpec spec, RuntimeSpec runtime, TrainingData data, Path outDir,
                              CheckpointStore.Loaded loaded, Options options) {
        ReferenceTrainer trainer = new ReferenceTrainer(spec, m -> { });
        if (spec.train().method().equals("maid")) {
            throw new TrainingException("the actor runtime trains with isgd or adam; MAID (full batch) runs on the "
                    + "reference trainer (bilevel train --engine reference)");
        }
        Regularizer reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
        UpperLevelStepper stepper = new UpperLevelStepper(trainer.optimizer(reg),
                runtime.mode() == RuntimeSpec.Mode.SYNC ? UpperLevelStepper.Staleness.synchronous() : runtime.staleness());
        CheckpointStore store = new CheckpointStore(outDir.resolve("checkpoints"));
        try {
            Files.createDirectories(store.dir());
        } catch (IOException e) {
            throw new TrainingException("cannot create " + store.dir() + ": " + e.getMessage());
        }

        UpperLevelStepper.State state;
        Sampler.Start start;
        Solver.WarmStarts warmStarts = Solver.WarmStarts.none();
        long steps = 0, computations = 0, hypergradients = 0, sequence = 0;
        double seconds = 0, psnr = Double.NaN;
        Map<String, Long> counters = Map.of();
        if (loaded == null) {
            state = stepper.init(trainer.initialTheta(reg));
            start = Sampler.Start.fresh(spec.seed());
        } else {
            Checkpoint c = loaded.checkpoint();
            if (!c.dataFingerprint().equals(data.fingerprint())) {
                throw new TrainingException("checkpoint " + loaded.file() + " was written for other training data ("
                        + c.dataFingerprint() + ", now " + data.fingerprint() + ")");
            }
            String expected = spec.train().method().equals("isgd") ? "sgd" : "adam";
            if (!c.optimizer().equals(expected) || c.theta().length != reg.numParams()) {
                throw new TrainingException("checkpoint " + loaded.file() + " holds a " + c.optimizer() + " state with "
                        + c.theta().length + " parameters; this run is " + spec.train().method() + " with " + reg.numParams());
            }
            state = c.upperLevel();
            start = new Sampler.Start(c.samplerPosition(), c.samplerConsumed(), c.nextWorkId(), c.pendingSamples());
            warmStarts = new Solver.WarmStarts(loaded.warmStartPaths(), loaded.warmStartDigests());
            steps = c.steps();
            computations = c.computations();
            hypergradients = c.hypergradients();
            seconds = c.seconds();
            psnr = c.validationPsnr() == null ? Double.NaN : c.validationPsnr();
            sequence = c.sequence();
            counters = c.counters();
            truncateMetrics(outDir.resolve("metrics.jsonl"), steps);
        }

        // parallelism comes from the solvers: one native thread each
        Nd4j.getEnvironment().setMaxMasterThreads(1);
        Nd4j.getEnvironment().setMaxThreads(1);

        CompletableFuture<Result> result = new CompletableFuture<>();
        CompletableFuture<ActorRef<Optimizer.Command>> optimizerRef = new CompletableFuture<>();
        Optimizer.Setup optimizerSetup = new Optimizer.Setup(spec, runtime, stepper, trainer::done, state, steps,
                computations, hypergradients, seconds, psnr, sequence, loaded != null,
                runtime.validation() ? data.validation().size() : 0, data.plan().size(), store, data.fingerprint(), counters,
                result);
        Monitor.Setup monitorSetup = new Monitor.Setup(outDir, spec, data.fingerprint(), store, options.progress(),
                options.terminal());
        MinibatchSampler minibatches = new MinibatchSampler(data.plan(), spec.train().batch());

        Config config = options.akkaOverrides()
                .withFallback(ConfigFactory.parseString("akka.coordinated-shutdown.phases.before-service-unbind.timeout = "
                        + Math.max(1, runtime.shutdownTimeout().toSeconds()) + "s"))
                .withFallback(akkaConfig());
        try (SolverEnvironment env = new SolverEnvironment(data, spec, trainer.dataType(), runtime.solvers())) {
            Solver.WarmStarts ws = warmStarts;
            Sampler.Start st = start;
            Behavior<Void> guardian = Behaviors.setup(ctx -> {
                ActorRef<Monitor.Command> monitor = ctx.spawn(Monitor.create(monitorSetup), "monitor",
                        DispatcherSelector.blocking());
                ActorRef<Sampler.Command> sampler = ctx.spawn(Sampler.create(runtime, minibatches, st), "sampler");
                List<ActorRef<Solver.Command>> solvers = new ArrayList<>();
                for (int i = 0; i < runtime.solvers(); i++) {
                    solvers.add(ctx.spawn(Solver.create(i, env, sampler, ws, options.faults()), "solver-" + i,
                            DispatcherSelector.fromConfig("bilevel-solver-dispatcher")));
                }
                ActorRef<Optimizer.Command> optimizer = ctx.spawn(
                        Optimizer.create(optimizerSetup, sampler, monitor, solvers), "optimizer");
                ctx.watch(optimizer);
                ctx.watch(sampler);
                ctx.watch(monitor);
                optimizerRef.complete(optimizer);
                return Behaviors.receive(Void.class)
                        .onSignal(Terminated.class, t -> {
                            result.completeExceptionally(new IllegalStateException("the " + t.getRef().path().name()
                                    + " actor stopped unexpectedly (see the log above)"));
                            return Behaviors.same();
                        })
                        .build();
            });
            ActorSystem<Void> system = ActorSystem.create(guardian, "bilevel", config);
            try {
                CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "bilevel-checkpoint",
                        () -> {
                            ActorRef<Optimizer.Command> optimizer = optimizerRef.getNow(null);
                            if (result.isDone() || optimizer == null) {
                                return CompletableFuture.completedFuture(Done.getInstance());
                            }
                            // the JVM may halt right after the shutdown hooks: report from here
                            PrintWriter say = options.progress() != null ? options.progress()
                                    : new PrintWriter(System.err, true, StandardCharsets.UTF_8);
                            return AskPattern.<Optimizer.Command, Optimizer.ShutdownComplete>ask(optimizer,
                                            Optimizer.Shutdown::new, runtime.shutdownTimeout(), system.scheduler())
                                    .handle((r, e) -> {
                                        say.println();
                                        say.println(r == null ? "stopped; no checkpoint could be written in time ("
                                                + runtime.shutdownTimeout().toSeconds() + " s): bilevel resume " + outDir
                                                + " continues from the previous one"
                                                : "stopped after step " + r.steps() + (r.checkpointWritten()
                                                ? "; checkpoint written; continue with: bilevel resume " + outDir
                                                : "; the last checkpoint could not be written (see above)"));
                                        say.flush();
                                        return Done.getInstance();
                                    });
                        });
                return await(result);
            } finally {
                system.terminate();
                try {
                    system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException | TimeoutException e) {
                    // the solvers' threads end with the JVM
                }
            }
        }
    }

    private static Result await(CompletableFuture<Result> result) {
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TrainingException("interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    /**
     * Keeps the lines of a metrics file whose step is below {@code steps} (the ones a checkpoint at
     * {@code steps} updates accounts for), dropping later lines and a torn last line; atomic.
     */
    static void truncateMetrics(Path file, long steps) {
        if (!Files.exists(file)) {
            return;
        }
        ObjectMapper json = new ObjectMapper();
        StringBuilder kept = new StringBuilder();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                try {
                    JsonNode n = json.readTree(line);
                    if (n != null && n.has("step") && n.get("step").asLong() < steps) {
                        kept.append(line).append('\n');
                    }
                } catch (IOException torn) {
                    // a line cut by a crash
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        AtomicFiles.write(file, kept.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void deleteIfExists(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
