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
import akka.cluster.Member;
import akka.cluster.MemberStatus;
import akka.cluster.ClusterEvent;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Subscribe;
import akka.cluster.typed.ClusterSingleton;
import akka.cluster.typed.ClusterSingletonSettings;
import akka.cluster.typed.Leave;
import akka.cluster.typed.SingletonActor;
import akka.actor.typed.receptionist.Receptionist;
import akka.actor.typed.receptionist.ServiceKey;
import akka.cluster.ddata.typed.javadsl.DistributedData;
import akka.cluster.ddata.typed.javadsl.Replicator;
import bilevel.numerics.data.MinibatchSampler;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One node of a training cluster (Akka Cluster over Artery TCP, split brain resolver keep-majority).
 *
 * <ul>
 *   <li>Role {@code optimizer}: runs the training's Optimizer, Sampler and Monitor as a Cluster Singleton
 *       (on the oldest node of that role), writing the run folder on that node.</li>
 *   <li>Role {@code solver}: runs {@code runtime.solvers} Solver actors that pull work from the singleton:
 *       the first request (a hello) through the singleton proxy, which forwards to the
 *       Sampler; the Sampler answers with its own reference ({@link Solver.WorkFrom}) and later requests go
 *       straight to it, until a new singleton pings the solvers after a fail-over. Results go straight to the
 *       Optimizer.</li>
 * </ul>
 * A node with both roles alone is a complete (asynchronous) training. At join every node presents the
 * fingerprint of its data set; a node with other data is refused ({@link DataFingerprintChecker}) and
 * {@link #run} returns {@link #EXIT_REFUSED}. When the run has finished, the optimizer node asks every
 * member to leave, so all nodes stop. SIGTERM makes a node leave gracefully (CoordinatedShutdown); on the
 * optimizer node a checkpoint is written first, as in {@link TrainingRuntime}.
 *
 * <p>Every update is replicated with Distributed Data before it counts ({@link StateReplicator}: WriteMajority,
 * acknowledged); a singleton that starts after the optimizer's node was lost reads it (ReadMajority) and
 * continues from it. After a full stop, a singleton continues from the most advanced checkpoint found in
 * the run folders of the optimizer-role nodes. Solvers' warm starts are not part of cluster checkpoints
 * (they are recomputed).
 */
public final class ClusterNode {
    public static final String ROLE_OPTIMIZER = "optimizer";
    public static final String ROLE_SOLVER = "solver";
    public static final int EXIT_OK = 0;
    /** This node's data differ from the cluster's (or it was refused for another configuration reason). */
    public static final int EXIT_REFUSED = 3;
    /** The node was downed or its actor system stopped before the run finished. */
    public static final int EXIT_LOST = 4;
    /** The node did not become a member within the join timeout (no seed reachable, or TLS refused it). */
    public static final int EXIT_NOT_JOINED = 5;
    /** What a singleton of this JVM continued from (null: it started the run). */
    static final java.util.concurrent.atomic.AtomicReference<String> RESTORED =
            new java.util.concurrent.atomic.AtomicReference<>();

    /**
     * Where and how a node runs.
     *
     * @param roles        subset of {optimizer, solver}
     * @param host         canonical host name (what other nodes connect to)
     * @param port         canonical port (0: any free port)
     * @param bindHost     address to bind to (null: the canonical host)
     * @param seeds        seed nodes as host:port (empty: this node founds the cluster)
     * @param totalSolvers solvers in the whole cluster (the run fails when all of them have stopped)
     * @param minNodes     members that must have joined before any is moved to Up (so before the training starts)
     * @param bootstrap    Kubernetes: the service name (pod label {@code app}) whose pods Akka Management Cluster
     *                     Bootstrap discovers through the Kubernetes API instead of seed nodes (null: seeds)
     * @param minSolvers   optimizer role: a singleton that starts the run (fresh, or from a checkpoint after a
     *                     full stop) hands out no work until this many solvers have asked for it (0: none);
     *                     one that takes over from the live replicated state (fail-over) does not wait
     */
    public record Settings(Set<String> roles, String host, int port, String bindHost, List<String> seeds,
                           int totalSolvers, int minNodes, String bootstrap, int minSolvers) {
        /** Settings that do not wait for solvers. */
        public Settings(Set<String> roles, String host, int port, String bindHost, List<String> seeds,
                        int totalSolvers, int minNodes, String bootstrap) {
            this(roles, host, port, bindHost, seeds, totalSolvers, minNodes, bootstrap, 0);
        }

        public Settings {
            if (minSolvers < 0) {
                throw new IllegalArgumentException("--min-solvers must be >= 0, got " + minSolvers);
            }
            roles = Set.copyOf(roles);
            seeds = List.copyOf(seeds);
            for (String r : roles) {
                if (!r.equals(ROLE_OPTIMIZER) && !r.equals(ROLE_SOLVER)) {
                    throw new IllegalArgumentException("unknown role '" + r + "' (optimizer, solver)");
                }
            }
            if (roles.isEmpty()) {
                throw new IllegalArgumentException("a node needs at least one role (optimizer, solver)");
            }
            for (String s : seeds) {
                parseHostPort(s);
            }
        }
    }

    /**
     * Optional behaviour of {@link #run}.
     *
     * @param joinTimeout a node that is not a member this long after its actor system started stops with
     *                    {@link #EXIT_NOT_JOINED} (zero: it keeps trying)
     * @param trace       observer of the work items of a singleton started in this JVM ({@code bench cluster})
     * @param stop        when it completes, the node stops as on SIGTERM (leaves the cluster; {@link #EXIT_LOST}
     *                    if the run had not finished): lets a caller in the same JVM give up on a run
     */
    public record Extras(java.time.Duration joinTimeout, Sampler.Trace trace, CompletableFuture<Void> stop) {
        /** No join timeout, no trace, never stopped from outside. */
        public static Extras none() {
            return new Extras(java.time.Duration.ZERO, Sampler.Trace.NONE);
        }

        public Extras(java.time.Duration joinTimeout, Sampler.Trace trace) {
            this(joinTimeout, trace, new CompletableFuture<>());
        }

        public Extras {
            if (joinTimeout.isNegative()) {
                throw new IllegalArgumentException("the join timeout must not be negative, got " + joinTimeout);
            }
        }
    }

    /**
     * What a node did.
     *
     * @param exitCode  {@link #EXIT_OK}, {@link #EXIT_REFUSED}, {@link #EXIT_LOST} or {@link #EXIT_NOT_JOINED}
     * @param result    the run's result (only on the node whose singleton finished the run)
     * @param computed  hypergradients computed by this node's solvers
     * @param message   why the node stopped, for the user
     */
    public record Outcome(int exitCode, TrainingRuntime.Result result, long computed, String message) {
    }

    /** Solver actors of every node register under this key. */
    public static final ServiceKey<Solver.Command> SOLVERS = ServiceKey.create(Solver.Command.class, "bilevel-solvers");

    private ClusterNode() {
    }

    /** "host:port" → [host, port]. */
    public static String[] parseHostPort(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("seed node must be HOST:PORT, got '" + s + "'");
        }
        try {
            int port = Integer.parseInt(s.substring(colon + 1));
            if (port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
            return new String[]{s.substring(0, colon), Integer.toString(port)};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("seed node must be HOST:PORT with a port in 1..65535, got '" + s + "'");
        }
    }

    /** The Akka configuration of a node: settings over {@code cluster-akka.conf} over the runtime's. */
    public static Config akkaConfig(Settings s, String dataFingerprint, Config overrides) {
        Map<String, Object> m = new HashMap<>();
        m.put("akka.remote.artery.canonical.hostname", s.host());
        m.put("akka.remote.artery.canonical.port", s.port());
        if (s.bindHost() != null) {
            m.put("akka.remote.artery.bind.hostname", s.bindHost());
        }
        m.put("akka.cluster.roles", new ArrayList<>(s.roles()));
        List<String> seeds = new ArrayList<>();
        for (String seed : s.seeds()) {
            String[] hp = parseHostPort(seed);
            seeds.add("akka://bilevel@" + hp[0] + ":" + hp[1]);
        }
        if (s.bootstrap() != null) {
            seeds.clear();
            m.put("akka.management.http.hostname", s.host());
            m.put("akka.management.http.port", 8558);
            if (s.bindHost() != null) {
                m.put("akka.management.http.bind-hostname", s.bindHost());
            }
            m.put("akka.management.cluster.bootstrap.contact-point-discovery.discovery-method", "kubernetes-api");
            m.put("akka.management.cluster.bootstrap.contact-point-discovery.service-name", s.bootstrap());
            m.put("akka.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr",
                    Math.max(1, s.minNodes()));
            m.put("akka.discovery.kubernetes-api.pod-label-selector", "app=%s");
            // contact points: pod IP (no reliance on pod DNS records) and the container port named "management"
            m.put("akka.discovery.kubernetes-api.use-raw-ip", true);
            m.put("akka.management.cluster.bootstrap.contact-point-discovery.port-name", "management");
        }
        m.put("akka.cluster.seed-nodes", seeds);
        m.put(DataFingerprintChecker.KEY, dataFingerprint);
        m.put("akka.cluster.min-nr-of-members", Math.max(1, s.minNodes()));
        return overrides.withFallback(ConfigFactory.parseMap(m))
                .withFallback(ConfigFactory.parseResources(ClusterNode.class.getClassLoader(), "bilevel/cluster-akka.conf"))
                .withFallback(TrainingRuntime.akkaConfig())
                .resolve();
    }

    /**
     * Runs a node until the run has finished (optimizer node: and the other members were asked to leave),
     * the node was refused, downed or stopped by a signal. Blocking.
     *
     * @param outDir run folder (written by the node running the singleton; checked by the caller)
     */
    public static Outcome run(TrainingSpec spec, RuntimeSpec runtime, TrainingData data, Path outDir, Settings settings,
                              TrainingRuntime.Options options) {
        return run(spec, runtime, data, outDir, settings, options, Extras.none());
    }

    /** {@link #run(TrainingSpec, RuntimeSpec, TrainingData, Path, Settings, TrainingRuntime.Options)} with extras. */
    public static Outcome run(TrainingSpec spec, RuntimeSpec runtime, TrainingData data, Path outDir, Settings settings,
                              TrainingRuntime.Options options, Extras extras) {
        if (runtime.mode() != RuntimeSpec.Mode.ASYNC) {
            throw new TrainingException("a cluster trains in async mode (runtime.mode = async): sync mode assigns "
                    + "samples to solver slots of one process");
        }
        if (spec.train().method().equals("maid")) {
            throw new TrainingException("the actor runtime trains with isgd or adam; MAID runs on the reference trainer");
        }
        Nd4j.getEnvironment().setMaxMasterThreads(1);
        Nd4j.getEnvironment().setMaxThreads(1);
        RuntimeSpec clusterRuntime = runtime.withSolvers(Math.max(1, settings.totalSolvers()));
        Config config = akkaConfig(settings, data.fingerprint(), options.akkaOverrides()
                .withFallback(ConfigFactory.parseString("akka.coordinated-shutdown.phases.before-service-unbind.timeout = "
                        + Math.max(1, runtime.shutdownTimeout().toSeconds()) + "s")));
        CompletableFuture<TrainingRuntime.Result> result = new CompletableFuture<>();
        CompletableFuture<ActorRef<Optimizer.Command>> optimizerRef = new CompletableFuture<>();
        AtomicLong computed = new AtomicLong();
        AtomicBoolean joined = new AtomicBoolean();
        Solver.Faults counting = (solver, task) -> {
            options.faults().beforeCompute(solver, task);
            computed.incrementAndGet();
        };
        boolean solverRole = settings.roles().contains(ROLE_SOLVER);
        try (SolverEnvironment env = new SolverEnvironment(data, spec, new ReferenceTrainer(spec, x -> { }).dataType(),
                solverRole ? runtime.solvers() : 0)) {
            int node = (settings.host() + ":" + settings.port()).hashCode() & 0x00ffffff;
            Behavior<Void> guardian = Behaviors.setup(ctx -> {
                // every node holds a replica of the optimizer state (the replicator starts on first use)
                DistributedData.get(ctx.getSystem()).replicator();
                if (settings.roles().contains(ROLE_OPTIMIZER)) {
                    // after a full stop: the newest checkpoint of this node's run folder, for whichever node
                    // runs the singleton
                    diskCheckpoint(outDir, data).ifPresent(c -> StateReplicator.publishDisk(ctx.getSystem(),
                            runId(spec, data), c));
                }
                ClusterSingletonSettings singletonSettings = ClusterSingletonSettings.create(ctx.getSystem())
                        .withRole(ROLE_OPTIMIZER);
                ActorRef<Sampler.Command> work = ClusterSingleton.get(ctx.getSystem()).init(
                        SingletonActor.of(coordinator(spec, clusterRuntime, data, outDir, options, result, optimizerRef,
                                extras.trace(), settings.minSolvers()), "training").withSettings(singletonSettings));
                ctx.spawn(members(joined), "members");
                if (solverRole) {
                    for (int i = 0; i < runtime.solvers(); i++) {
                        // unique over the cluster: 24 bits of the node's address, 6 bits of the local slot
                        int reportId = node * 64 + (i & 63);
                        ActorRef<Solver.Command> solver = ctx.spawn(Solver.create(i, reportId, env, work,
                                        Solver.WarmStarts.none(), counting), "solver-" + i,
                                DispatcherSelector.fromConfig("bilevel-solver-dispatcher"));
                        ctx.getSystem().receptionist().tell(Receptionist.register(SOLVERS, solver));
                    }
                }
                return Behaviors.empty();
            });
            ActorSystem<Void> system = ActorSystem.create(guardian, "bilevel", config);
            AtomicBoolean joinTimedOut = new AtomicBoolean();
            extras.stop().thenRun(() -> CoordinatedShutdown.get(system).run(CoordinatedShutdown.unknownReason()));
            if (!extras.joinTimeout().isZero()) {
                system.scheduler().scheduleOnce(extras.joinTimeout(), () -> {
                    if (!joined.get() && !result.isDone()) {
                        joinTimedOut.set(true);
                        system.terminate();
                    }
                }, system.executionContext());
            }
            if (settings.bootstrap() != null) {
                akka.actor.ActorSystem classic = akka.actor.typed.javadsl.Adapter.toClassic(system);
                akka.management.javadsl.AkkaManagement.get(classic).start();
                akka.management.cluster.bootstrap.ClusterBootstrap.get(classic).start();
            }
            CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "bilevel-checkpoint",
                    () -> {
                        ActorRef<Optimizer.Command> optimizer = optimizerRef.getNow(null);
                        if (result.isDone() || optimizer == null) {
                            return CompletableFuture.completedFuture(Done.getInstance());
                        }
                        return AskPattern.<Optimizer.Command, Optimizer.ShutdownComplete>ask(optimizer,
                                        Optimizer.Shutdown::new, runtime.shutdownTimeout(), system.scheduler())
                                .handle((r, e) -> Done.getInstance());
                    });
            CompletableFuture<Object> firstOf = CompletableFuture.anyOf(result,
                    system.getWhenTerminated().toCompletableFuture());
            try {
                firstOf.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException e) {
                // reported below
            }
            TrainingRuntime.Result r = null;
            String error = null;
            if (result.isDone()) {
                try {
                    r = result.get();
                } catch (InterruptedException | ExecutionException e) {
                    error = String.valueOf(e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
                }
            }
            if (result.isDone() && !(r != null && r.interrupted() && otherOptimizer(Cluster.get(system)))) {
                // the run is over: every member leaves (the others stop when they are removed). Not after a
                // SIGTERM of this node while another optimizer-role node is up: the singleton moves there
                Cluster cluster = Cluster.get(system);
                for (Member m : cluster.state().getMembers()) {
                    if (!m.address().equals(cluster.selfMember().address()) && m.status() != MemberStatus.down()) {
                        cluster.manager().tell(Leave.create(m.address()));
                    }
                }
                waitForOthersToLeave(cluster, 20);
                cluster.manager().tell(Leave.create(cluster.selfMember().address()));
            }
            try {
                system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                system.terminate();
            }
            String here = settings.host() + ":" + settings.port();
            if (r != null) {
                String restored = RESTORED.get();
                return new Outcome(EXIT_OK, r, computed.get(), "node " + here
                        + (r.interrupted() ? " stopped the run after step " + r.steps() : " finished the run")
                        + (restored != null ? " (continued from " + restored + ")" : ""));
            }
            if (error != null) {
                return new Outcome(EXIT_LOST, null, computed.get(), "the run failed: " + error);
            }
            if (joinTimedOut.get()) {
                return new Outcome(EXIT_NOT_JOINED, null, computed.get(), "could not join the cluster at "
                        + String.join(", ", settings.seeds()) + " within " + extras.joinTimeout().toSeconds() + " s "
                        + (ClusterTls.isOn(config) ? "(TLS handshake refused? foreign certificate?)"
                        : "(is a seed node running and reachable at that address?)"));
            }
            Optional<CoordinatedShutdown.Reason> reason = CoordinatedShutdown.get(system).getShutdownReason();
            if (reason.isPresent() && reason.get().equals(CoordinatedShutdown.incompatibleConfigurationDetectedReason())) {
                return new Outcome(EXIT_REFUSED, null, computed.get(), "node " + here + " was refused by the cluster: "
                        + "its configuration (data fingerprint " + data.fingerprint() + ") is incompatible; see the log "
                        + "line 'Configuration of the joining node is incompatible' for the cluster's fingerprint");
            }
            if (reason.isPresent() && (reason.get().equals(CoordinatedShutdown.clusterLeavingReason())
                    || reason.get().equals(CoordinatedShutdown.jvmExitReason()))) {
                return new Outcome(EXIT_OK, null, computed.get(), "node " + here + " left the cluster");
            }
            return new Outcome(EXIT_LOST, null, computed.get(), "node " + here + " stopped: "
                    + reason.map(Object::toString).orElse("unknown reason"));
        }
    }

    /**
     * Logs the membership changes (INFO, logger {@code bilevel.actors.ClusterNode}: "member joining: ADDRESS
     * roles [...]", "member up: ...", "member removed: ...") and sets {@code joined} once this node is a member.
     */
    private static Behavior<ClusterEvent.MemberEvent> members(AtomicBoolean joined) {
        return Behaviors.setup(ctx -> {
            Cluster cluster = Cluster.get(ctx.getSystem());
            cluster.subscriptions().tell(Subscribe.create(ctx.getSelf(), ClusterEvent.MemberEvent.class));
            org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ClusterNode.class);
            return Behaviors.receive(ClusterEvent.MemberEvent.class).onMessage(ClusterEvent.MemberEvent.class, e -> {
                Member m = e.member();
                if (m.uniqueAddress().equals(cluster.selfMember().uniqueAddress())) {
                    joined.set(true);
                }
                if (e instanceof ClusterEvent.MemberJoined) {
                    log.info("member joining: {} roles {}", m.address(), new java.util.TreeSet<>(m.getRoles()));
                } else if (e instanceof ClusterEvent.MemberUp) {
                    log.info("member up: {} roles {}", m.address(), new java.util.TreeSet<>(m.getRoles()));
                } else if (e instanceof ClusterEvent.MemberRemoved) {
                    log.info("member removed: {}", m.address());
                }
                return Behaviors.same();
            }).build();
        });
    }

    /** Whether another member with the optimizer role is up (it takes the singleton over when this node leaves). */
    private static boolean otherOptimizer(Cluster cluster) {
        for (Member m : cluster.state().getMembers()) {
            if (!m.address().equals(cluster.selfMember().address()) && m.hasRole(ROLE_OPTIMIZER)
                    && (m.status() == MemberStatus.up() || m.status() == MemberStatus.weaklyUp())
                    && !cluster.state().getUnreachable().contains(m)) {
                return true;
            }
        }
        return false;
    }

    private static void waitForOthersToLeave(Cluster cluster, int seconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            boolean others = false;
            for (Member m : cluster.state().getMembers()) {
                if (!m.address().equals(cluster.selfMember().address())) {
                    others = true;
                }
            }
            if (!others) {
                return;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The id of a run in Distributed Data: data fingerprint and seed. */
    static String runId(TrainingSpec spec, TrainingData data) {
        return data.fingerprint().replace("sha256:", "") + "-" + spec.seed();
    }

    /** The newest valid checkpoint of this node's run folder, if it belongs to this run. */
    private static Optional<Checkpoint> diskCheckpoint(Path outDir, TrainingData data) {
        CheckpointStore store = new CheckpointStore(outDir.resolve("checkpoints"));
        if (!Files.isDirectory(store.dir())) {
            return Optional.empty();
        }
        return store.latestValid().map(CheckpointStore.Loaded::checkpoint)
                .filter(c -> c.dataFingerprint().equals(data.fingerprint()));
    }

    /**
     * Checks that the newest valid checkpoint of an unfinished run folder (if there is one) can continue
     * this run: the same data, model size and optimizer; throws {@link TrainingException} (one line) if not.
     *
     * @return the checkpoint, or empty if the folder holds none
     */
    public static Optional<Checkpoint> checkResumable(TrainingSpec spec, TrainingData data, Path outDir) {
        CheckpointStore store = new CheckpointStore(outDir.resolve("checkpoints"));
        if (!Files.isDirectory(store.dir())) {
            return Optional.empty();
        }
        Optional<CheckpointStore.Loaded> loaded = store.latestValid();
        if (loaded.isEmpty()) {
            return Optional.empty();
        }
        Checkpoint c = loaded.get().checkpoint();
        Regularizer reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
        if (!fits(c, spec, data, reg)) {
            throw new TrainingException("the run in " + outDir + " cannot be continued with this experiment: its "
                    + "checkpoint " + loaded.get().file() + " holds a " + c.optimizer() + " state of " + c.theta().length
                    + " parameters for data " + c.dataFingerprint() + "; this run is " + spec.train().method() + " with "
                    + reg.numParams() + " parameters on " + data.fingerprint());
        }
        return Optional.of(c);
    }

    /** Whether a checkpoint can continue this run (same data, model size and optimizer). */
    private static boolean fits(Checkpoint c, TrainingSpec spec, TrainingData data, Regularizer reg) {
        String optimizer = spec.train().method().equals("isgd") ? "sgd" : "adam";
        return c != null && c.dataFingerprint().equals(data.fingerprint()) && c.theta().length == reg.numParams()
                && c.optimizer().equals(optimizer);
    }

    /**
     * The singleton: spawns Monitor, Sampler and Optimizer and forwards the Sampler's messages (solvers send
     * work requests to the singleton proxy) to its Sampler. It continues, in this order, from the live
     * replicated state (a fail-over: another singleton of this run ran before), from the most advanced
     * checkpoint of the optimizer nodes' run folders (a restart after a full stop), or from the start.
     */
    private static Behavior<Sampler.Command> coordinator(TrainingSpec spec, RuntimeSpec runtime, TrainingData data,
                                                         Path outDir, TrainingRuntime.Options options,
                                                         CompletableFuture<TrainingRuntime.Result> result,
                                                         CompletableFuture<ActorRef<Optimizer.Command>> optimizerRef,
                                                         Sampler.Trace trace, int minSolvers) {
        return Behaviors.setup(ctx -> {
            ReferenceTrainer trainer = new ReferenceTrainer(spec, m -> { });
            Regularizer reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
            UpperLevelStepper stepper = new UpperLevelStepper(trainer.optimizer(reg), runtime.staleness());
            CheckpointStore store = new CheckpointStore(outDir.resolve("checkpoints"));
            try {
                Files.createDirectories(store.dir());
            } catch (IOException e) {
                throw new TrainingException("cannot create " + store.dir() + ": " + e.getMessage());
            }
            String runId = runId(spec, data);
            Checkpoint c = StateReplicator.read(ctx.getSystem(), StateReplicator.liveKey(runId),
                    new Replicator.ReadMajority(java.time.Duration.ofSeconds(3)));
            String source;
            int waitFor = 0;
            if (fits(c, spec, data, reg)) {
                source = "the replicated state of step " + c.steps();
            } else {
                // no live state: a new run, or a restart after a full stop
                waitFor = minSolvers;
                Checkpoint published = StateReplicator.read(ctx.getSystem(), StateReplicator.diskKey(runId),
                        new Replicator.ReadAll(java.time.Duration.ofSeconds(3)));
                Checkpoint own = diskCheckpoint(outDir, data).orElse(null);
                c = fits(own, spec, data, reg) && (!fits(published, spec, data, reg) || own.steps() >= published.steps())
                        ? own : fits(published, spec, data, reg) ? published : null;
                source = c == null ? null : "checkpoint " + c.sequence() + " of step " + c.steps() + " in "
                        + (c == own ? "this node's run folder" : "another optimizer node's run folder");
            }
            // the metrics file continues after the state's last update (lines beyond it, or torn, are dropped)
            TrainingRuntime.truncateMetrics(outDir.resolve("metrics.jsonl"), c == null ? 0 : c.steps());
            UpperLevelStepper.State state;
            Sampler.Start start;
            Optimizer.Setup setup;
            if (c == null) {
                state = stepper.init(trainer.initialTheta(reg));
                start = Sampler.Start.fresh(spec.seed()).withMinSolvers(waitFor);
                setup = new Optimizer.Setup(spec, runtime, stepper, trainer::done, state, 0, 0, 0, 0,
                        Double.NaN, 0, false, runtime.validation() ? data.validation().size() : 0, data.plan().size(), store,
                        data.fingerprint(), Map.of(), result);
            } else {
                ctx.getLog().info("training singleton continues from {}", source);
                RESTORED.set(source);
                state = c.upperLevel();
                start = new Sampler.Start(c.samplerPosition(), c.samplerConsumed(), c.nextWorkId(), c.pendingSamples(),
                        waitFor);
                setup = new Optimizer.Setup(spec, runtime, stepper, trainer::done, state, c.steps(), c.computations(),
                        c.hypergradients(), c.seconds(), c.validationPsnr() == null ? Double.NaN : c.validationPsnr(),
                        c.sequence(), true, runtime.validation() ? data.validation().size() : 0, data.plan().size(), store,
                        data.fingerprint(), c.counters(), result);
            }
            Monitor.Setup monitorSetup = new Monitor.Setup(outDir, spec, data.fingerprint(), store, options.progress(),
                    options.terminal());
            ActorRef<Monitor.Command> monitor = ctx.spawn(Monitor.create(monitorSetup), "monitor",
                    DispatcherSelector.blocking());
            ActorRef<Sampler.Command> sampler = ctx.spawn(Sampler.create(runtime,
                    new MinibatchSampler(data.plan(), spec.train().batch()), start, trace), "sampler");
            ActorRef<StateReplicator.Command> replicator = ctx.spawn(StateReplicator.create(
                    DistributedData.get(ctx.getSystem()).replicator(), DistributedData.get(ctx.getSystem()).selfUniqueAddress(),
                    StateReplicator.liveKey(runId), java.time.Duration.ofSeconds(3)), "replicate");
            ActorRef<Optimizer.Command> optimizer = ctx.spawn(Optimizer.create(setup, sampler, monitor, List.of(),
                    replicator), "optimizer");
            // solvers that asked the previous singleton (or whose request was lost in the fail-over) ask again
            ctx.spawn(Behaviors.<Receptionist.Listing>setup(c2 -> {
                c2.getSystem().receptionist().tell(Receptionist.subscribe(SOLVERS, c2.getSelf()));
                java.util.Set<ActorRef<Solver.Command>> seen = new java.util.HashSet<>();
                return Behaviors.receive(Receptionist.Listing.class).onMessage(Receptionist.Listing.class, l -> {
                    for (ActorRef<Solver.Command> solver : l.getServiceInstances(SOLVERS)) {
                        if (seen.add(solver)) {
                            solver.tell(new Solver.Ping());
                        }
                    }
                    return Behaviors.same();
                }).build();
            }), "solver-listing");
            ctx.watch(optimizer);
            ctx.watch(sampler);
            ctx.watch(monitor);
            optimizerRef.complete(optimizer);
            ctx.getLog().info("training singleton started on {}", ctx.getSystem().address());
            return Behaviors.receive(Sampler.Command.class)
                    .onMessage(Sampler.Command.class, m -> {
                        sampler.tell(m);
                        return Behaviors.same();
                    })
                    .onSignal(Terminated.class, t -> {
                        if (!result.isDone()) {
                            result.completeExceptionally(new IllegalStateException("the " + t.getRef().path().name()
                                    + " actor stopped unexpectedly (see the log)"));
                        }
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    /** One summary line of a node's outcome. */
    public static String summary(Outcome o) {
        return String.format(Locale.ROOT, "%s; this node computed %d hypergradients", o.message(), o.computed());
    }

    static void println(PrintWriter w, String s) {
        if (w != null) {
            w.println(s);
            w.flush();
        }
    }
}
