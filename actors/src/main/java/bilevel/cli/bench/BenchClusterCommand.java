package bilevel.cli.bench;

import bilevel.actors.ClusterNode;
import bilevel.actors.RuntimeSpec;
import bilevel.actors.Sampler;
import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.cli.VersionProvider;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.bench.MachineInfo;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code bilevel bench cluster}: what distributing the solvers over cluster nodes costs on this machine.
 *
 * <p>Every run trains the workload of {@code bench throughput} (every hypergradient a cold solve of its own
 * sample, async mode, groups of one, no validation) with the optimizer node in this JVM (role optimizer,
 * no solvers) and solver nodes in separate JVMs that this command starts ({@code bilevel node --roles
 * solver}, same class path, {@code -Dbilevel.threads=1}, {@code OMP_NUM_THREADS=1}) on 127.0.0.1 with
 * free ports, each warmed up with {@value #WARM_UP_HYPERGRADIENTS} untimed hypergradients before it joins
 * ({@code --warm-up}), in the layouts
 * <ul>
 *   <li>A: one solver node with 2 solvers;</li>
 *   <li>B: two solver nodes with 1 solver each;</li>
 *   <li>S: two solver nodes with 1 solver each and strict pulling ({@code runtime.prefetch = 1}),</li>
 * </ul>
 * run in the order A B, B A, A B, … ({@code --repeats} pairs; a drift of the shared machine's speed
 * during the command then weighs on both layouts alike), then S ({@link #plan}).
 * (a) The throughput ratio = mean hypergradients per second of the B runs / that of the A runs, in the
 * steady state (the answers after the first quarter of the items, so that the JIT warm-up of fresh JVMs
 * is left out); each pair's own ratio is reported too. (b) The round-trip overhead per work item at the
 * runtime's default prefetch (the B runs): the solver's time outside its solves, from its first item to
 * its last (handling around each solve plus any wait for the next item), over its summed solve time —
 * what the messaging of a work item costs a training. (b′) The round trip itself, from run S: the optimizer
 * side's time from handing an item out to the solver's answer ({@link bilevel.actors.Sampler.Trace}) minus
 * the solver's own solve time, summed over the items and divided by the summed solve time. With strict
 * pulling an item never waits behind another one at its solver, so the difference is messaging alone
 * (serialization, TCP, dispatch, both ways) and nothing overlaps it; with prefetch 2 the same difference
 * also holds the time an item waited in the solver's mailbox, so it is not an overhead there.
 *
 * <p>Child JVMs are stopped on every path: after the run they leave when the optimizer node asks them to;
 * on failure or Ctrl-C they get SIGTERM (a shutdown hook), then SIGKILL; they also stop by themselves
 * when this process is gone ({@code --exit-with}).
 */
@Command(name = "cluster",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Throughput of 2 one-solver nodes versus 1 node with 2 solvers (separate JVMs started by this command, "
                        + "the optimizer in this one), and the round-trip overhead per work item relative to its solve time.",
                "Targets: ratio >= 0.9, overhead < 2 %%. Every hypergradient is a cold solve of its own sample, as in bench throughput.",
                "Order: A B, B A, ... (--repeats pairs of 1 node x 2 solvers = A and 2 nodes x 1 solver = B), then 2 nodes with strict pulling.",
        })
public final class BenchClusterCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment whose problem is timed (default: the embedded one).")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Overrides a key under bilevel, e.g. --set regularizer.type=tv (repeatable).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = {"--hypergradients", "--samples"}, paramLabel = "M", defaultValue = "128",
            description = "Hypergradients per run (default: ${DEFAULT-VALUE}).")
    int hypergradients;

    @Option(names = "--size", paramLabel = "N", description = "Crop size N x N (sets data.crop and data.embedded.size; default: the experiment's).")
    Integer size;

    @Option(names = "--repeats", paramLabel = "R", defaultValue = "3",
            description = "Interleaved pairs of the two layouts whose throughputs are compared (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--trace", paramLabel = "DIR",
            description = "Also write every answered item's timings, one tab-separated file per run, into DIR (created).")
    Path traceDir;

    @Option(names = "--json", description = "Print one JSON document instead of the table.")
    boolean json;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "20m",
            description = "Give up on a run after this long (hang guard; default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--node-java-option", paramLabel = "OPT", hidden = true,
            description = "JVM option of the solver nodes (repeatable; default: this JVM's -Xmx and JavaCPP limits).")
    List<String> nodeJavaOptions = new ArrayList<>();

    /**
     * Untimed hypergradients each solver node computes before it joins ({@code --warm-up}): the same number
     * per JVM whatever its solver count, since the JIT compiles per JVM (with 4 per solver, the one-solver
     * JVMs were ≈ 10 % slower per hypergradient than the two-solver JVM, which had run twice as many).
     */
    static final int WARM_UP_HYPERGRADIENTS = 16;

    /** Round trips after 100 ms idle that measure the messaging floor (plain Artery, no runtime logic). */
    static final int FLOOR_PROBES = 25;

    /** One layout of solver nodes. */
    public record Layout(String name, int nodes, int solversPerNode, int prefetch) {
    }

    public static final Layout ONE_NODE = new Layout("1 node x 2 solvers", 1, 2, 2);
    public static final Layout TWO_NODES = new Layout("2 nodes x 1 solver", 2, 1, 2);
    public static final Layout STRICT = new Layout("2 nodes x 1 solver, prefetch 1", 2, 1, 1);

    /**
     * The runs in their order: {@code repeats} pairs of {@link #ONE_NODE} and {@link #TWO_NODES}, the second
     * pair in the opposite order of the first and so on (A B, B A, A B, …), then {@link #STRICT}.
     */
    public static List<Layout> plan(int repeats) {
        List<Layout> order = new ArrayList<>();
        for (int r = 0; r < repeats; r++) {
            order.addAll(r % 2 == 0 ? List.of(ONE_NODE, TWO_NODES) : List.of(TWO_NODES, ONE_NODE));
        }
        order.add(STRICT);
        return order;
    }

    /** Mean of {@code values}; NaN if empty or any is NaN. */
    public static double mean(List<Double> values) {
        return values.isEmpty() ? Double.NaN : values.stream().mapToDouble(Double::doubleValue).sum() / values.size();
    }

    /**
     * One timed run.
     *
     * @param order                         its place in the command's sequence of runs (1: first; see {@link #plan})
     * @param hypergradientsPerSecond       applied hypergradients / wall time from the first item to the last update
     * @param steadyHypergradientsPerSecond answers after the first quarter of the items / their time span
     * @param outsideNumericsFraction       1 − solver numerics time / (solvers × wall time)
     * @param tracedItems                   items whose answer the optimizer side saw
     * @param meanRoundTripMilliseconds     hand-out to answer, as the optimizer side sees it (with prefetch 2 it
     *                                      includes the wait behind the solver's previous item)
     * @param roundTripOverheadFraction     Σ(round trip − solve) / Σ solve
     * @param meanOutboundMilliseconds      hand-out to the solver's actor starting on the item (same host clock)
     * @param meanSolverSideMilliseconds    on the solver around the solve: start of handling to its next request,
     *                                      minus the solve
     * @param meanInboundMilliseconds       the solver's next request to the answer reaching the optimizer side
     * @param meanSolverLostMilliseconds    per item, the solver's time outside its solves (its own clock): handling
     *                                      around the solve plus the wait for the next item, first item to last
     * @param solverLostFraction            that time summed over the items / their summed solve time: what
     *                                      messaging costs a training at this prefetch
     */
    public record Run(int order, String layout, int nodes, int solversPerNode, int prefetch, long hypergradients, double seconds,
                      double hypergradientsPerSecond, double steadyHypergradientsPerSecond, double numericsSeconds,
                      double millisecondsPerHypergradient, double outsideNumericsFraction, int tracedItems,
                      double meanSolveMilliseconds, double meanRoundTripMilliseconds, double meanOverheadMilliseconds,
                      double medianOverheadMilliseconds, double roundTripOverheadFraction, double meanOutboundMilliseconds,
                      double meanSolverSideMilliseconds, double meanInboundMilliseconds, double meanSolverLostMilliseconds,
                      double solverLostFraction) {
    }

    /** The report (the JSON document). */
    public record Report(String version, MachineInfo machine, double loadAverageBefore, double loadAverageAfter,
                         String regularizer, String dtype, int crop, String operator, double epsilon,
                         int hypergradientsPerRun, int repeats, List<Run> runs, double throughputRatio,
                         List<Double> pairThroughputRatios, double wholeRunThroughputRatio,
                         double targetThroughputRatio, double solverLostFraction, double meanSolverLostMilliseconds,
                         double targetRoundTripOverheadFraction, double roundTripOverheadFraction,
                         double meanRoundTripOverheadMilliseconds, double meanSolveMilliseconds,
                         double messagingFloorMilliseconds) {
        public Report {
            runs = List.copyOf(runs);
            pairThroughputRatios = List.copyOf(pairThroughputRatios);
        }
    }

    private final List<Process> children = new ArrayList<>();

    @Override
    public Integer call() throws IOException {
        if (hypergradients < 4) {
            throw new UsageException("--hypergradients must be at least 4, got " + hypergradients);
        }
        if (repeats < 1) {
            throw new UsageException("--repeats must be at least 1, got " + repeats);
        }
        Duration limit;
        try {
            limit = com.typesafe.config.ConfigFactory.parseString("t = \"" + timeout.replace("\"", "") + "\"").getDuration("t");
        } catch (com.typesafe.config.ConfigException e) {
            throw new UsageException("--timeout must be a duration such as 20m or 90s, got '" + timeout + "'");
        }
        if (size != null) {
            if (size < 4) {
                throw new UsageException("--size must be at least 4, got " + size);
            }
            set.put("data.crop", Integer.toString(size));
            set.put("data.embedded.size", Integer.toString(size));
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (traceDir != null) {
            try {
                Files.createDirectories(traceDir);
            } catch (IOException e) {
                throw new UsageException("--trace: cannot create " + traceDir + ": " + e.getMessage());
            }
        }
        TrainingSpec timed = BenchThroughputCommand.spec(config, set, hypergradients);
        Map<String, String> nodeOverrides = BenchThroughputCommand.workload(set, hypergradients);
        nodeOverrides.put("runtime.mode", "async");
        RuntimeSpec base;
        try {
            base = ExperimentConfig.toRuntimeSpec(ExperimentConfig.load(config, set));
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        RuntimeSpec rt = base.withMode(RuntimeSpec.Mode.ASYNC).withGroup(1).withRefine(0, 0.5, 0).withCheckpointEvery(0)
                .withValidation(false);
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        Path scratch = Files.createTempDirectory("bilevel-bench-cluster-");
        Path logs = Files.createDirectories(scratch.resolve("logs"));
        Thread hook = new Thread(() -> {
            // Ctrl-C / SIGTERM: stop the solver nodes and remove the scratch folder (best effort)
            stopChildren();
            BenchThroughputCommand.deleteTree(scratch);
        }, "bench-cluster-children");
        Runtime.getRuntime().addShutdownHook(hook);
        List<Run> runs = new ArrayList<>();
        double floor = Double.NaN;
        boolean ok = false;
        try (TrainingData data = BenchThroughputCommand.load(timed)) {
            // the optimizer side's messaging path is compiled before the first timed run, as the nodes' is (--warm-up)
            floor = bilevel.cli.train.NodeCommand.warmUpMessaging(timed, com.typesafe.config.ConfigFactory.empty(),
                    FLOOR_PROBES, err).idleMillis();
            List<Layout> plan = plan(repeats);
            for (int i = 0; i < plan.size(); i++) {
                Layout layout = plan.get(i);
                err.printf(Locale.ROOT, "run %d/%d: %s (%d hypergradients, %s %s %dx%d)%n", i + 1, plan.size(),
                        layout.name(), hypergradients, timed.regularizer().type(), timed.dtype(), timed.data().crop(),
                        timed.data().crop());
                err.flush();
                runs.add(run(layout, i + 1, timed, rt, data, nodeOverrides, scratch, logs, limit));
            }
            ok = true;
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        } finally {
            stopChildren();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
            if (ok) {
                BenchThroughputCommand.deleteTree(scratch);
            } else {
                err.println("bench cluster: node logs kept in " + logs);
                err.flush();
            }
        }
        double loadAfter = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<Run> ones = runs.stream().filter(r -> r.layout().equals(ONE_NODE.name())).toList();
        List<Run> twos = runs.stream().filter(r -> r.layout().equals(TWO_NODES.name())).toList();
        Run strict = runs.get(runs.size() - 1);
        List<Double> pairRatios = new ArrayList<>();
        for (int p = 0; p < repeats; p++) {
            pairRatios.add(steadyOrWhole(twos.get(p)) / steadyOrWhole(ones.get(p)));
        }
        double ratio = mean(twos.stream().map(BenchClusterCommand::steadyOrWhole).toList())
                / mean(ones.stream().map(BenchClusterCommand::steadyOrWhole).toList());
        double wholeRatio = mean(twos.stream().map(Run::hypergradientsPerSecond).toList())
                / mean(ones.stream().map(Run::hypergradientsPerSecond).toList());
        Report report = new Report(VersionProvider.version(), MachineInfo.current(), loadBefore, loadAfter,
                timed.regularizer().type(), timed.dtype(), timed.data().crop(), timed.problem().operator(),
                bilevel.numerics.upper.Schedule.parse(timed.train().accuracy()).at(0), hypergradients, repeats, runs, ratio,
                pairRatios, wholeRatio, 0.9, mean(twos.stream().map(Run::solverLostFraction).toList()),
                mean(twos.stream().map(Run::meanSolverLostMilliseconds).toList()), 0.02, strict.roundTripOverheadFraction(),
                strict.meanOverheadMilliseconds(), strict.meanSolveMilliseconds(), floor);
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            print(out, report);
        }
        out.flush();
        return 0;
    }

    /** Steady-state hypergradients per second of {@code run}, or its whole-run rate when too few answers. */
    private static double steadyOrWhole(Run run) {
        return Double.isFinite(run.steadyHypergradientsPerSecond()) ? run.steadyHypergradientsPerSecond()
                : run.hypergradientsPerSecond();
    }

    private static void print(PrintWriter out, Report r) {
        out.printf(Locale.ROOT, "%s (%s, %s %dx%d), %d cold hypergradients per run, %d cores, load %.1f -> %.1f%n",
                r.regularizer(), r.dtype(), r.operator(), r.crop(), r.crop(), r.hypergradientsPerRun(), r.machine().cores(),
                r.loadAverageBefore(), r.loadAverageAfter());
        out.println("optimizer node in this JVM; solver nodes in separate JVMs (-Dbilevel.threads=1, OMP_NUM_THREADS=1)");
        out.printf(Locale.ROOT, "%-4s %-32s %9s %12s %12s %13s %17s%n", "run", "solver nodes", "seconds", "hypergrad/s",
                "steady hg/s", "ms/hypergrad", "outside numerics");
        for (Run run : r.runs()) {
            out.printf(Locale.ROOT, "%-4d %-32s %9.2f %12.2f %12.2f %13.1f %16.2f%%%n", run.order(), run.layout(), run.seconds(),
                    run.hypergradientsPerSecond(), run.steadyHypergradientsPerSecond(), run.millisecondsPerHypergradient(),
                    100 * run.outsideNumericsFraction());
        }
        StringBuilder pairs = new StringBuilder();
        for (double p : r.pairThroughputRatios()) {
            pairs.append(pairs.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.2f", p));
        }
        out.printf(Locale.ROOT, "(a) throughput ratio 2 nodes / 1 node: %.2f steady, over %d interleaved pair%s (pairs: %s; "
                        + "whole runs %.2f; target >= %.1f)%n", r.throughputRatio(), r.repeats(), r.repeats() == 1 ? "" : "s",
                pairs, r.wholeRunThroughputRatio(), r.targetThroughputRatio());
        out.printf(Locale.ROOT, "(b) round-trip overhead per work item at the default prefetch %d (2 nodes): %.2f ms = %.2f %% "
                        + "of the solve (target < %.0f %%): the solver's time outside its solves%n", TWO_NODES.prefetch(),
                r.meanSolverLostMilliseconds(), 100 * r.solverLostFraction(), 100 * r.targetRoundTripOverheadFraction());
        Run strict = r.runs().get(r.runs().size() - 1);
        out.printf(Locale.ROOT, "    the round trip itself, strict pulling (prefetch 1, nothing overlaps it): %.2f ms on a %.1f ms "
                        + "solve = %.2f %% (median %.2f ms)%n", r.meanRoundTripOverheadMilliseconds(), r.meanSolveMilliseconds(),
                100 * r.roundTripOverheadFraction(), strict.medianOverheadMilliseconds());
        out.printf(Locale.ROOT, "    of which: to the solver %.2f ms, on the solver around the solve %.2f ms, back %.2f ms%n",
                strict.meanOutboundMilliseconds(), strict.meanSolverSideMilliseconds(), strict.meanInboundMilliseconds());
        out.printf(Locale.ROOT, "    messaging floor: %.2f ms per round trip of the same messages between two idle actor systems "
                + "(no runtime logic; median after 100 ms pauses)%n", r.messagingFloorMilliseconds());
    }

    /** One timed run: the optimizer node here, {@code layout.nodes()} solver node JVMs. */
    private Run run(Layout layout, int order, TrainingSpec timed, RuntimeSpec rt, TrainingData data, Map<String, String> nodeOverrides,
                    Path scratch, Path logs, Duration limit) throws IOException {
        int port = freePort();
        String seed = "127.0.0.1:" + port;
        String tag = order + "-" + layout.nodes() + "x" + layout.solversPerNode() + "-p" + layout.prefetch();
        List<Process> mine = new ArrayList<>();
        List<Path> logFiles = new ArrayList<>();
        for (int i = 0; i < layout.nodes(); i++) {
            Path log = logs.resolve(tag + "-node-" + (i + 1) + ".log");
            logFiles.add(log);
            mine.add(startNode(freePort(), seed, layout, nodeOverrides, log));
        }
        ConcurrentLinkedQueue<Sampler.Answer> trace = new ConcurrentLinkedQueue<>();
        CompletableFuture<Void> stop = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicReference<String> failure = new java.util.concurrent.atomic.AtomicReference<>();
        long deadline = System.nanoTime() + limit.toNanos();
        CompletableFuture<ClusterNode.Outcome> outcome = new CompletableFuture<>();
        Thread watchdog = new Thread(() -> {
            while (!outcome.isDone()) {
                for (int i = 0; i < mine.size(); i++) {
                    Process p = mine.get(i);
                    if (!p.isAlive() && p.exitValue() != 0 && failure.compareAndSet(null, "solver node " + (i + 1)
                            + " exited with code " + p.exitValue() + " before the run finished (" + logFiles.get(i) + ")")) {
                        stop.complete(null);
                    }
                }
                if (System.nanoTime() > deadline && failure.compareAndSet(null, "no result within " + timeout + " (--timeout)")) {
                    stop.complete(null);
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "bench-cluster-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        ClusterNode.Outcome o;
        try {
            ClusterNode.Settings settings = new ClusterNode.Settings(Set.of(ClusterNode.ROLE_OPTIMIZER), "127.0.0.1", port,
                    null, List.of(seed), layout.nodes() * layout.solversPerNode(), 1 + layout.nodes(), null);
            o = ClusterNode.run(timed, rt.withPrefetch(layout.prefetch()), data, scratch.resolve(tag), settings,
                    TrainingRuntime.Options.quiet(), new ClusterNode.Extras(Duration.ZERO,
                            trace::add, stop));
        } finally {
            outcome.complete(null);
        }
        for (int i = 0; i < mine.size(); i++) {
            Process p = mine.get(i);
            try {
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroy();
                    if (!p.waitFor(10, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
        if (o.result() == null) {
            throw new UsageException("bench cluster: the run with " + layout.name() + " failed: "
                    + (failure.get() != null ? failure.get() : o.message()));
        }
        TrainingRuntime.Result r = o.result();
        int solvers = layout.nodes() * layout.solversPerNode();
        double wall = r.trainingSeconds();
        List<Sampler.Answer> items = new ArrayList<>(trace);
        if (traceDir != null) {
            writeTrace(traceDir.resolve("run-" + tag + ".tsv"), items);
        }
        long[] answered = items.stream().mapToLong(Sampler.Answer::answeredNanos).sorted().toArray();
        double sumSolve = 0;
        double sumTrip = 0;
        double sumOut = 0;
        double sumSide = 0;
        double sumIn = 0;
        int split = 0;
        List<Double> overheads = new ArrayList<>();
        Map<Integer, List<Sampler.Answer>> bySolver = new TreeMap<>();
        for (Sampler.Answer x : items) {
            if (x.solveNanos() >= 0) {
                sumSolve += x.solveNanos();
                sumTrip += x.answeredNanos() - x.handedOutNanos();
                overheads.add((x.answeredNanos() - x.handedOutNanos() - x.solveNanos()) / 1e6);
                if (x.receivedNanos() > 0 && x.repliedNanos() > 0) {
                    sumOut += x.receivedNanos() - x.handedOutNanos();
                    sumSide += x.repliedNanos() - x.receivedNanos() - x.solveNanos();
                    sumIn += x.answeredNanos() - x.repliedNanos();
                    split++;
                    bySolver.computeIfAbsent(x.solverId(), k -> new ArrayList<>()).add(x);
                }
            }
        }
        // the solvers' own view (one clock per solver): time on the solver outside the solves, from its first
        // item to its last — handling around each solve plus the gaps in which it had no item to work on
        double lost = 0;
        double lostSolve = 0;
        for (List<Sampler.Answer> one : bySolver.values()) {
            one.sort(Comparator.comparingLong(Sampler.Answer::receivedNanos));
            for (int i = 0; i < one.size(); i++) {
                Sampler.Answer x = one.get(i);
                lost += x.repliedNanos() - x.receivedNanos() - x.solveNanos();
                lostSolve += x.solveNanos();
                if (i > 0) {
                    lost += Math.max(0, x.receivedNanos() - one.get(i - 1).repliedNanos());
                }
            }
        }
        int n = overheads.size();
        double[] sorted = overheads.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = n == 0 ? Double.NaN : n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        return new Run(order, layout.name(), layout.nodes(), layout.solversPerNode(), layout.prefetch(), r.steps(), wall,
                r.steps() / wall, steadyRate(answered), r.numericsSeconds(), 1e3 * r.secondsPerHypergradient(),
                Math.max(0, 1 - r.numericsSeconds() / (solvers * wall)), items.size(),
                n == 0 ? Double.NaN : sumSolve / n / 1e6, n == 0 ? Double.NaN : sumTrip / n / 1e6,
                n == 0 ? Double.NaN : (sumTrip - sumSolve) / n / 1e6, median,
                sumSolve > 0 ? (sumTrip - sumSolve) / sumSolve : Double.NaN,
                split == 0 ? Double.NaN : sumOut / split / 1e6, split == 0 ? Double.NaN : sumSide / split / 1e6,
                split == 0 ? Double.NaN : sumIn / split / 1e6,
                split == 0 ? Double.NaN : lost / split / 1e6, lostSolve > 0 ? lost / lostSolve : Double.NaN);
    }

    /**
     * One line per answered item, in hand-out order: its id, solver, and in milliseconds the hand-out → the
     * solver's start on it ({@code out}), the solver's time around the solve ({@code around}), its next request
     * → the optimizer side ({@code back}) and the solve; −1 where the solver's timestamps are unknown.
     */
    static void writeTrace(Path file, List<Sampler.Answer> items) throws IOException {
        List<Sampler.Answer> sorted = new ArrayList<>(items);
        sorted.sort(Comparator.comparingLong(Sampler.Answer::handedOutNanos));
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            w.println("work_id\tsolver\tout_ms\taround_ms\tback_ms\tsolve_ms");
            for (Sampler.Answer x : sorted) {
                boolean split = x.receivedNanos() > 0 && x.repliedNanos() > 0 && x.solveNanos() >= 0;
                w.printf(Locale.ROOT, "%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f%n", x.workId(), x.solverId(),
                        split ? (x.receivedNanos() - x.handedOutNanos()) / 1e6 : -1,
                        split ? (x.repliedNanos() - x.receivedNanos() - x.solveNanos()) / 1e6 : -1,
                        split ? (x.answeredNanos() - x.repliedNanos()) / 1e6 : -1,
                        x.solveNanos() >= 0 ? x.solveNanos() / 1e6 : -1);
            }
        }
    }

    /**
     * Answers per second after the first quarter: (n − 1 − k) answers over the span from answer k to answer
     * n − 1 (k = ⌊n/4⌋, answer times sorted); NaN with fewer than 3 answers.
     */
    public static double steadyRate(long[] answeredSorted) {
        int n = answeredSorted.length;
        int k = n / 4;
        if (n - k < 2 || n < 3) {
            return Double.NaN;
        }
        double span = (answeredSorted[n - 1] - answeredSorted[k]) / 1e9;
        return span > 0 ? (n - 1 - k) / span : Double.NaN;
    }

    private Process startNode(int port, String seed, Layout layout, Map<String, String> overrides, Path log) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(nodeJavaOptions.isEmpty() ? inheritedJavaOptions() : nodeJavaOptions);
        cmd.add("-Dbilevel.threads=1");
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "bilevel.cli.Main", "node",
                "--roles", ClusterNode.ROLE_SOLVER, "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--seeds", seed, "--min-nodes", Integer.toString(1 + layout.nodes()),
                "--solvers", Integer.toString(layout.solversPerNode()), "--join-timeout", "120s",
                "--warm-up", Integer.toString(WARM_UP_HYPERGRADIENTS),
                "--exit-with", Long.toString(ProcessHandle.current().pid()), "--quiet"));
        if (config != null) {
            cmd.addAll(List.of("--config", config.toAbsolutePath().toString()));
        }
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            cmd.addAll(List.of("--set", e.getKey() + "=" + e.getValue()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        synchronized (children) {
            Process p = pb.start();
            children.add(p);
            return p;
        }
    }

    /** This JVM's heap limit and JavaCPP limits, for the solver nodes (their own defaults otherwise). */
    private static List<String> inheritedJavaOptions() {
        List<String> opts = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-Xmx") || a.startsWith("-Dorg.bytedeco.javacpp.") || a.startsWith("-Djava.awt.headless")) {
                opts.add(a);
            }
        }
        return opts;
    }

    /** SIGTERM to every child still running (they leave gracefully), then SIGKILL to any left after 10 s. */
    private void stopChildren() {
        List<Process> alive;
        synchronized (children) {
            alive = children.stream().filter(Process::isAlive).toList();
        }
        alive.forEach(Process::destroy);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (Process p : alive) {
            try {
                p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
    }

    private static final Random PORTS = new Random();

    /**
     * A port free now, below Linux's ephemeral range (32768–60999): a port from {@code new ServerSocket(0)}
     * is often taken again by an outgoing connection before the node binds it.
     */
    static synchronized int freePort() throws IOException {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = 20000 + PORTS.nextInt(12000);
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException taken) {
                // try another
            }
        }
        throw new IOException("no free port in 20000..31999");
    }
}
