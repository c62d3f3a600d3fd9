package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import bilevel.numerics.data.CropPlan;
import bilevel.numerics.data.MinibatchSampler;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The Sampler draws the minibatches (epoch order, seeded: {@link MinibatchSampler}) and hands the work
 * items to solvers that ask for work (work pulling: a solver asks when it starts and whenever it has
 * answered an item, so no solver is flooded and a slow one simply gets fewer items). A solver holds up
 * to {@code runtime.prefetch} unanswered items, so that the next one is already in its mailbox when it
 * finishes one (the request round trip is not on the critical path). It is the owner of every work item until the
 * Optimizer reports it {@link Settled}: an item whose solver failed ({@link SolverFailed}), stopped
 * (watched) or did not answer within the work timeout is issued again, so no sample is lost; the
 * Optimizer ignores the second answer of an item (items have ids), so none is counted twice.
 *
 * <p><b>Sync mode.</b> {@link IssueBatch} draws one minibatch at θ; sample i goes to solver i mod n
 * (its <em>home</em>, whose cache holds the sample's previous solution exactly as the reference
 * trainer's single cache), validation image i likewise. An item re-issued after a failure goes back
 * to its home solver once it has restarted; after a timeout, or when its home is gone, to any solver.
 *
 * <p><b>Async mode.</b> Items are drawn lazily when a solver asks, at the newest θ
 * ({@link UpdateTheta}), batch by batch in epoch order; within a batch a solver preferably gets the
 * samples whose warm starts it holds (i mod n), and steals the others when it has none left. Validation
 * items go first in both modes.
 *
 * <p><b>Solver incarnations.</b> A solver is known by its id and its actor reference. A request under a
 * known id from another reference is a new incarnation (in a cluster: a node restarted at the same
 * host:port, whose solver ids derive from the address): the old one counts as stopped (its unanswered items
 * are issued again, its later stop notice is ignored) and the new one is watched. A solver reported stopped
 * that asks for work is alive and watched again — Akka ends a watch at once while the watched node is still
 * joining at a removed node's address — and solvers repeat their hello when they have had no work for a
 * while ({@link Solver#IDLE_HELLO}), so such a solver is never left without work.
 *
 * <p><b>Waiting for solvers.</b> With {@link Start#minSolvers()} = N &gt; 1 nothing is handed out until N
 * distinct solvers (alive) have asked for work, so that in a cluster every node that is expected takes
 * part from the first item on (solvers of other JVMs register later than the local ones).
 *
 * <p><b>Snapshots.</b> {@link Snapshot} reports the position and the unsettled items; its number is a
 * checkpoint number (&gt; 0) or, negated, the number of an update the Optimizer replicates.
 */
public final class Sampler extends AbstractBehavior<Sampler.Command> {

    /** Messages the Sampler understands. */
    public sealed interface Command extends CborSerializable permits RequestWork, IssueBatch, UpdateTheta,
            IssueValidation, Settled, Reissue, Refine, SolverFailed, Snapshot, StopIssuing, Tick, SolverStopped {
    }

    /**
     * A solver is free: after its start ({@code finished} = −1) or after the pulled item {@code finished},
     * whose computation took {@code solveNanos} on the solver (−1: unknown).
     */
    public record RequestWork(int solverId, ActorRef<Solver.Command> solver, long finished, long solveNanos,
                              long receivedNanos, long repliedNanos, boolean wantsDirect) implements Command {
        /** A request without a solve time (a solver's first request, or one after a ping). */
        public RequestWork(int solverId, ActorRef<Solver.Command> solver, long finished) {
            this(solverId, solver, finished, -1);
        }

        /** A request without the solver's timestamps. */
        public RequestWork(int solverId, ActorRef<Solver.Command> solver, long finished, long solveNanos) {
            this(solverId, solver, finished, solveNanos, -1, -1);
        }

        /** A request that does not ask for the Sampler's own address. */
        public RequestWork(int solverId, ActorRef<Solver.Command> solver, long finished, long solveNanos,
                           long receivedNanos, long repliedNanos) {
            this(solverId, solver, finished, solveNanos, receivedNanos, repliedNanos, false);
        }

        /**
         * A solver's hello (its first request, or one after a {@link Solver.Ping}) that asks the Sampler to answer
         * with {@link Solver.WorkFrom} — in a cluster it arrives through the singleton proxy, and later requests
         * can then skip the proxy's two hops.
         */
        public static RequestWork hello(int solverId, ActorRef<Solver.Command> solver) {
            return new RequestWork(solverId, solver, -1, -1, -1, -1, true);
        }
    }

    /**
     * One answered work item, as seen by {@link Trace}: item {@code workId} was handed to solver
     * {@code solverId} (its report id) at
     * {@code handedOutNanos} and its answer reached the coordinator at {@code answeredNanos} — the first of:
     * the Optimizer settling the item (it has received the result), or the solver's next request naming it
     * (sent right after the result); {@code solveNanos} is the solver's own time for the computation.
     * {@code receivedNanos} and {@code repliedNanos} are the solver's clock when its actor started handling
     * the item and when it had sent the result and was about to send its next request (−1: unknown).
     * All are {@link System#nanoTime()} values; the solver's are comparable with the coordinator's only
     * when both JVMs run on the same host (Linux: {@code CLOCK_MONOTONIC} is shared by all processes).
     * So {@code answered − handedOut − solve} is what messaging added to the item (plus, with
     * {@code prefetch > 1}, the time it waited behind the solver's previous item), split into outbound
     * ({@code received − handedOut}), on the solver around the solve ({@code replied − received − solve})
     * and inbound ({@code answered − replied}).
     */
    public record Answer(long workId, int solverId, long handedOutNanos, long receivedNanos, long repliedNanos,
                         long answeredNanos, long solveNanos) {
    }

    /**
     * An in-process observer of the work items (for {@code bench cluster}; not a message), called once per
     * answered item with its {@link Answer}. Called on the Sampler's thread; must be quick and thread-safe.
     */
    @FunctionalInterface
    public interface Trace {
        Trace NONE = answer -> { };

        void answered(Answer answer);
    }

    /** Sync: draw the next minibatch and compute it at θ (version) with tolerances (ε, δ) of step k. */
    public record IssueBatch(long step, double[] theta, long version, double epsilon, double delta,
                             ActorRef<Optimizer.Command> replyTo) implements Command {
        public IssueBatch {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IssueBatch b && step == b.step && Arrays.equals(theta, b.theta) && version == b.version
                    && Double.compare(epsilon, b.epsilon) == 0 && Double.compare(delta, b.delta) == 0
                    && replyTo.equals(b.replyTo);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(version);
        }
    }

    /** Async: the newest θ (and step k's tolerances) for items drawn from now on; starts issuing. */
    public record UpdateTheta(long step, double[] theta, long version, double epsilon, double delta,
                              ActorRef<Optimizer.Command> replyTo) implements Command {
        public UpdateTheta {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof UpdateTheta b && step == b.step && Arrays.equals(theta, b.theta) && version == b.version
                    && Double.compare(epsilon, b.epsilon) == 0 && Double.compare(delta, b.delta) == 0
                    && replyTo.equals(b.replyTo);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(version);
        }
    }

    /** Reconstruct the {@code images} validation images at θ to accuracy ε (validation round {@code round}). */
    public record IssueValidation(long round, double[] theta, long version, double epsilon, int images,
                                  ActorRef<Optimizer.Command> replyTo) implements Command {
        public IssueValidation {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof IssueValidation b && round == b.round && Arrays.equals(theta, b.theta)
                    && version == b.version && Double.compare(epsilon, b.epsilon) == 0 && images == b.images
                    && replyTo.equals(b.replyTo);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(round);
        }
    }

    /** The Optimizer has used (or deliberately dropped) item {@code workId}: forget it. */
    public record Settled(long workId) implements Command {
    }

    /**
     * Issue item {@code workId} again (at the newest θ): after a non-finite result ({@code failure}, counts
     * towards max-attempts) or a too stale one.
     */
    public record Reissue(long workId, boolean failure, String reason) implements Command {
    }

    /** Continue item {@code workId} on the solver that computed it, with tolerances (ε, δ). */
    public record Refine(long workId, double epsilon, double delta) implements Command {
    }

    /** A solver failed while computing item {@code workId} (−1: none) and is restarting. */
    public record SolverFailed(int solverId, long workId) implements Command {
    }

    /**
     * Report the position and the unsettled items to {@code replyTo} (for checkpoint {@code checkpoint} &gt; 0,
     * or for the replication of update number −{@code checkpoint}).
     */
    public record Snapshot(long checkpoint, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /** The run is over: hand out no more training items (they stay recorded for a last snapshot). */
    public record StopIssuing() implements Command {
    }

    /** Internal: periodic check of the work deadlines. */
    public record Tick() implements Command {
    }

    /**
     * Internal: the watched solver {@code solver} (the incarnation known under {@code solverId} when it was
     * watched) has stopped for good.
     */
    public record SolverStopped(int solverId, ActorRef<Solver.Command> solver) implements Command {
    }

    /**
     * Where the sampler starts.
     *
     * @param position       position of the current (or next) batch
     * @param consumed       async: samples of the batch at {@code position} already handed out
     * @param nextWorkId     first work-item id to use
     * @param pendingSamples samples owed from a checkpoint, issued before new ones (async)
     * @param minSolvers     hand out no work item (training or validation) until this many distinct solvers
     *                       have asked for work (0 or 1: no waiting); a cluster's {@code --min-solvers}
     */
    public record Start(MinibatchSampler.Position position, int consumed, long nextWorkId, int[] pendingSamples,
                        int minSolvers) {
        public Start {
            pendingSamples = pendingSamples.clone();
            if (minSolvers < 0) {
                throw new IllegalArgumentException("min-solvers must be >= 0, got " + minSolvers);
            }
        }

        /** A start that does not wait for solvers. */
        public Start(MinibatchSampler.Position position, int consumed, long nextWorkId, int[] pendingSamples) {
            this(position, consumed, nextWorkId, pendingSamples, 0);
        }

        public static Start fresh(long seed) {
            return new Start(new MinibatchSampler.Position(0, 0, seed), 0, 0, new int[0]);
        }

        /** The same start, waiting for {@code n} solvers before the first work item. */
        public Start withMinSolvers(int n) {
            return new Start(position, consumed, nextWorkId, pendingSamples, n);
        }

        @Override
        public int[] pendingSamples() {
            return pendingSamples.clone();
        }
    }

    /** A work item while it is unsettled. */
    private static final class Item {
        final long id;
        final boolean validation;
        Solver.Task task;                 // training items
        Solver.Validate validate;         // validation items
        int home;                         // preferred solver, −1 for any
        int assigned = -1;                // solver computing (or that computed) it, −1 when queued
        boolean computed;                 // the assigned solver has answered; waiting for the Optimizer
        long deadline;
        ActorRef<Optimizer.Command> replyTo;

        Item(long id, Solver.Task task, int home, ActorRef<Optimizer.Command> replyTo) {
            this.id = id;
            this.validation = false;
            this.task = task;
            this.home = home;
            this.replyTo = replyTo;
        }

        Item(long id, Solver.Validate validate, int home) {
            this.id = id;
            this.validation = true;
            this.validate = validate;
            this.home = home;
            this.replyTo = validate.replyTo();
        }

        int attempts() {
            return validation ? 0 : task.attempt();
        }
    }

    private final RuntimeSpec.Mode mode;
    private final int solverCount;
    private final Duration workTimeout;
    private final int maxAttempts;
    private final MinibatchSampler minibatches;
    private final CropPlan plan;

    private MinibatchSampler.Position position;          // next batch to draw
    /** Async: untaken samples of the drawn batches in epoch order, as (sample, batch number). */
    private final List<long[]> window = new ArrayList<>();
    private long drawnBatches;
    private long nextWorkId;
    private final Deque<Integer> owed = new ArrayDeque<>();

    private final Map<Long, Item> items = new TreeMap<>();
    private final Map<Integer, Deque<Long>> priorityHome = new HashMap<>();
    private final Deque<Long> priorityAny = new ArrayDeque<>();
    private final Map<Integer, Deque<Long>> home = new HashMap<>();
    private final Deque<Long> any = new ArrayDeque<>();

    private final Map<Integer, ActorRef<Solver.Command>> solvers = new HashMap<>();
    private final Map<Integer, Set<Long>> pulled = new HashMap<>();
    /** Solvers with room for another pulled item (fewer than {@code prefetch} unanswered). */
    private final Set<Integer> idle = new LinkedHashSet<>();
    private final int prefetch;
    private final Set<Integer> dead = new HashSet<>();
    private final Trace trace;
    /** Trace only: item id → {handed out, answered (0: not yet), solve nanos (−2: not yet)}. */
    private final Map<Long, long[]> traced = new HashMap<>();

    private boolean issuing;
    private boolean stopped;
    /** Solvers that must have asked for work before anything is handed out (0: open). */
    private int awaitSolvers;
    private double[] theta;
    private long version;
    private long step;
    private double epsilon;
    private double delta;
    private ActorRef<Optimizer.Command> optimizer;

    private long reissued;
    private long solverFailures;
    private long timeouts;

    public static Behavior<Command> create(RuntimeSpec runtime, MinibatchSampler minibatches, Start start) {
        return create(runtime, minibatches, start, Trace.NONE);
    }

    /** A Sampler that reports every answered item to {@code trace} (in-process). */
    public static Behavior<Command> create(RuntimeSpec runtime, MinibatchSampler minibatches, Start start, Trace trace) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Sampler(ctx, timers, runtime, minibatches, start,
                trace)));
    }

    private Sampler(ActorContext<Command> context, TimerScheduler<Command> timers, RuntimeSpec runtime,
                    MinibatchSampler minibatches, Start start, Trace trace) {
        super(context);
        this.trace = trace;
        this.mode = runtime.mode();
        this.solverCount = runtime.solvers();
        this.workTimeout = runtime.workTimeout();
        this.maxAttempts = runtime.maxAttempts();
        this.prefetch = runtime.prefetch();
        this.minibatches = minibatches;
        this.plan = minibatches.plan();
        this.position = start.position();
        this.nextWorkId = start.nextWorkId();
        this.awaitSolvers = start.minSolvers() > 1 ? start.minSolvers() : 0;
        for (int s : start.pendingSamples()) {
            owed.add(s);
        }
        if (start.consumed() > 0) {
            int[] indices = drawBatch();
            window.subList(0, Math.min(start.consumed(), indices.length)).clear();
        }
        Duration tick = workTimeout.dividedBy(4);
        if (tick.compareTo(Duration.ofSeconds(1)) > 0) {
            tick = Duration.ofSeconds(1);
        }
        timers.startTimerWithFixedDelay(new Tick(), tick);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(RequestWork.class, this::onRequestWork)
                .onMessage(IssueBatch.class, this::onIssueBatch)
                .onMessage(UpdateTheta.class, this::onUpdateTheta)
                .onMessage(IssueValidation.class, this::onIssueValidation)
                .onMessage(Settled.class, this::onSettled)
                .onMessage(Reissue.class, this::onReissue)
                .onMessage(Refine.class, this::onRefine)
                .onMessage(SolverFailed.class, this::onSolverFailed)
                .onMessage(SolverStopped.class, this::onSolverStopped)
                .onMessage(Snapshot.class, this::onSnapshot)
                .onMessage(StopIssuing.class, this::onStopIssuing)
                .onMessage(Tick.class, this::onTick)
                .build();
    }

    // ---------------------------------------------------------------- handlers

    private Behavior<Command> onRequestWork(RequestWork m) {
        if (m.wantsDirect()) {
            m.solver().tell(new Solver.WorkFrom(getContext().getSelf()));   // before any item (same sender: ordered)
        }
        ActorRef<Solver.Command> known = solvers.get(m.solverId());
        if (!m.solver().equals(known)) {
            // a new solver, or a new incarnation under a known id (a cluster node restarted at the same
            // host:port): the old one is gone, whether or not its stop has been noticed yet
            if (known != null) {
                getContext().unwatch(known);
                if (!dead.contains(m.solverId())) {
                    getContext().getLog().warn("solver {} was replaced by a new incarnation ({})", m.solverId(), m.solver());
                    solverGone(m.solverId());
                } else {
                    getContext().getLog().info("solver {} is back: a new incarnation ({})", m.solverId(), m.solver());
                }
            }
            dead.remove(m.solverId());
            getContext().watchWith(m.solver(), new SolverStopped(m.solverId(), m.solver()));
        } else if (dead.contains(m.solverId())) {
            // reported stopped, yet asking for work: alive. Akka ends a watch at once when the solver's node is
            // still joining at the address of a removed node (its tombstone); watch again, it holds once Up
            getContext().getLog().info("solver {} reported stopped is asking for work: watching it again", m.solverId());
            dead.remove(m.solverId());
            getContext().unwatch(m.solver());
            getContext().watchWith(m.solver(), new SolverStopped(m.solverId(), m.solver()));
        }
        solvers.put(m.solverId(), m.solver());
        Set<Long> mine = pulled.computeIfAbsent(m.solverId(), s -> new HashSet<>());
        mine.remove(m.finished());
        if (trace != Trace.NONE && m.finished() >= 0) {
            traceAnswer(m.finished(), m.solverId(), m.solveNanos(), m.receivedNanos(), m.repliedNanos());
        }
        Item done = items.get(m.finished());
        if (done != null && done.assigned == m.solverId()) {
            done.computed = true;   // answered: no deadline while the Optimizer decides
        }
        if (mine.size() < prefetch && !dead.contains(m.solverId())) {
            idle.add(m.solverId());
        }
        dispatch();
        return this;
    }

    private Behavior<Command> onIssueBatch(IssueBatch m) {
        remember(m.step(), m.theta(), m.version(), m.epsilon(), m.delta(), m.replyTo());
        MinibatchSampler.Batch batch = minibatches.next(position);
        position = batch.next();
        int[] indices = batch.indices();
        for (int slot = 0; slot < indices.length; slot++) {
            Item item = new Item(nextWorkId, task(nextWorkId, indices[slot], slot, indices.length), homeOf(indices[slot]),
                    m.replyTo());
            nextWorkId++;
            items.put(item.id, item);
            enqueue(item, false);
        }
        dispatch();
        return this;
    }

    private Behavior<Command> onUpdateTheta(UpdateTheta m) {
        remember(m.step(), m.theta(), m.version(), m.epsilon(), m.delta(), m.replyTo());
        issuing = true;
        dispatch();
        return this;
    }

    private Behavior<Command> onIssueValidation(IssueValidation m) {
        for (int i = 0; i < m.images(); i++) {
            long id = nextWorkId++;
            Item item = new Item(id, new Solver.Validate(id, m.round(), i, m.theta(), m.version(), m.epsilon(), m.replyTo()),
                    mode == RuntimeSpec.Mode.SYNC ? Math.floorMod(i, solverCount) : -1);
            items.put(id, item);
            enqueue(item, true);
        }
        dispatch();
        return this;
    }

    private Behavior<Command> onSettled(Settled m) {
        if (trace != Trace.NONE) {
            traceAnswer(m.workId(), -1, -2, -1, -1);
        }
        items.remove(m.workId());
        return this;
    }

    private Behavior<Command> onReissue(Reissue m) {
        Item item = items.get(m.workId());
        if (item == null || item.validation) {
            return this;
        }
        Solver.Task t = item.task;
        int attempt = t.attempt() + (m.failure() ? 1 : 0);
        item.task = new Solver.Task(t.workId(), attempt, 0, t.sample(), t.imageId(), t.row(), t.col(), t.noiseSeed(),
                mode == RuntimeSpec.Mode.SYNC ? t.step() : step, t.slot(), t.batchSize(),
                mode == RuntimeSpec.Mode.SYNC ? t.thetaNoCopy() : theta,
                mode == RuntimeSpec.Mode.SYNC ? t.version() : version,
                mode == RuntimeSpec.Mode.SYNC ? t.epsilon() : epsilon, mode == RuntimeSpec.Mode.SYNC ? t.delta() : delta);
        item.assigned = -1;
        item.computed = false;
        if (attempt >= maxAttempts) {
            abandon(item, m.reason());
        } else {
            reissued++;
            enqueue(item, false);
            dispatch();
        }
        return this;
    }

    private Behavior<Command> onRefine(Refine m) {
        Item item = items.get(m.workId());
        if (item == null || item.validation) {
            return this;
        }
        item.task = item.task.refined(m.epsilon(), m.delta());
        item.computed = false;
        ActorRef<Solver.Command> solver = item.assigned >= 0 && !dead.contains(item.assigned) ? solvers.get(item.assigned) : null;
        if (solver != null) {
            item.deadline = System.nanoTime() + 2 * workTimeout.toNanos();   // it may wait behind the solver's current item
            traceHandOut(item.id);
            solver.tell(new Solver.Refine(item.task, item.replyTo));
        } else {
            item.assigned = -1;
            enqueue(item, false);
            dispatch();
        }
        return this;
    }

    private Behavior<Command> onSolverFailed(SolverFailed m) {
        solverFailures++;
        Set<Long> mine = pulled.get(m.solverId());
        if (mine != null) {
            mine.remove(m.workId());
        }
        Item item = items.get(m.workId());
        if (item != null && item.assigned == m.solverId()) {
            getContext().getLog().warn("solver {} failed on work item {}: issuing it again", m.solverId(), m.workId());
            retry(item, "its solver failed " + (item.attempts() + 1) + " times", true);
        }
        return this;
    }

    private Behavior<Command> onSolverStopped(SolverStopped m) {
        if (!m.solver().equals(solvers.get(m.solverId()))) {
            return this;   // an incarnation already replaced (its items were re-queued then)
        }
        getContext().getLog().warn("solver {} has stopped; its work goes to the other solvers", m.solverId());
        solverGone(m.solverId());
        dispatch();
        return this;
    }

    /**
     * Solver {@code id} is gone: nothing more goes to it; its queued and unanswered items go to the others
     * (the caller dispatches).
     */
    private void solverGone(int id) {
        dead.add(id);
        pulled.remove(id);
        idle.remove(id);
        Deque<Long> queued = home.remove(id);
        if (queued != null) {
            any.addAll(queued);
        }
        Deque<Long> queuedPriority = priorityHome.remove(id);
        if (queuedPriority != null) {
            priorityAny.addAll(queuedPriority);
        }
        for (Item item : new ArrayList<>(items.values())) {
            if (item.assigned == id && !item.computed) {
                retry(item, "its solver stopped", false);
            }
        }
        if (dead.size() >= solverCount && optimizer != null) {
            optimizer.tell(new Optimizer.NoSolvers());
        }
    }

    private Behavior<Command> onSnapshot(Snapshot m) {
        List<Long> ids = new ArrayList<>();
        List<Integer> samples = new ArrayList<>();
        for (Item item : items.values()) {
            if (!item.validation) {
                ids.add(item.id);
                samples.add(item.task.sample());
            }
        }
        for (int s : owed) {
            ids.add(-1L);
            samples.add(s);
        }
        // the untaken samples of the drawn batches are owed too; the position is after the last drawn batch
        for (long[] entry : window) {
            ids.add(-1L);
            samples.add((int) entry[0]);
        }
        MinibatchSampler.Position p = position;
        m.replyTo().tell(new Optimizer.SamplerState(m.checkpoint(), p.epoch(), p.index(), p.seed(),
                0, nextWorkId, ids.stream().mapToLong(Long::longValue).toArray(),
                samples.stream().mapToInt(Integer::intValue).toArray(), reissued, solverFailures, timeouts));
        return this;
    }

    private Behavior<Command> onStopIssuing(StopIssuing m) {
        // training items stay recorded (a last snapshot lists them as owed); only validation is served now
        issuing = false;
        stopped = true;
        return this;
    }

    private Behavior<Command> onTick(Tick m) {
        long now = System.nanoTime();
        for (Item item : new ArrayList<>(items.values())) {
            if (item.assigned >= 0 && !item.computed && now - item.deadline > 0) {
                timeouts++;
                getContext().getLog().warn("work item {} timed out on solver {} (after {}): issuing it to another solver",
                        item.id, item.assigned, workTimeout);
                retry(item, "it timed out", false);
            }
        }
        return this;
    }

    // ---------------------------------------------------------------- internals

    private void remember(long k, double[] th, long v, double eps, double del, ActorRef<Optimizer.Command> replyTo) {
        step = k;
        theta = th;
        version = v;
        epsilon = eps;
        delta = del;
        optimizer = replyTo;
    }

    private Solver.Task task(long id, int sample, int slot, int batchSize) {
        CropPlan.Sample s = plan.sample(sample);
        return new Solver.Task(id, 0, 0, sample, s.imageId(), s.row(), s.col(), s.noiseSeed(), step, slot, batchSize,
                theta, version, epsilon, delta);
    }

    /** Sync: the solver whose cache holds sample i (−1 if it is gone). Async: −1 (any). */
    private int homeOf(int sample) {
        if (mode != RuntimeSpec.Mode.SYNC) {
            return -1;
        }
        int h = Math.floorMod(sample, solverCount);
        return dead.contains(h) ? -1 : h;
    }

    /** Issues an item again after a failure, a timeout or a stopped solver (counts an attempt). */
    private void retry(Item item, String reason, boolean backHome) {
        item.assigned = -1;
        item.computed = false;
        if (item.validation) {
            item.home = backHome && item.home >= 0 && !dead.contains(item.home) ? item.home : -1;
            enqueue(item, true);
            dispatch();
            return;
        }
        Solver.Task t = item.task;
        item.task = new Solver.Task(t.workId(), t.attempt() + 1, t.refinement(), t.sample(), t.imageId(), t.row(), t.col(),
                t.noiseSeed(), t.step(), t.slot(), t.batchSize(), t.thetaNoCopy(), t.version(), t.epsilon(), t.delta());
        if (item.task.attempt() >= maxAttempts) {
            abandon(item, reason);
            return;
        }
        reissued++;
        item.home = backHome && item.home >= 0 && !dead.contains(item.home) ? item.home : -1;
        enqueue(item, false);
        dispatch();
    }

    private void abandon(Item item, String reason) {
        items.remove(item.id);
        traced.remove(item.id);
        getContext().getLog().warn("sample {} abandoned after {} attempts: {}", item.task.sample(), item.task.attempt(), reason);
        item.replyTo.tell(new Optimizer.WorkAbandoned(item.id, item.task.sample(), item.task.step(), reason));
    }

    private void traceHandOut(long id) {
        if (trace != Trace.NONE) {
            traced.put(id, new long[]{System.nanoTime(), 0, -2, -1, -1, -1});
        }
    }

    /**
     * The answer of item {@code id} (first arrival) and/or its solve time and the solver's timestamps
     * (−2: not known from this message).
     */
    private void traceAnswer(long id, int solverId, long solveNanos, long receivedNanos, long repliedNanos) {
        long[] t = traced.get(id);
        if (t == null) {
            return;
        }
        if (t[1] == 0) {
            t[1] = System.nanoTime();
        }
        if (solveNanos != -2) {
            t[2] = solveNanos;
            t[3] = receivedNanos;
            t[4] = repliedNanos;
            t[5] = solverId;
        }
        if (t[2] != -2) {
            traced.remove(id);
            trace.answered(new Answer(id, (int) t[5], t[0], t[3], t[4], t[1], t[2]));
        }
    }

    private void enqueue(Item item, boolean priority) {
        if (item.home >= 0 && !dead.contains(item.home)) {
            (priority ? priorityHome : home).computeIfAbsent(item.home, s -> new ArrayDeque<>()).add(item.id);
        } else {
            (priority ? priorityAny : any).add(item.id);
        }
    }

    private void dispatch() {
        if (awaitSolvers > 0) {
            if (solvers.size() - dead.size() < awaitSolvers) {
                return;
            }
            getContext().getLog().info("{} solvers have asked for work (min-solvers {}): handing out work",
                    solvers.size() - dead.size(), awaitSolvers);
            awaitSolvers = 0;
        }
        Iterator<Integer> it = idle.iterator();
        while (it.hasNext()) {
            int s = it.next();
            Set<Long> mine = pulled.computeIfAbsent(s, x -> new HashSet<>());
            Item item;
            while (mine.size() < prefetch && (item = nextFor(s)) != null) {
                assign(item, s);
            }
            if (mine.size() >= prefetch) {
                it.remove();
            }
        }
    }

    private Item nextFor(int s) {
        Item item = poll(priorityHome.get(s));
        if (item == null) {
            item = poll(priorityAny);
        }
        if (item == null && stopped) {
            return null;
        }
        if (item == null) {
            item = poll(home.get(s));
        }
        if (item == null) {
            item = poll(any);
        }
        if (item == null && mode == RuntimeSpec.Mode.ASYNC && issuing && theta != null) {
            item = drawNew(s);
        }
        return item;
    }

    /** The first queued item that is still unsettled and unassigned. */
    private Item poll(Deque<Long> queue) {
        while (queue != null && !queue.isEmpty()) {
            Item item = items.get(queue.poll());
            if (item != null && item.assigned < 0) {
                return item;
            }
        }
        return null;
    }

    /** Batches the async draw looks ahead for a sample whose warm start the asking solver holds. */
    static final int LOOKAHEAD_BATCHES = 2;

    /**
     * Async: a new item at the newest θ for solver {@code s}: owed samples first, then the drawn batches
     * of the epoch order. A sample whose warm start solver {@code s} holds (sample ≡ s mod n, the solver
     * that computed it last time unless it was stolen) is preferred, looking ahead up to
     * {@value #LOOKAHEAD_BATCHES} batches; otherwise the oldest one is taken (work stealing). Every sample
     * is still handed out exactly once per epoch.
     */
    private Item drawNew(int s) {
        int sample = -1;
        for (Iterator<Integer> it = owed.iterator(); it.hasNext() && sample < 0; ) {
            int candidate = it.next();
            if (Math.floorMod(candidate, solverCount) == s) {
                sample = candidate;
                it.remove();
            }
        }
        if (sample < 0 && !owed.isEmpty()) {
            sample = owed.poll();
        }
        while (sample < 0) {
            for (int j = 0; j < window.size(); j++) {
                if (Math.floorMod(window.get(j)[0], solverCount) == s) {
                    sample = (int) window.remove(j)[0];
                    break;
                }
            }
            if (sample >= 0) {
                break;
            }
            long batchesInWindow = window.isEmpty() ? 0 : drawnBatches - window.get(0)[1];
            if (batchesInWindow < LOOKAHEAD_BATCHES) {
                drawBatch();
            } else {
                sample = (int) window.remove(0)[0];   // steal the oldest
            }
        }
        Item item = new Item(nextWorkId, task(nextWorkId, sample, 0, 1), -1, optimizer);
        nextWorkId++;
        items.put(item.id, item);
        return item;
    }

    /** Draws the batch at the position into the window; returns its samples. */
    private int[] drawBatch() {
        MinibatchSampler.Batch batch = minibatches.next(position);
        position = batch.next();
        int[] indices = batch.indices();
        for (int i : indices) {
            window.add(new long[]{i, drawnBatches});
        }
        drawnBatches++;
        return indices;
    }

    private void assign(Item item, int s) {
        item.assigned = s;
        item.computed = false;
        Set<Long> mine = pulled.computeIfAbsent(s, x -> new HashSet<>());
        mine.add(item.id);
        // a prefetched item waits behind the solver's others
        item.deadline = System.nanoTime() + mine.size() * workTimeout.toNanos();
        traceHandOut(item.id);
        ActorRef<Solver.Command> solver = solvers.get(s);
        if (item.validation) {
            solver.tell(item.validate);
        } else {
            solver.tell(new Solver.Compute(item.task, item.replyTo));
        }
    }
}
