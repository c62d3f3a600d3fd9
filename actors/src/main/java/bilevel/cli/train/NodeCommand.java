package bilevel.cli.train;

import bilevel.actors.ClusterNode;
import bilevel.actors.ClusterTls;
import bilevel.actors.MessagingWarmUp;
import bilevel.actors.RuntimeSpec;
import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code bilevel node}: one node of a training cluster. Every node reads the same experiment
 * ({@code --config}, {@code --set}); the node with role {@code optimizer} that is oldest runs the
 * training (a Cluster Singleton) and writes the run folder {@code --out} like {@code bilevel train};
 * {@code solver} nodes compute hypergradients. Exit codes: 0 run finished / node left, 2 bad input (e.g. an
 * unreadable TLS key store or a wrong password), 3 refused (other data), 4 lost (downed, or the run failed),
 * 5 not a member within {@code --join-timeout} (no seed reachable, or the TLS handshake refused).
 *
 * <p>TLS ({@code --tls-keystore}, {@code --tls-truststore} or {@code bilevel.cluster.tls}): see
 * {@link ClusterTls}; the stores and passwords are checked before the node starts.
 */
@Command(name = "node",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Run one node of a training cluster (Akka Cluster, Artery TCP).",
                "Example (two nodes on one machine):",
                "  bilevel node --roles optimizer,solver --port 25520 --out runs/c1 &",
                "  bilevel node --roles solver --port 25521 --seeds 127.0.0.1:25520",
                "TLS (mutual authentication; passwords from the environment variable BILEVEL_TLS_PASSWORD):",
                "  deploy/make-cluster-keys.sh keys && export BILEVEL_TLS_PASSWORD=$(cat keys/password)",
                "  bilevel node ... --tls-keystore keys/cluster-keystore.p12 --tls-truststore keys/cluster-truststore.p12",
                "Exit codes: 0 finished or left, 2 bad input, 3 refused (other data), 4 lost, 5 not joined in --join-timeout.",
        })
