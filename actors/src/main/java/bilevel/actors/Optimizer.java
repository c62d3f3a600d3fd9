package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import bilevel.numerics.train.StepMetrics;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import bilevel.numerics.upper.Schedule;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiPredicate;

/**
 * The Optimizer owns θ, its version and the optimizer state; the transitions are those of the pure
 * {@link UpperLevelStepper} (the same class the reference trainer uses). It also decides when to
 * validate, when to checkpoint and when the run is over.
 *
 * <p><b>Sync mode</b>: issues one minibatch at a time, waits for all its hypergradients, sums them in
 * batch order and steps — the reference trainer's algorithm, hence its θ bit for bit.
 *
 * <p><b>Async mode</b>: every arriving hypergradient (or group of {@code runtime.group}) is applied at
 * once, with the staleness policy (staleness = current version − version it was computed at); too
 * stale ones are issued again. <em>Adaptive accuracy</em>: a hypergradient whose error bound exceeds
 * η‖z‖ is sent back to its solver to {@link Sampler.Refine refine} (at most {@code refine.max} times).
 *
 * <p>In both modes non-finite hypergradients are rejected (counted, logged, issued again), and each work
 * item is used at most once (deduplicated by id).
 *
 * <p><b>Replicated state (cluster).</b> Created with a {@link StateReplicator} (async mode), the Optimizer
 * makes every update durable before it counts: θ_{v+1} = stepper(θ_v, group) is computed as soon as its
 * group is complete (on top of the newest computed state), but it stays <em>pending</em> — not in
 * {@code steps}, not in the metrics, not handed to the Sampler, its items not settled — until a state at
 * or after it (with a Sampler snapshot taken after it) has been written with WriteMajority and
 * acknowledged ({@link Replicated} without error). One write is under way at a time and carries the newest
 * pending state; its acknowledgement accepts every update up to it, in order (a state contains all updates
 * before it). A failed write (timeout) is followed by a write of the newest pending state; no update is
 * dropped. So the writes' latency delays the acceptance, but not the updates themselves. The state at the
 * start is replicated the same way before any work is issued. Without a replicator (one JVM) an update is
 * accepted at once, as before.
 */
public final class Optimizer extends AbstractBehavior<Optimizer.Command> {

    /** Messages the Optimizer understands. */
    public sealed interface Command extends CborSerializable permits Computed, Validated, WorkAbandoned, SamplerState,
            WarmStartsSaved, CheckpointWritten, Finished, Shutdown, CheckpointTimeout, NoSolvers, Replicated {
    }

    /** A hypergradient of one sample (from a solver). */
    public record Computed(long workId, int refinement, int sample, long step, int slot, int batchSize, long version,
                           double epsilon, double delta, double[] z, double upperLoss, double errorBound,
                           boolean certified, long computations, boolean lowerCapped, boolean cgCapped,
                           long numericsNanos, int solverId) implements Command {
        public Computed {
            z = z.clone();
        }

        @Override
        public double[] z() {
            return z.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Computed c && workId == c.workId && refinement == c.refinement && sample == c.sample
                    && step == c.step && slot == c.slot && batchSize == c.batchSize && version == c.version
                    && Double.compare(epsilon, c.epsilon) == 0 && Double.compare(delta, c.delta) == 0
                    && Arrays.equals(z, c.z) && Double.compare(upperLoss, c.upperLoss) == 0
                    && Double.compare(errorBound, c.errorBound) == 0 && certified == c.certified
                    && computations == c.computations && lowerCapped == c.lowerCapped && cgCapped == c.cgCapped
                    && numericsNanos == c.numericsNanos && solverId == c.solverId;
        }

        @Override
        public int hashCode() {
            return Objects.hash(workId, refinement, Arrays.hashCode(z));
        }

        @Override
        public String toString() {
            return "Computed[workId=" + workId + ", refinement=" + refinement + ", sample=" + sample + ", version="
                    + version + ", bound=" + errorBound + ", solver=" + solverId + "]";
        }
    }

    /** PSNR of validation image {@code image} in validation round {@code round}. */
    public record Validated(long workId, long round, int image, double psnr, long iterations, long numericsNanos,
                            int solverId) implements Command {
    }

    /** The Sampler gave up on an item after max-attempts failures. */
    public record WorkAbandoned(long workId, int sample, long step, String reason) implements Command {
    }

