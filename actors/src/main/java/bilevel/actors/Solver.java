package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.PreRestart;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import bilevel.numerics.data.CropPlan;
import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.SampleSolver;
import bilevel.numerics.train.UpperLevelStepper;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * A solver computes hypergradients of single samples (and validation reconstructions) with its own
 * {@link SampleSolver}, whose bounded warm-start cache lets a later request for the same sample — in
 * particular a {@link Refine} with tighter tolerances — continue from where the last solve stopped.
 *
 * <p>It runs on a dedicated thread (the pinned {@code bilevel-solver-dispatcher}) with one ND4J thread,
 * and pulls work: it asks the {@link Sampler} for an item when it starts and after each pulled item;
 * {@link Refine}s are pushed to it. It is supervised with restarts: when a computation throws, it tells
 * the Sampler which item was lost (so the item is re-issued), drops that sample's warm start and starts
 * again with the rest of its cache.
 */
public final class Solver extends AbstractBehavior<Solver.Command> {

    /** Messages a solver understands. */
    public sealed interface Command extends CborSerializable permits Compute, Refine, Validate, SaveWarmStarts, Ping, WorkFrom,
            IdleCheck {
    }

    /**
     * One hypergradient to compute: sample {@code sample} of the crop plan (crop at (row, col) of image
     * imageId, noise seed), at θ of {@code version}, to accuracies (ε, δ).
     *
     * @param workId     the Sampler's id of this work item (results are deduplicated by it)
     * @param attempt    how many times the item was issued before
     * @param refinement how many times its tolerances were tightened
     * @param step       the optimizer step k the item was issued for
     * @param slot       sync mode: position in the minibatch (the sum is taken in slot order)
     * @param batchSize  sync mode: size of the minibatch
     */
    public record Task(long workId, int attempt, int refinement, int sample, int imageId, int row, int col,
                       long noiseSeed, long step, int slot, int batchSize, double[] theta, long version,
                       double epsilon, double delta) implements CborSerializable {
        public Task {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        double[] thetaNoCopy() {
            return theta;
        }

        /** The same item with new tolerances and one more refinement. */
        public Task refined(double eps, double del) {
            return new Task(workId, attempt, refinement + 1, sample, imageId, row, col, noiseSeed, step, slot, batchSize,
                    theta, version, eps, del);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Task t && workId == t.workId && attempt == t.attempt && refinement == t.refinement
                    && sample == t.sample && imageId == t.imageId && row == t.row && col == t.col
                    && noiseSeed == t.noiseSeed && step == t.step && slot == t.slot && batchSize == t.batchSize
                    && Arrays.equals(theta, t.theta) && version == t.version
                    && Double.compare(epsilon, t.epsilon) == 0 && Double.compare(delta, t.delta) == 0;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(workId) * 31 + refinement;
        }

        @Override
        public String toString() {
            return "Task[workId=" + workId + ", sample=" + sample + ", version=" + version + ", eps=" + epsilon
                    + ", delta=" + delta + ", refinement=" + refinement + ", attempt=" + attempt + "]";
        }
    }

    /** Compute a pulled work item; the result goes to {@code replyTo}, then the solver asks for more work. */
    public record Compute(Task task, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /** Continue an item this solver computed, with tighter tolerances (from its cached state). */
    public record Refine(Task task, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /** Reconstruct validation image {@code image} at θ to accuracy ε (a pulled work item). */
    public record Validate(long workId, long round, int image, double[] theta, long version, double epsilon,
                           ActorRef<Optimizer.Command> replyTo) implements Command {
        public Validate {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Validate v && workId == v.workId && round == v.round && image == v.image
                    && Arrays.equals(theta, v.theta) && version == v.version
                    && Double.compare(epsilon, v.epsilon) == 0 && replyTo.equals(v.replyTo);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(workId);
        }
    }

    /** Write the warm-start caches to {@code file} (for checkpoint {@code checkpoint}). */
    public record SaveWarmStarts(long checkpoint, String file, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /**
     * Ask for work again (a new Sampler after a fail-over of the cluster singleton does not know this
     * solver; a request sent to the old one may have been lost).
     */
    public record Ping() implements Command {
    }

    /**
     * The Sampler that hands out this solver's work, in answer to its hello: the solver sends its next requests
     * straight to it instead of through the reference it was created with (in a cluster the singleton proxy,
     * which forwards through the singleton's coordinator: two more actor hops per request). A {@link Ping}
     * (sent by a new singleton after a fail-over) switches back to that reference.
     */
    public record WorkFrom(ActorRef<Sampler.Command> sampler) implements Command {
    }

    /** Internal (timer): if no work has come since the last request for a while, say hello again. */
    public record IdleCheck() implements Command {
    }

    /**
     * How long a solver waits without work after a request before it says hello again ({@link IdleCheck}).
     * A request can go unanswered for good: in a cluster, a Sampler that watches a solver whose node is still
     * joining at the address of a removed node (a node restarted at the same host:port) is told at once that
     * the solver stopped (Akka's tombstones), and then hands it nothing — until the solver speaks again.
     * Idle solvers of a healthy run (sync mode between batches) only cost the Sampler a no-op now and then.
     */
    public static final Duration IDLE_HELLO = Duration.ofSeconds(5);

    /** Test hook: called before every computation; may throw to simulate a failing solver. */
    @FunctionalInterface
    public interface Faults {
        Faults NONE = (solver, task) -> { };

        void beforeCompute(int solver, Task task);
    }

    /**
     * A supervised solver: restarted on failure (at most {@code maxRestarts} times per minute, then stopped).
     *
     * @param loadWarmStarts checkpoint warm-start files to load at the first start (may be empty)
     */
    public static Behavior<Command> create(int id, SolverEnvironment env, ActorRef<Sampler.Command> sampler,
                                           WarmStarts loadWarmStarts, Faults faults) {
        return create(id, id, env, sampler, loadWarmStarts, faults);
    }

    /**
     * A supervised solver that uses local slot {@code id} of {@code env} and calls itself {@code reportId}
     * towards the Sampler and Optimizer (in a cluster: an id unique over all nodes).
     */
    public static Behavior<Command> create(int id, int reportId, SolverEnvironment env, ActorRef<Sampler.Command> sampler,
                                           WarmStarts loadWarmStarts, Faults faults) {
        return create(id, reportId, env, sampler, loadWarmStarts, faults, IDLE_HELLO);
    }

    /** As above, saying hello again after {@code idleHello} without work (see {@link #IDLE_HELLO}). */
    public static Behavior<Command> create(int id, int reportId, SolverEnvironment env, ActorRef<Sampler.Command> sampler,
                                           WarmStarts loadWarmStarts, Faults faults, Duration idleHello) {
        Behavior<Command> solver = Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new Solver(ctx, id, reportId, env,
                sampler, loadWarmStarts, faults, timers, idleHello)));
        return Behaviors.supervise(solver).onFailure(Exception.class,
                SupervisorStrategy.restart().withLimit(10, Duration.ofMinutes(1)));
    }

    /**
     * Warm-start files of a checkpoint; solver i of n loads the entries of the samples and validation
     * images with index ≡ i (mod n).
     *
     * @param files   paths
     * @param digests their "sha256:…" digests (same order)
     */
    public record WarmStarts(java.util.List<String> files, java.util.List<String> digests) implements CborSerializable {
        public WarmStarts {
            files = java.util.List.copyOf(files);
            digests = java.util.List.copyOf(digests);
        }

        public static WarmStarts none() {
            return new WarmStarts(java.util.List.of(), java.util.List.of());
        }
    }

    private final int id;
    private final int reportId;
    private final SolverEnvironment env;
    /** Where the first request and those after a {@link Ping} go (in a cluster: the singleton proxy). */
    private final ActorRef<Sampler.Command> hello;
    /** Where requests go: the Sampler's own reference once it sent {@link WorkFrom}, else {@link #hello}. */
    private ActorRef<Sampler.Command> sampler;
    private final Faults faults;
    private final Regularizer family;
    private final CropPlan plan;
    private Regularizer.Instance bound;
    private long boundVersion = -1;
    private double[] boundTheta;
    /** The item being computed (-1: none), reported as lost if the computation throws. */
    private long currentWork = -1;
    private int currentSample = -1;
    private final Duration idleHello;
    /** When this solver last asked for work, and last received some ({@link System#nanoTime()}). */
    private long lastRequestNanos;
    private long lastWorkNanos;

    private Solver(ActorContext<Command> context, int id, int reportId, SolverEnvironment env,
                   ActorRef<Sampler.Command> sampler, WarmStarts warmStarts, Faults faults, TimerScheduler<Command> timers,
                   Duration idleHello) {
        super(context);
        this.idleHello = idleHello;
        this.id = id;
        this.reportId = reportId;
        this.env = env;
        this.hello = sampler;
        this.sampler = sampler;
        this.faults = faults;
        this.family = env.newRegularizer();
        this.plan = env.data().plan();
        SampleSolver solver = env.sampleSolver(id);
        if (!warmStarts.files().isEmpty() && solver.cachedSamples() == 0) {
            int n = warmStarts.files().size();
            int loaded = 0;
            for (int f = 0; f < n; f++) {
                loaded += solver.loadWarmStarts(Path.of(warmStarts.files().get(f)), mine(), mine(), warmStarts.digests().get(f));
            }
            context.getLog().debug("solver {} loaded {} warm starts", id, loaded);
        }
        sampler.tell(Sampler.RequestWork.hello(reportId, context.getSelf()));
        lastRequestNanos = System.nanoTime();
        lastWorkNanos = lastRequestNanos - 1;
        timers.startTimerWithFixedDelay("idle", new IdleCheck(), idleHello);
    }

    private IntPredicate mine() {
        int n = env.solverCount();
        return i -> Math.floorMod(i, n) == id;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Compute.class, this::onCompute)
                .onMessage(Refine.class, this::onRefine)
                .onMessage(Validate.class, this::onValidate)
                .onMessage(SaveWarmStarts.class, this::onSaveWarmStarts)
                .onMessage(Ping.class, this::onPing)
                .onMessage(WorkFrom.class, this::onWorkFrom)
                .onMessage(IdleCheck.class, this::onIdleCheck)
                .onSignal(PreRestart.class, this::onPreRestart)
                .onSignal(PostStop.class, this::onPostStop)
                .build();
    }

    private Behavior<Command> onPing(Ping m) {
        sampler = hello;
        hello.tell(Sampler.RequestWork.hello(reportId, getContext().getSelf()));
        lastRequestNanos = System.nanoTime();
        return this;
    }

    private Behavior<Command> onIdleCheck(IdleCheck m) {
        long now = System.nanoTime();
        if (lastWorkNanos - lastRequestNanos < 0 && now - lastRequestNanos >= idleHello.toNanos()) {
            sampler.tell(Sampler.RequestWork.hello(reportId, getContext().getSelf()));
            lastRequestNanos = now;
        }
        return this;
    }

    private Behavior<Command> onWorkFrom(WorkFrom m) {
        sampler = m.sampler();
        return this;
    }

    private Behavior<Command> onCompute(Compute m) {
        return computeAndAnswer(m.task(), m.replyTo());
    }

    private Behavior<Command> onRefine(Refine m) {
        // reports the refinement as answered (it does not make the solver idle while it holds a pulled item)
        return computeAndAnswer(m.task(), m.replyTo());
    }

    /** Computes {@code task}, sends the result to {@code replyTo}, then asks the Sampler for the next item. */
    private Behavior<Command> computeAndAnswer(Task task, ActorRef<Optimizer.Command> replyTo) {
        long received = System.nanoTime();
        lastWorkNanos = received;
        Optimizer.Computed c = compute(task);
        replyTo.tell(c);
        lastRequestNanos = System.nanoTime();
        sampler.tell(new Sampler.RequestWork(reportId, getContext().getSelf(), task.workId(), c.numericsNanos(), received,
                lastRequestNanos));
        return this;
    }

    private Behavior<Command> onValidate(Validate m) {
        lastWorkNanos = System.nanoTime();
        currentWork = m.workId();
        currentSample = -1;
        long t0 = System.nanoTime();
        SampleSolver.Reconstruction r = env.sampleSolver(id).reconstructValidation(bind(m.theta(), m.version()), m.image(),
                m.epsilon(), null);
        long nanos = System.nanoTime() - t0;
        currentWork = -1;
        m.replyTo().tell(new Optimizer.Validated(m.workId(), m.round(), m.image(), r.psnr(), r.iterations(), nanos, reportId));
        sampler.tell(new Sampler.RequestWork(reportId, getContext().getSelf(), m.workId(), nanos));
        lastRequestNanos = System.nanoTime();
        return this;
    }

    private Behavior<Command> onSaveWarmStarts(SaveWarmStarts m) {
        String digest = null;
        String error = null;
        try {
            digest = env.sampleSolver(id).saveWarmStarts(Path.of(m.file()));
        } catch (RuntimeException e) {
            error = String.valueOf(e.getMessage());
        }
        m.replyTo().tell(new Optimizer.WarmStartsSaved(m.checkpoint(), reportId, m.file(), digest, error));
        return this;
    }

    private Behavior<Command> onPreRestart(PreRestart signal) {
        if (currentSample >= 0) {
            env.sampleSolver(id).forget(currentSample);   // its iterates may be half-updated
        }
        closeBound();
        sampler.tell(new Sampler.SolverFailed(reportId, currentWork));
        return this;
    }

    private Behavior<Command> onPostStop(PostStop signal) {
        closeBound();
        return this;
    }

    private Optimizer.Computed compute(Task t) {
        CropPlan.Sample s = plan.sample(t.sample());
        if (s.imageId() != t.imageId() || s.row() != t.row() || s.col() != t.col() || s.noiseSeed() != t.noiseSeed()) {
            throw new IllegalStateException("work item " + t.workId() + " describes sample " + t.sample()
                    + " differently from this node's crop plan (different data or seed?)");
        }
        currentWork = t.workId();
        currentSample = t.sample();
        faults.beforeCompute(reportId, t);
        SampleSolver solver = env.sampleSolver(id);
        long t0 = System.nanoTime();   // numerics: binding θ and the hypergradient
        Hypergradient hg = solver.hypergradient(bind(t.thetaNoCopy(), t.version()), t.sample(), t.epsilon(), t.delta());
        long nanos = System.nanoTime() - t0;
        double[] z = hg.z();
        if (!UpperLevelStepper.finite(z)) {
            solver.forget(t.sample());   // do not warm-start from a diverged iterate
        }
        currentWork = -1;
        currentSample = -1;
        return new Optimizer.Computed(t.workId(), t.refinement(), t.sample(), t.step(), t.slot(), t.batchSize(),
                t.version(), t.epsilon(), t.delta(), z, hg.upperLoss(), hg.errorBound(), hg.certified(),
                hg.computations(), hg.lowerLevel().reachedIterationCap(), hg.linearSolve().reachedIterationCap(), nanos, reportId);
    }

    /** The regularizer bound at θ (re-bound only when θ changes). */
    private Regularizer.Instance bind(double[] theta, long version) {
        if (bound == null || version != boundVersion || !Arrays.equals(theta, boundTheta)) {
            closeBound();
            bound = family.bind(theta, env.dataType());
            boundVersion = version;
            boundTheta = theta.clone();
        }
        return bound;
    }

    private void closeBound() {
        if (bound != null) {
            bound.close();
            bound = null;
            boundTheta = null;
            boundVersion = -1;
        }
    }
}