public final class NodeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--roles", paramLabel = "ROLES", split = ",", description = "optimizer and/or solver (default: both).")
    List<String> roles = new ArrayList<>(List.of(ClusterNode.ROLE_OPTIMIZER, ClusterNode.ROLE_SOLVER));

    @Option(names = "--host", paramLabel = "H", description = "Host name other nodes reach this one at (default 127.0.0.1).")
    String host = "127.0.0.1";

    @Option(names = "--port", paramLabel = "P", description = "Cluster port (default 25520).")
    int port = 25520;

    @Option(names = "--bind", paramLabel = "ADDR", description = "Address to bind to (default: --host; e.g. 0.0.0.0 in a container).")
    String bind;

    @Option(names = "--seeds", paramLabel = "H:P,...", split = ",", description = "Seed nodes (default: this node alone founds the cluster).")
    List<String> seeds = new ArrayList<>();

    @Option(names = "--bootstrap", paramLabel = "SERVICE", description = "Kubernetes: find the other nodes with Akka Management Cluster Bootstrap (pods labelled app=SERVICE, Kubernetes API) instead of --seeds; management HTTP on port 8558.")
    String bootstrap;

    @Option(names = "--total-solvers", paramLabel = "N", description = "Solvers in the whole cluster (default: runtime.solvers x number of seeds, at least runtime.solvers); the run fails only when all have stopped.")
    Integer totalSolvers;

    @Option(names = "--min-nodes", paramLabel = "N", description = "Members that must have joined before the training starts (default 1).")
    int minNodes = 1;

    @Option(names = "--min-solvers", paramLabel = "N", description = "Optimizer role: hand out no work before N solvers (of all nodes) have asked for it, when the run starts or resumes after a full stop (default 0: no waiting; not after a fail-over).")
    int minSolvers = 0;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment (HOCON), the same on every node.")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (optimizer role; default runs/cluster-<date>-<time>): new or empty, or the folder of an unfinished run, which then continues from its newest checkpoint.")
    Path out;

    @Option(names = "--solvers", paramLabel = "N", description = "Solver actors on this node (overrides bilevel.runtime.solvers).")
    Integer solvers;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Overrides any key under bilevel (repeatable).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = "--join-timeout", paramLabel = "DURATION", description = "Give up (exit code 5) when this node is not a member this long after its start, e.g. 30s or 2m; 0 = keep trying (default: bilevel.cluster.join-timeout, 0).")
    String joinTimeout;

    @Option(names = "--tls", description = "Artery over TLS with mutual authentication, stores from bilevel.cluster.tls.")
    boolean tls;

    @Option(names = "--tls-keystore", paramLabel = "FILE", description = "TLS key store (PKCS12/JKS) with this node's key pair; turns TLS on. Password: environment variable BILEVEL_TLS_PASSWORD.")
    Path tlsKeyStore;

    @Option(names = "--tls-truststore", paramLabel = "FILE", description = "TLS trust store with the certificates this node accepts; turns TLS on.")
    Path tlsTrustStore;

    @Option(names = "--exit-with", paramLabel = "PID", hidden = true, description = "Leave and stop when process PID exits (used by bench cluster for the nodes it starts).")
    Long exitWith;

    @Option(names = "--warm-up", paramLabel = "N", hidden = true, description = "Compute N hypergradients locally (untimed, discarded) before joining, so that the JIT has compiled the numerics (used by bench cluster).")
    int warmUp;

    @Option(names = "--quiet", description = "Print only the summary.")
    boolean quiet;

    /**
     * Akka settings of {@code bilevel.cluster.bootstrap}: the management port and where the Kubernetes API
     * discovery finds the service account's CA certificate, token and namespace.
     */
    static Config bootstrapAkkaConfig(Config b) {
        int managementPort = b.getInt("management-port");
        if (managementPort < 1 || managementPort > 65535) {
            throw new IllegalArgumentException("cluster.bootstrap.management-port must be in 1..65535, got " + managementPort);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("akka.management.http.port", managementPort);
        m.put("akka.discovery.kubernetes-api.api-ca-path", b.getString("api-ca-path"));
        m.put("akka.discovery.kubernetes-api.api-token-path", b.getString("api-token-path"));
        m.put("akka.discovery.kubernetes-api.pod-namespace-path", b.getString("namespace-path"));
        return ConfigFactory.parseMap(m);
    }

    @Override
    public Integer call() {
        Map<String, String> overrides = new LinkedHashMap<>(set);
        if (solvers != null) {
            if (solvers < 1) {
                throw new UsageException("--solvers must be at least 1, got " + solvers);
            }
            overrides.put("runtime.solvers", Integer.toString(solvers));
        }
        if (port < 1 || port > 65535) {
            throw new UsageException("--port must be in 1..65535, got " + port);
        }
        if (joinTimeout != null) {
            overrides.put("cluster.join-timeout", joinTimeout);
        }
        if (minSolvers < 0) {
            throw new UsageException("--min-solvers must be at least 0, got " + minSolvers);
        }
        Config merged;
        TrainingSpec ts;
        RuntimeSpec rt;
        try {
            merged = ExperimentConfig.load(config, overrides);
            ts = ExperimentConfig.toSpec(merged);
            rt = ExperimentConfig.toRuntimeSpec(merged);
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        if (rt.mode() != RuntimeSpec.Mode.ASYNC) {
            throw new UsageException("a cluster trains in async mode: set runtime.mode = async");
        }
        java.time.Duration join;
        ClusterTls tlsSettings;
        Config bootstrapAkka = ConfigFactory.empty();
        try {
            if (bootstrap != null) {
                bootstrapAkka = bootstrapAkkaConfig(merged.getConfig("cluster.bootstrap"));
            }
            join = merged.getDuration("cluster.join-timeout");
            if (join.isNegative()) {
                throw new UsageException("--join-timeout must not be negative, got " + joinTimeout);
            }
            tlsSettings = ClusterTls.fromConfig(merged.getConfig("cluster.tls"), tlsKeyStore, tlsTrustStore, tls,
                    System.getenv());
            if (tlsSettings != null) {
                tlsSettings.check();
            }
        } catch (com.typesafe.config.ConfigException e) {
            throw new UsageException("bad cluster setting: " + e.getMessage().replaceAll("\\s*[\\r\\n]+\\s*", " "));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Set<String> roleSet = new LinkedHashSet<>(roles);
        List<String> seedList = seeds.isEmpty() ? List.of(host + ":" + port) : seeds;
        ClusterNode.Settings settings;
        try {
            settings = new ClusterNode.Settings(roleSet, host, port, bind, seedList,
                    totalSolvers != null ? totalSolvers : rt.solvers() * Math.max(Math.max(1, minNodes), seedList.size()), minNodes, bootstrap,
                    minSolvers);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        boolean optimizer = roleSet.contains(ClusterNode.ROLE_OPTIMIZER);
        Path dir = out != null ? out : Path.of("runs", "cluster-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        try (TrainingData data = RunOutput.loadData(ts)) {
            if (optimizer) {
                if (isUnfinishedRun(dir)) {
                    java.util.Optional<bilevel.actors.Checkpoint> c;
                    try {
                        c = ClusterNode.checkResumable(ts, data, dir);
                    } catch (TrainingException e) {
                        throw new UsageException(e.getMessage());
                    }
                    if (!quiet) {
                        err.println("run folder " + dir + " holds an unfinished run (" + c.map(x -> "checkpoint of step "
                                + x.steps()).orElse("no checkpoint") + "): it continues from the most advanced checkpoint "
                                + "of the optimizer nodes, or from the replicated state of a running cluster");
                    }
                } else {
                    TrainCommand.checkOutput(dir);
                }
                TrainCommand.writeConfig(dir, merged);
            }
            if (!quiet) {
                err.println("node " + host + ":" + port + " roles " + roleSet + " seeds " + seedList + " data "
                        + data.fingerprint() + (tlsSettings != null ? " TLS " + tlsSettings.protocol() + " (mutual authentication)" : ""));
                err.flush();
            }
            if (exitWith != null) {
                // leave (CoordinatedShutdown on JVM exit) when the process that started this node is gone
                ProcessHandle.of(exitWith).ifPresentOrElse(p -> p.onExit().thenRun(() -> System.exit(ClusterNode.EXIT_LOST)),
                        () -> System.exit(ClusterNode.EXIT_LOST));
            }
            if (warmUp > 0) {
                warmUp(overrides, rt, data);
                warmUpMessaging(ts, tlsSettings != null ? tlsSettings.akkaConfig() : ConfigFactory.empty(), quiet ? null : err);
            }
            ClusterNode.Outcome o;
            try {
                o = ClusterNode.run(ts, rt, data, dir, settings, new TrainingRuntime.Options(quiet ? null : err,
                        false, bilevel.actors.Solver.Faults.NONE,
                        (tlsSettings != null ? tlsSettings.akkaConfig() : ConfigFactory.empty()).withFallback(bootstrapAkka)),
                        new ClusterNode.Extras(join, bilevel.actors.Sampler.Trace.NONE));
            } catch (TrainingException | UncheckedIOException e) {
                throw new UsageException(e.getMessage());
            }
            stdout.println(ClusterNode.summary(o));
            stdout.flush();
            if (o.result() != null) {
                return RunOutput.report(stdout, err, o.result(), ts, dir);
            }
            if (o.exitCode() != 0) {
                err.println("bilevel node: " + o.message());
                err.flush();
            }
            return o.exitCode();
        }
    }

    /** Round trips of {@link MessagingWarmUp} behind {@code --warm-up}. */
    public static final int MESSAGING_WARM_UP_ROUND_TRIPS = 2000;

    /**
     * {@code --warm-up}, second part: {@value #MESSAGING_WARM_UP_ROUND_TRIPS} round trips of θ-sized work-item
     * messages between two throw-away actor systems, so that Artery and the serializers are compiled too.
     */
    public static MessagingWarmUp.Result warmUpMessaging(TrainingSpec spec, Config transport, PrintWriter log) {
        return warmUpMessaging(spec, transport, 0, log);
    }

    /** As above, then {@code idleProbes} round trips after 100 ms without messages each ({@link MessagingWarmUp}). */
    public static MessagingWarmUp.Result warmUpMessaging(TrainingSpec spec, Config transport, int idleProbes, PrintWriter log) {
        int n = RegularizerFactory.create(spec.regularizer().type(),
                spec.regularizer().options()).numParams();
        MessagingWarmUp.Result r = MessagingWarmUp.run(transport, n,
                MESSAGING_WARM_UP_ROUND_TRIPS, idleProbes, Duration.ofMillis(100), Duration.ofSeconds(90));
        if (log != null) {
            log.printf(Locale.ROOT, "messaging warm-up: %d round trips of %d doubles in %.1f s, %.2f ms each at first, "
                    + "%.2f ms at the end%n", r.roundTrips(), n, r.seconds(), r.firstMillis(), r.lastMillis());
            if (idleProbes > 0) {
                log.printf(Locale.ROOT, "messaging floor: %.2f ms per round trip after 100 ms idle (median of %d)%n",
                        r.idleMillis(), idleProbes);
            }
            log.flush();
        }
        return r;
    }

    /** {@code --warm-up N}: N cold hypergradients of this node's data on its solvers, in a throw-away local run. */
    private void warmUp(Map<String, String> overrides, RuntimeSpec rt, TrainingData data) {
        Map<String, String> o = new LinkedHashMap<>(overrides);
        o.put("train.max-steps", Integer.toString(warmUp));
        o.put("train.budget", "0");
        Path tmp = null;
        try {
            TrainingSpec warm = ExperimentConfig.toSpec(ExperimentConfig.load(config, o));
            tmp = java.nio.file.Files.createTempDirectory("bilevel-node-warm-up-");
            TrainingRuntime.train(warm, rt.withMode(RuntimeSpec.Mode.ASYNC).withGroup(1).withRefine(0, 0.5, 0)
                    .withCheckpointEvery(0).withValidation(false), data, tmp.resolve("run"), TrainingRuntime.Options.quiet());
        } catch (ExperimentConfig.ConfigError | TrainingException e) {
            throw new UsageException("--warm-up: " + e.getMessage());
        } catch (java.io.IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (tmp != null) {
                try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(tmp)) {
                    for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        java.nio.file.Files.deleteIfExists(p);
                    }
                } catch (java.io.IOException ignored) {
                    // a temporary folder left behind
                }
            }
        }
    }

    /**
     * Whether {@code dir} is the folder of a run that has not finished (a config.conf, no model.json): a node
     * restarted with it continues the run (the data are checked against the checkpoint's fingerprint).
     */
    static boolean isUnfinishedRun(Path dir) {
        if (!java.nio.file.Files.isRegularFile(dir.resolve("config.conf"))) {
            return false;
        }
        if (java.nio.file.Files.exists(dir.resolve("model.json"))) {
            throw new UsageException("the run in " + dir + " has finished (model.json); give a new --out");
        }
        return true;
    }
}