    /** The Sampler's part of a checkpoint (and its counters). */
    public record SamplerState(long checkpoint, long epoch, int index, long seed, int consumed, long nextWorkId,
                               long[] pendingWorkIds, int[] pendingSamples, long reissued, long solverFailures,
                               long timeouts) implements Command {
        public SamplerState {
            pendingWorkIds = pendingWorkIds.clone();
            pendingSamples = pendingSamples.clone();
        }

        @Override
        public long[] pendingWorkIds() {
            return pendingWorkIds.clone();
        }

        @Override
        public int[] pendingSamples() {
            return pendingSamples.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof SamplerState s && checkpoint == s.checkpoint && epoch == s.epoch && index == s.index
                    && seed == s.seed && consumed == s.consumed && nextWorkId == s.nextWorkId
                    && Arrays.equals(pendingWorkIds, s.pendingWorkIds) && Arrays.equals(pendingSamples, s.pendingSamples)
                    && reissued == s.reissued && solverFailures == s.solverFailures && timeouts == s.timeouts;
        }

        @Override
        public int hashCode() {
            return Objects.hash(checkpoint, nextWorkId);
        }
    }

    /** A solver wrote its warm starts for a checkpoint ({@code error} non-null if it could not). */
    public record WarmStartsSaved(long checkpoint, int solverId, String file, String digest, String error)
            implements Command {
    }

    /** The Monitor wrote checkpoint {@code checkpoint} ({@code error} non-null if it could not). */
    public record CheckpointWritten(long checkpoint, String file, String error) implements Command {
    }

    /** The Monitor wrote the model file ({@code error} non-null if it could not). */
    public record Finished(String error) implements Command {
    }

    /** SIGTERM/Ctrl-C: finish the current step (sync), write a checkpoint, stop, and answer {@code replyTo}. */
    public record Shutdown(ActorRef<ShutdownComplete> replyTo) implements Command {
    }

    /** Answer to {@link Shutdown}. */
    public record ShutdownComplete(long steps, boolean checkpointWritten) implements CborSerializable {
    }

    /** Internal: a checkpoint did not complete in time. */
    public record CheckpointTimeout(long checkpoint) implements Command {
    }

    /** All solvers have stopped for good: the run cannot go on. */
    public record NoSolvers() implements Command {
    }

    /**
     * The state after pending update {@code sequence} was written with WriteMajority ({@code error} null)
     * or not ({@code error}: why, e.g. a timeout; the write is retried).
     */
    public record Replicated(long sequence, String error) implements Command {
    }

    /**
     * How the Optimizer starts (a plain Java object handed over at creation, never sent).
     *
     * @param spec            the run
     * @param runtime         the runtime settings
     * @param stepper         the pure upper-level state machine
     * @param done            (steps, computations) → whether the budget or step limit is reached
     * @param state           θ, optimizer state, version to start from
     * @param steps           updates applied before (resume)
     * @param computations    computations before (resume)
     * @param hypergradients  hypergradients before (resume)
     * @param seconds         wall time before (resume)
     * @param validationPsnr  last validation PSNR (NaN: none)
     * @param checkpoint      number of the last checkpoint (0: none)
     * @param resumed         whether this continues a checkpoint (no initial validation then)
     * @param validationImages number of validation images
     * @param samples         number of training samples
     * @param checkpoints     the checkpoint store
     * @param counters        counters carried over from the checkpoint
     * @param result          completed when the run ends
     */
    public record Setup(TrainingSpec spec, RuntimeSpec runtime, UpperLevelStepper stepper,
                        BiPredicate<Long, Long> done, UpperLevelStepper.State state, long steps, long computations,
                        long hypergradients, double seconds, double validationPsnr, long checkpoint, boolean resumed,
                        int validationImages, int samples, CheckpointStore checkpoints, String dataFingerprint,
                        Map<String, Long> counters, CompletableFuture<TrainingRuntime.Result> result) {
    }

    // ------------------------------------------------------------------------------------------ state

    private final Setup setup;
    private final RuntimeSpec runtime;
    private final UpperLevelStepper stepper;
    private final Schedule accuracy;
    private final Schedule cgTolerance;
    private final ActorRef<Sampler.Command> sampler;
    private final ActorRef<Monitor.Command> monitor;
    private final List<ActorRef<Solver.Command>> solvers;
    private final ActorRef<StateReplicator.Command> replicator;
    private final boolean sync;

    private UpperLevelStepper.State state;
    private long steps;
    private long computations;
    private long hypergradients;
    private long numericsNanos;
    /** Hypergradients received in this process (the ones {@link #numericsNanos} times). */
    private long timedHypergradients;
    private final long startNanos = System.nanoTime();
    private long trainingStartNanos;
    private long trainingEndNanos;
    private final double secondsBefore;

    /** Dedup: items whose result was taken (sync slot filled, async grouped or applied). */
    private final BitSet received = new BitSet();
    /** Items whose hypergradient is in θ (or dropped for good). */
    private final BitSet applied = new BitSet();
    private final Map<Long, Integer> expectedRefinement = new HashMap<>();

    // sync minibatch
    private Computed[] slots;
    private int filled;
    // async group
    private final List<Computed> group = new ArrayList<>();

    // validation
    private long validationRound;
    private double[] validationPsnrs;
    private int validationReceived;
    private Runnable afterValidation;
    private double lastPsnr;
    private Double freshPsnr;

    // checkpoint
    private long checkpointSeq;
    private boolean checkpointing;
    private SamplerState checkpointSampler;
    private UpperLevelStepper.State checkpointState;
    private long checkpointSteps;
    private final Map<Integer, WarmStartsSaved> checkpointWarmStarts = new LinkedHashMap<>();
    private final List<Integer> checkpointOwed = new ArrayList<>();
    private Runnable afterCheckpoint;
    private boolean lastCheckpointOk;

    // accepting updates (replicated before they count)
    /** Updates computed but not yet accepted, oldest first (each on top of the one before). */
    private final java.util.ArrayDeque<Pending> pending = new java.util.ArrayDeque<>();
    private long acceptSeq;
    /** The pending update whose state is being written (0: no write under way). */
    private long writing;
    /** Its content (null while the Sampler's snapshot for it is awaited). */
    private Checkpoint writingContent;
    /** The newest computed update reaches the budget or step limit: it is the run's last. */
    private boolean budgetReached;
    /** No update is computed any more (the budget is reached, or a stop was requested). */
    private boolean proposalsClosed;

    /**
     * An update waiting for its replication.
     *
     * @param sequence number of the update in this Optimizer's life
     * @param state    θ, optimizer state and version after it
     * @param steps    accepted updates after it
     * @param members  the hypergradients in it (settled when it is accepted)
     * @param then     what follows its acceptance
     */
    private record Pending(long sequence, UpperLevelStepper.State state, long steps, List<Computed> members,
                           Runnable then) {
    }

    // ending
    private boolean finishing;
    private boolean ended;
    private boolean stopRequested;
    private ActorRef<ShutdownComplete> shutdownReplyTo;
    private String failure;

    // counters
    private final Map<String, Long> counters = new LinkedHashMap<>();
    private final int[] appliedPerSample;
    private SamplerState lastSamplerState;
    private double stalenessSum;
    private long stalenessCount;

    public static Behavior<Command> create(Setup setup, ActorRef<Sampler.Command> sampler,
                                           ActorRef<Monitor.Command> monitor, List<ActorRef<Solver.Command>> solvers) {
        return create(setup, sampler, monitor, solvers, null);
    }

    /**
     * An Optimizer whose updates count only once {@code replicator} has written them with WriteMajority
     * (async mode; null: accepted at once).
     */
    public static Behavior<Command> create(Setup setup, ActorRef<Sampler.Command> sampler,
                                           ActorRef<Monitor.Command> monitor, List<ActorRef<Solver.Command>> solvers,
                                           ActorRef<StateReplicator.Command> replicator) {
        if (replicator != null && setup.runtime().mode() == RuntimeSpec.Mode.SYNC) {
            throw new IllegalArgumentException("replicated optimizer state is implemented for async mode");
        }
        return Behaviors.setup(ctx -> new Optimizer(ctx, setup, sampler, monitor, solvers, replicator));
    }

    private Optimizer(ActorContext<Command> context, Setup setup, ActorRef<Sampler.Command> sampler,
                      ActorRef<Monitor.Command> monitor, List<ActorRef<Solver.Command>> solvers,
                      ActorRef<StateReplicator.Command> replicator) {
        super(context);
        this.replicator = replicator;
        this.setup = setup;
        this.runtime = setup.runtime();
        this.stepper = setup.stepper();
        this.accuracy = Schedule.parse(setup.spec().train().accuracy());
        this.cgTolerance = Schedule.parseTied(setup.spec().train().cgTolerance(), accuracy);
        this.sampler = sampler;
        this.monitor = monitor;
        this.solvers = List.copyOf(solvers);
        this.sync = runtime.mode() == RuntimeSpec.Mode.SYNC;
        this.state = setup.state();
        this.steps = setup.steps();
        this.computations = setup.computations();
        this.hypergradients = setup.hypergradients();
        this.secondsBefore = setup.seconds();
        this.lastPsnr = setup.validationPsnr();
        this.checkpointSeq = setup.checkpoint();
        this.appliedPerSample = new int[setup.samples()];
        for (String c : List.of("nonFinite", "stale", "duplicates", "refinements", "abandoned")) {
            counters.put(c, setup.counters().getOrDefault(c, 0L));
        }
        monitor.tell(new Monitor.Started(steps, computations, secondsBefore, setup.resumed(), runtime.solvers(),
                runtime.mode().toString()));
        Runnable start = () -> {
            if (!setup.resumed() && runtime.validation()) {
                // as the reference trainer: validate θ0 first (this also warms the validation caches)
                validate(this::beginTraining);
            } else {
                beginTraining();
            }
        };
        if (replicator != null) {
            // the starting state is replicated first: from now on a successor finds this run's state
            accept(state, steps, List.of(), start);
        } else {
            start.run();
        }
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Computed.class, this::onComputed)
                .onMessage(Validated.class, this::onValidated)
                .onMessage(WorkAbandoned.class, this::onWorkAbandoned)
                .onMessage(SamplerState.class, this::onSamplerState)
                .onMessage(WarmStartsSaved.class, this::onWarmStartsSaved)
                .onMessage(CheckpointWritten.class, this::onCheckpointWritten)
                .onMessage(CheckpointTimeout.class, this::onCheckpointTimeout)
                .onMessage(Finished.class, this::onFinished)
                .onMessage(Shutdown.class, this::onShutdown)
                .onMessage(NoSolvers.class, this::onNoSolvers)
                .onMessage(Replicated.class, this::onReplicated)
                .build();
    }

    // ------------------------------------------------------------------------------------------ flow

    private double seconds() {
        return secondsBefore + (System.nanoTime() - startNanos) * 1e-9;
    }

    private boolean done() {
        return setup.done().test(steps, computations);
    }

    private void beginTraining() {
        trainingStartNanos = System.nanoTime();
        if (done() || stopRequested) {
            end();
        } else if (sync) {
            issueBatch();
        } else {
            sampler.tell(new Sampler.UpdateTheta(state.k(), state.theta(), state.version(), accuracy.at(state.k()),
                    cgTolerance.at(state.k()), getContext().getSelf()));
        }
    }

    private void issueBatch() {
        slots = null;
        filled = 0;
        long k = state.k();
        sampler.tell(new Sampler.IssueBatch(k, state.theta(), state.version(), accuracy.at(k), cgTolerance.at(k),
                getContext().getSelf()));
    }

    private Behavior<Command> onComputed(Computed m) {
        long id = m.workId();
        if (id > Integer.MAX_VALUE) {
            throw new IllegalStateException("work id overflow");
        }
        if (finishing) {
            return this;   // the run is over: results still in flight are not used (nor counted)
        }
        numericsNanos += m.numericsNanos();
        computations += m.computations();
        hypergradients++;
        timedHypergradients++;
        if (received.get((int) id) || m.refinement() < expectedRefinement.getOrDefault(id, 0)) {
            count("duplicates");
            return this;
        }
        double[] z = m.z();
        if (!UpperLevelStepper.finite(z)) {
            count("nonFinite");
            getContext().getLog().warn("non-finite hypergradient of sample {} (step {}, solver {}): rejected, issuing it again",
                    m.sample(), m.step(), m.solverId());
            expectedRefinement.remove(id);
            sampler.tell(new Sampler.Reissue(id, true, "non-finite hypergradients (the lower level diverged?); "
                    + "try a smaller step size"));
            return this;
        }
        if (sync) {
            onSyncResult(m);
        } else {
            onAsyncResult(m, z);
        }
        return this;
    }

    private void onSyncResult(Computed m) {
        if (m.step() != state.k() || slots != null && slots[m.slot()] != null) {
            count("duplicates");
            return;
        }
        if (slots == null) {
            slots = new Computed[m.batchSize()];
        }
        slots[m.slot()] = m;
        received.set((int) m.workId());
        filled++;
        if (filled == slots.length) {
            applyBatch();
        }
    }

    /** The minibatch is complete: the mean in batch order, then the step (exactly as the reference trainer). */
    private void applyBatch() {
        int n = slots.length;
        double[] z = new double[state.theta().length];
        double loss = 0;
        double bound = 0;
        boolean certified = true;
        int lowerCaps = 0;
        int cgCaps = 0;
        for (Computed r : slots) {
            loss += r.upperLoss() / n;
            bound += r.errorBound() / n;
            certified &= r.certified();
            lowerCaps += r.lowerCapped() ? 1 : 0;
            cgCaps += r.cgCapped() ? 1 : 0;
            UpperLevelStepper.addMean(z, r.z(), n);
        }
        long k = state.k();
        double alpha = stepper.stepSize(state);
        state = stepper.apply(state, z, state.version()).state();
        for (Computed r : slots) {
            appliedPerSample[r.sample()]++;
            applied.set((int) r.workId());
            sampler.tell(new Sampler.Settled(r.workId()));
        }
        Computed first = slots[0];
        slots = null;
        steps++;
        StepMetrics line = new StepMetrics(k, computations, 0, loss, first.epsilon(), first.delta(), alpha,
                UpperLevelStepper.norm(z), bound, certified, true, null, lowerCaps, cgCaps, 0.0, 1.0);
        afterSyncStep(line);
    }

    private void afterSyncStep(StepMetrics line) {
        boolean last = done();
        if (last || stopRequested) {
            trainingEndNanos = System.nanoTime();
        }
        boolean validateNow = runtime.validation() && !stopRequested
                && ((setup.spec().train().validateEvery() > 0 && steps % setup.spec().train().validateEvery() == 0) || last);
        Runnable next = () -> {
            boolean checkpointNow = last || stopRequested
                    || (runtime.checkpointEvery() > 0 && steps % runtime.checkpointEvery() == 0);
            if (checkpointNow) {
                checkpoint(() -> {
                    if (last || stopRequested) {
                        end();
                    } else {
                        issueBatch();
                    }
                });
            } else {
                issueBatch();
            }
        };
        if (validateNow) {
            validate(() -> {
                emit(line, lastPsnr);
                next.run();
            });
        } else {
            emit(line, null);
            next.run();
        }
    }

    private void onAsyncResult(Computed m, double[] z) {
        long id = m.workId();
        if (runtime.refineEta() > 0 && m.refinement() < runtime.maxRefinements()
                && m.errorBound() > runtime.refineEta() * UpperLevelStepper.norm(z)) {
            count("refinements");
            expectedRefinement.put(id, m.refinement() + 1);
            sampler.tell(new Sampler.Refine(id, m.epsilon() * runtime.refineFactor(), m.delta() * runtime.refineFactor()));
            return;
        }
        expectedRefinement.remove(id);
        long s = state.version() - m.version();
        if (stepper.staleness().weight(s) == 0) {
            count("stale");
            sampler.tell(new Sampler.Reissue(id, false, "too stale"));
            return;
        }
        received.set((int) id);
        group.add(m);
        if (group.size() >= runtime.group() && !proposalsClosed) {
            applyGroup();
        }
    }

    /** The newest state: the last pending update's, or the accepted one. */
    private UpperLevelStepper.State head() {
        return pending.isEmpty() ? state : pending.peekLast().state();
    }

    /** Updates after the newest state. */
    private long headSteps() {
        return pending.isEmpty() ? steps : pending.peekLast().steps();
    }

    /**
     * Async: the group's mean (arrival order), weighted by the mean staleness weight of its members, applied
     * to the newest state (staleness is counted against it).
     */
    private void applyGroup() {
        int n = runtime.group();
        List<Computed> members = new ArrayList<>(group.subList(0, n));
        group.subList(0, n).clear();
        UpperLevelStepper.State base = head();
        double[] z = new double[base.theta().length];
        long[] staleness = new long[n];
        double loss = 0, bound = 0, eps = 0, del = 0, meanStaleness = 0;
        boolean certified = true;
        int lowerCaps = 0, cgCaps = 0;
        for (int i = 0; i < n; i++) {
            Computed r = members.get(i);
            staleness[i] = base.version() - r.version();
            loss += r.upperLoss() / n;
            bound += r.errorBound() / n;
            eps += r.epsilon() / n;
            del += r.delta() / n;
            meanStaleness += (double) staleness[i] / n;
            certified &= r.certified();
            lowerCaps += r.lowerCapped() ? 1 : 0;
            cgCaps += r.cgCapped() ? 1 : 0;
            UpperLevelStepper.addMean(z, r.z(), n);
        }
        double weight = stepper.groupWeight(staleness);
        long k = base.k();
        double alpha = stepper.stepSize(base);
        if (weight == 0) {   // every member went stale while the group filled
            for (Computed r : members) {
                received.clear((int) r.workId());
                count("stale");
                sampler.tell(new Sampler.Reissue(r.workId(), false, "too stale"));
            }
            return;
        }
        UpperLevelStepper.Outcome o = stepper.applyWeighted(base, z, Math.round(meanStaleness), weight);
        StepMetrics line = new StepMetrics(k, computations, 0, loss, eps, del, alpha, UpperLevelStepper.norm(z), bound,
                certified, true, null, lowerCaps, cgCaps, meanStaleness, weight);
        double mean = meanStaleness;
        long next = headSteps() + 1;
        if (setup.done().test(next, computations)) {
            budgetReached = true;   // the last update of the run
            proposalsClosed = true;
        }
        accept(o.state(), next, members, () -> {
            stalenessSum += mean;
            stalenessCount++;
            afterAsyncStep(line);
        });
    }

    /** Async: an update has been accepted (and, in a cluster, replicated). */
    private void afterAsyncStep(StepMetrics line) {
        boolean last = budgetReached && pending.isEmpty();
        if (last || stopRequested && pending.isEmpty()) {
            trainingEndNanos = System.nanoTime();
            sampler.tell(new Sampler.StopIssuing());
            finishing = true;
            Runnable end = () -> checkpoint(this::end);
            if (last && runtime.validation()) {
                validate(() -> {
                    emit(line, lastPsnr);
                    end.run();
                });
            } else {
                emit(line, null);
                end.run();
            }
            return;
        }
        if (!stopRequested) {
            sampler.tell(new Sampler.UpdateTheta(state.k(), state.theta(), state.version(), accuracy.at(state.k()),
                    cgTolerance.at(state.k()), getContext().getSelf()));
        }
        Double psnr = freshPsnr;
        freshPsnr = null;
        emit(line, psnr);
        int every = setup.spec().train().validateEvery();
        if (runtime.validation() && every > 0 && steps % every == 0 && afterValidation == null) {
            validate(() -> freshPsnr = lastPsnr);
        }
        if (runtime.checkpointEvery() > 0 && steps % runtime.checkpointEvery() == 0 && !checkpointing) {
            checkpoint(() -> { });
        }
    }

    // ------------------------------------------------------------------------------------------ accepting

    /**
     * Makes {@code next} (after which {@code nextSteps} updates are accepted, made of {@code members}) the
     * state: at once without a replicator; otherwise once a write of it (or of a later state) is
     * acknowledged. Then runs {@code then}.
     */
    private void accept(UpperLevelStepper.State next, long nextSteps, List<Computed> members, Runnable then) {
        Pending p = new Pending(++acceptSeq, next, nextSteps, List.copyOf(members), then);
        pending.addLast(p);
        if (replicator == null) {
            commitUpTo(p.sequence());
        } else if (writing == 0) {
            writeNewest();
        }
    }

    /** Writes the newest pending state: asks the Sampler for its snapshot first (the content is built then). */
    private void writeNewest() {
        writing = pending.peekLast().sequence();
        writingContent = null;
        sampler.tell(new Sampler.Snapshot(-writing, getContext().getSelf()));
    }

    /** The Sampler's snapshot for the state being written: build it, without the items in it, and write. */
    private void onReplicationSnapshot(SamplerState m) {
        if (writing == 0 || -m.checkpoint() != writing || writingContent != null) {
            return;
        }
        lastSamplerState = m;
        java.util.Set<Long> inState = new java.util.HashSet<>();
        Pending written = null;
        for (Pending p : pending) {
            if (p.sequence() <= writing) {
                written = p;
                for (Computed r : p.members()) {
                    inState.add(r.workId());
                }
            }
        }
        List<Integer> owed = new ArrayList<>();
        long[] ids = m.pendingWorkIds();
        int[] samples = m.pendingSamples();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || !applied.get((int) ids[i]) && !inState.contains(ids[i])) {
                owed.add(samples[i]);
            }
        }
        writingContent = checkpointOf(checkpointSeq, written.state(), written.steps(), m, owed, List.of());
        replicator.tell(new StateReplicator.Write(writing, writingContent, getContext().getSelf()));
    }

    private Behavior<Command> onReplicated(Replicated m) {
        if (writing == 0 || m.sequence() != writing || writingContent == null) {
            return this;
        }
        writing = 0;
        if (m.error() != null) {
            // not acknowledged by a majority (yet): the updates stay pending; the newest state is written
            count("replicationRetries");
            getContext().getLog().warn("the state after step {} was not acknowledged by a majority: {}; writing again",
                    writingContent.steps(), m.error());
            if (pending.peekLast().sequence() == m.sequence()) {
                writing = m.sequence();
                replicator.tell(new StateReplicator.Write(writing, writingContent, getContext().getSelf()));
            } else {
                writeNewest();
            }
            return this;
        }
        commitUpTo(m.sequence());
        if (writing == 0 && !pending.isEmpty()) {
            writeNewest();
        }
        return this;
    }

    /**
     * Accepts the pending updates up to {@code sequence}, oldest first: θ, steps, settled items; then what
     * follows each. Then applies the next complete group (one JVM: results that arrived meanwhile).
     */
    private void commitUpTo(long sequence) {
        while (!pending.isEmpty() && pending.peekFirst().sequence() <= sequence) {
            Pending p = pending.pollFirst();
            state = p.state();
            steps = p.steps();
            for (Computed r : p.members()) {
                appliedPerSample[r.sample()]++;
                applied.set((int) r.workId());
                sampler.tell(new Sampler.Settled(r.workId()));
            }
            p.then().run();
        }
    }

    private void emit(StepMetrics m, Double psnr) {
        StepMetrics line = new StepMetrics(m.step(), computations, seconds(), m.batchLoss(), m.epsilon(), m.delta(),
                m.alpha(), m.zNorm(), m.errorBound(), m.certified(), m.accepted(), psnr, m.lowerIterationCapHits(),
                m.cgIterationCapHits(), m.staleness(), m.weight());
        monitor.tell(new Monitor.Step(line, hypergradients));
    }

    private Behavior<Command> onWorkAbandoned(WorkAbandoned m) {
        count("abandoned");
        if (sync) {
            fail("sample " + m.sample() + " of step " + m.step() + " failed " + runtime.maxAttempts() + " times: "
                    + m.reason());
        } else {
            applied.set((int) m.workId());
            received.set((int) m.workId());
        }
        return this;
    }

    private Behavior<Command> onNoSolvers(NoSolvers m) {
        fail("every solver has stopped (see the log above)");
        return this;
    }

    // ------------------------------------------------------------------------------------------ validation

    private void validate(Runnable then) {
        int images = setup.validationImages();
        if (images == 0) {
            lastPsnr = Double.NaN;
            then.run();
            return;
        }
        validationRound++;
        validationPsnrs = new double[images];
        Arrays.fill(validationPsnrs, Double.NaN);
        validationReceived = 0;
        afterValidation = then;
        sampler.tell(new Sampler.IssueValidation(validationRound, state.theta(), state.version(),
                setup.spec().train().validationAccuracy(), images, getContext().getSelf()));
    }

    private Behavior<Command> onValidated(Validated m) {
        sampler.tell(new Sampler.Settled(m.workId()));
        if (m.round() != validationRound || afterValidation == null || !Double.isNaN(validationPsnrs[m.image()])) {
            return this;
        }
        validationPsnrs[m.image()] = m.psnr();
        validationReceived++;
        if (validationReceived == validationPsnrs.length) {
            double sum = 0;
            for (double p : validationPsnrs) {   // image order, as the reference trainer
                sum += p;
            }
            lastPsnr = sum / validationPsnrs.length;
            Runnable then = afterValidation;
            afterValidation = null;
            then.run();
        }
        return this;
    }

    // ------------------------------------------------------------------------------------------ checkpoints

    private void checkpoint(Runnable then) {
        if (checkpointing) {
            Runnable previous = afterCheckpoint;
            afterCheckpoint = () -> {
                previous.run();
                checkpoint(then);
            };
            return;
        }
        checkpointing = true;
        afterCheckpoint = then;
        checkpointSeq++;
        checkpointSampler = null;
        checkpointState = null;
        checkpointWarmStarts.clear();
        sampler.tell(new Sampler.Snapshot(checkpointSeq, getContext().getSelf()));
        for (int i = 0; i < solvers.size(); i++) {
            solvers.get(i).tell(new Solver.SaveWarmStarts(checkpointSeq,
                    setup.checkpoints().warmStartFile(checkpointSeq, i).toString(), getContext().getSelf()));
        }
        Duration timeout = runtime.workTimeout().plus(Duration.ofMinutes(1));
        getContext().scheduleOnce(timeout, getContext().getSelf(), new CheckpointTimeout(checkpointSeq));
    }

    private Behavior<Command> onSamplerState(SamplerState m) {
        if (m.checkpoint() < 0) {
            onReplicationSnapshot(m);
            return this;
        }
        if (!checkpointing || m.checkpoint() != checkpointSeq) {
            return this;
        }
        // θ as of the sampler's snapshot: every unsettled item not yet in θ stays pending (decided now: items
        // applied while the solvers write their warm starts are in θ of a later state, not of this one)
        checkpointSampler = m;
        lastSamplerState = m;
        checkpointState = state;
        checkpointSteps = steps;
        checkpointOwed.clear();
        long[] ids = m.pendingWorkIds();
        int[] samples = m.pendingSamples();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || !applied.get((int) ids[i])) {
                checkpointOwed.add(samples[i]);
            }
        }
        maybeWriteCheckpoint();
        return this;
    }

    private Behavior<Command> onWarmStartsSaved(WarmStartsSaved m) {
        if (!checkpointing || m.checkpoint() != checkpointSeq) {
            return this;
        }
        if (m.error() != null) {
            getContext().getLog().warn("solver {} could not write its warm starts: {}", m.solverId(), m.error());
        }
        checkpointWarmStarts.put(m.solverId(), m);
        maybeWriteCheckpoint();
        return this;
    }

    private void maybeWriteCheckpoint() {
        if (checkpointSampler == null || checkpointWarmStarts.size() < solvers.size()) {
            return;
        }
        List<Checkpoint.WarmStartFile> files = new ArrayList<>();
        for (WarmStartsSaved w : checkpointWarmStarts.values()) {
            if (w.error() == null) {
                files.add(new Checkpoint.WarmStartFile(Path.of(w.file()).getFileName().toString(), w.digest()));
            }
        }
        Checkpoint checkpoint = checkpointOf(checkpointSeq, checkpointState, checkpointSteps, checkpointSampler,
                checkpointOwed, files);
        monitor.tell(new Monitor.WriteCheckpoint(checkpoint, getContext().getSelf()));
    }

    /** The checkpoint record of {@code st} after {@code atSteps} updates, with the sampler's part {@code s}. */
    private Checkpoint checkpointOf(long sequence, UpperLevelStepper.State st, long atSteps, SamplerState s,
                                    List<Integer> owed, List<Checkpoint.WarmStartFile> files) {
        Object[] opt = Checkpoint.optimizerFields(st.optimizer());
        Map<String, Long> c = new LinkedHashMap<>(counters);
        c.put("reissued", s.reissued());
        c.put("solverFailures", s.solverFailures());
        c.put("timeouts", s.timeouts());
        return new Checkpoint(Checkpoint.FORMAT, Checkpoint.FORMAT_VERSION, sequence,
                runtime.mode().toString(), runtime.solvers(), setup.dataFingerprint(), atSteps,
                st.version(), st.theta(), (String) opt[0], (long) opt[1], (double[]) opt[2],
                (double[]) opt[3], s.epoch(), s.index(), s.seed(), s.consumed(), s.nextWorkId(),
                owed.stream().mapToInt(Integer::intValue).toArray(), computations, hypergradients, seconds(),
                Double.isNaN(lastPsnr) ? null : lastPsnr, files, c);
    }

    private Behavior<Command> onCheckpointWritten(CheckpointWritten m) {
        if (checkpointing && m.checkpoint() == checkpointSeq) {
            lastCheckpointOk = m.error() == null;
            if (m.error() != null) {
                getContext().getLog().warn("checkpoint {} could not be written: {}", m.checkpoint(), m.error());
            }
            completeCheckpoint();
        }
        return this;
    }

    private Behavior<Command> onCheckpointTimeout(CheckpointTimeout m) {
        if (checkpointing && m.checkpoint() == checkpointSeq) {
            getContext().getLog().warn("checkpoint {} did not complete in time; continuing without it", m.checkpoint());
            lastCheckpointOk = false;
            completeCheckpoint();
        }
        return this;
    }

    private void completeCheckpoint() {
        checkpointing = false;
        Runnable then = afterCheckpoint;
        afterCheckpoint = null;
        then.run();
    }

    // ------------------------------------------------------------------------------------------ ending

    private Behavior<Command> onShutdown(Shutdown m) {
        if (ended || failure != null) {
            m.replyTo().tell(new ShutdownComplete(steps, lastCheckpointOk));
            return this;
        }
        shutdownReplyTo = m.replyTo();
        if (stopRequested) {
            return this;
        }
        stopRequested = true;
        proposalsClosed = true;
        if (!sync && pending.isEmpty()) {
            sampler.tell(new Sampler.StopIssuing());
            finishing = true;
            checkpoint(this::end);
        }
        // async with updates being replicated: once the last is accepted, afterAsyncStep (or beginTraining)
        // sees stopRequested and stops
        // sync: the current step completes first (afterSyncStep sees stopRequested); between steps
        // (validation or checkpoint under way) the pending continuation does the same
        return this;
    }

    /** The run is over (finished, or stopped by a signal): write the model (when finished) and report. */
    private void end() {
        if (ended) {
            return;
        }
        ended = true;
        finishing = true;
        if (stopRequested) {
            if (shutdownReplyTo != null) {
                shutdownReplyTo.tell(new ShutdownComplete(steps, lastCheckpointOk));
            }
            complete(true);
            return;
        }
        monitor.tell(new Monitor.Finish(state.theta(), steps, computations, seconds(),
                Double.isNaN(lastPsnr) ? null : lastPsnr, timedHypergradients == 0 ? 0 : numericsNanos * 1e-9 / timedHypergradients,
                hypergradients, runtime.mode().toString(), runtime.solvers(), getContext().getSelf()));
    }

    private Behavior<Command> onFinished(Finished m) {
        if (m.error() != null) {
            fail("cannot write the model: " + m.error());
        } else {
            complete(false);
        }
        return this;
    }

    private void complete(boolean interrupted) {
        long end = trainingEndNanos != 0 ? trainingEndNanos : System.nanoTime();
        double trainingSeconds = trainingStartNanos == 0 ? 0 : (end - trainingStartNanos) * 1e-9;
        setup.result().complete(new TrainingRuntime.Result(state.theta(), steps, computations, seconds(), trainingSeconds,
                lastPsnr, hypergradients, numericsNanos * 1e-9, counters.get("nonFinite"), counters.get("stale"),
                counters.get("duplicates"), counters.get("refinements"), counters.get("abandoned"),
                stalenessCount == 0 ? 0 : stalenessSum / stalenessCount, interrupted, runtime.solvers(),
                runtime.mode().toString(), checkpointSeq,
                lastSamplerState == null ? 0 : lastSamplerState.reissued(),
                lastSamplerState == null ? 0 : lastSamplerState.solverFailures(),
                lastSamplerState == null ? 0 : lastSamplerState.timeouts(), appliedPerSample, timedHypergradients));
    }

    private void fail(String message) {
        if (failure == null) {
            failure = message;
            finishing = true;
            sampler.tell(new Sampler.StopIssuing());
            setup.result().completeExceptionally(new bilevel.numerics.train.TrainingException(message));
        }
    }

    private void count(String counter) {
        counters.merge(counter, 1L, Long::sum);
    }
}
