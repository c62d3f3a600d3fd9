package bilevel.cluster;

import bilevel.numerics.train.ModelFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multi-process cluster tests: every node is a separate JVM ({@code bilevel node}) on 127.0.0.1 with
 * ports picked at run time; small embedded TV problem (async mode). Robust on a loaded machine: the
 * training starts only when all three solvers have asked for work ({@code --min-solvers 3}), and every
 * kill or stop is triggered by the run's progress (lines in its metrics file), never by a sleep, with a
 * run long enough (80 updates) that it always happens mid-run. Part of {@code mvn -B verify}; tagged, so
 * that {@code -DexcludedGroups=cluster} skips it.
 */
@Tag("cluster")
class ClusterProcessTest {

    @TempDir
    Path dir;

    /** Updates of every run. */
    private static final int STEPS = 80;
    /** Progress (accepted updates in the metrics file) at which a node is killed or the cluster stopped. */
    private static final int KILL_AT = 6;

    private static final Pattern COMPUTED = Pattern.compile("this node computed (\\d+) hypergradients");
    private static final Pattern PSNR = Pattern.compile("validation PSNR ([0-9.]+) dB");
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path config(Path dir, int steps) throws IOException {
        Path tiny;
        try {
            tiny = Path.of(ClusterProcessTest.class.getResource("/tiny-train.conf").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Path c = dir.resolve("cluster.conf");
        Files.writeString(c, "include file(\"" + tiny.toAbsolutePath() + "\")\n"
                + "bilevel.runtime { mode = async, solvers = 1, work-timeout = 5s }\n"
                + "bilevel.train { max-steps = " + steps + ", validate-every = 10 }\n");
        return c;
    }

    private static final java.util.Random PORTS = new java.util.Random();

    /**
     * A port free now, below Linux's ephemeral range (32768–60999): a port from {@code new ServerSocket(0)}
     * is often taken again by an outgoing connection before the node binds it.
     */
    static synchronized int freePort() throws IOException {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = 20000 + PORTS.nextInt(12000);
            try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException taken) {
                // try another
            }
        }
        throw new IOException("no free port in 20000..31999");
    }

    record Node(Process process, Path log, int port) {
        String text() throws IOException {
            return Files.readString(log);
        }

        int awaitExit(Duration d) throws Exception {
            if (!process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("node " + port + " did not stop in time:\n" + tail(text()));
            }
            return process.exitValue();
        }
    }

    static String tail(String s) {
        return s.length() <= 6000 ? s : s.substring(s.length() - 6000);
    }

    Node start(String name, int port, List<String> args) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx384m", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), "bilevel.cli.Main", "node", "--port", Integer.toString(port),
                "--quiet"));
        cmd.addAll(args);
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        return new Node(pb.start(), log, port);
    }

    static long computed(Node n) throws IOException {
        Matcher m = COMPUTED.matcher(n.text());
        assertTrue(m.find(), "no summary from node " + n.port() + ":\n" + tail(n.text()));
        return Long.parseLong(m.group(1));
    }

    static double psnr(Node n) throws IOException {
        Matcher m = PSNR.matcher(n.text());
        assertTrue(m.find(), "no PSNR from node " + n.port() + ":\n" + tail(n.text()));
        return Double.parseDouble(m.group(1));
    }

    /** The step numbers of a metrics file, in file order (a line torn by a kill is skipped). */
    static List<Long> steps(Path metrics) throws IOException {
        List<Long> steps = new ArrayList<>();
        if (!Files.exists(metrics)) {
            return steps;
        }
        for (String line : Files.readAllLines(metrics)) {
            try {
                JsonNode n = JSON.readTree(line);
                if (n != null && n.has("step")) {
                    steps.add(n.get("step").asLong());
                }
            } catch (IOException torn) {
                // the last line, cut by SIGKILL
            }
        }
        return steps;
    }

    private long phaseStart = System.nanoTime();

    /** Prints how long the phase that ends now took (the test's output, for the record). */
    private void phase(String name) {
        long now = System.nanoTime();
        System.out.printf("ClusterProcessTest phase '%s': %.1f s%n", name, (now - phaseStart) * 1e-9);
        phaseStart = now;
    }

    static List<Long> range(long from, long to) {
        return LongStream.range(from, to).boxed().toList();
    }

    /**
     * Waits until one of the metrics files has at least {@code k} lines (while every node in {@code alive}
     * runs); returns its index.
     */
    static int awaitProgress(int k, List<Path> metrics, List<Node> alive) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (System.nanoTime() < deadline) {
            for (Node n : alive) {
                assertTrue(n.process().isAlive(), "node " + n.port() + " stopped before the run reached " + k
                        + " updates:\n" + tail(n.text()));
            }
            for (int i = 0; i < metrics.size(); i++) {
                if (Files.exists(metrics.get(i)) && steps(metrics.get(i)).size() >= k) {
                    return i;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no run reached " + k + " updates in 3 minutes");
    }

    /** Three distinct free ports, ascending (the lowest address is the oldest member: it runs the singleton). */
    static int[] ports() throws IOException {
        int[] p = new int[3];
        do {
            for (int i = 0; i < 3; i++) {
                p[i] = freePort();
            }
            java.util.Arrays.sort(p);
        } while (p[0] == p[1] || p[1] == p[2]);
        return p;
    }

    /** Nodes 1 (roles {@code roles1}, run folder {@code out1}), 2 ({@code roles2}, {@code out2}) and 3 (solver). */
    List<Node> cluster(Path conf, String prefix, String roles1, Path out1, String roles2, Path out2) throws IOException {
        int[] p = ports();
        String seed = "127.0.0.1:" + p[0];
        List<String> common = List.of("--config", conf.toString(), "--min-nodes", "3", "--min-solvers", "3");
        List<Node> nodes = new ArrayList<>();
        List<String> a1 = new ArrayList<>(List.of("--roles", roles1, "--out", out1.toString()));
        a1.addAll(common);
        nodes.add(start(prefix + "1", p[0], a1));
        List<String> a2 = new ArrayList<>(List.of("--roles", roles2, "--seeds", seed));
        if (out2 != null) {
            a2.addAll(List.of("--out", out2.toString()));
        }
        a2.addAll(common);
        nodes.add(start(prefix + "2", p[1], a2));
        List<String> a3 = new ArrayList<>(List.of("--roles", "solver", "--seeds", seed));
        a3.addAll(common);
        nodes.add(start(prefix + "3", p[2], a3));
        return nodes;
    }

    /** One optimizer+solver node writing {@code out} and two solver nodes. */
    List<Node> cluster(Path conf, Path out, String prefix) throws IOException {
        return cluster(conf, prefix, "optimizer,solver", out, "solver", null);
    }

    /**
     * (1) three nodes train together and every node computes hypergradients; a node with other data (another
     * seed: other crops and noise) is refused and exits 3; (2) a solver node killed with SIGKILL mid-run: the
     * run completes on the others; (3) the node running the optimizer singleton killed with SIGKILL mid-run:
     * the singleton restarts on the other optimizer-role node from the replicated state, no accepted update
     * is lost, the metrics continue there without a repeated step, and the run completes; (4) the final
     * validation PSNR of (2) and (3) is within 0.1 dB of (1)'s.
     */
    @Test
    void threeNodesTrainTogetherSurviveKilledNodesAndLoseNoAcceptedUpdate() throws Exception {
        Path conf = config(dir, STEPS);

        // (1) undisturbed
        Path out = dir.resolve("run");
        List<Node> nodes = cluster(conf, out, "a");
        Node foreign = start("foreign", freePort(), List.of("--roles", "solver", "--seeds", "127.0.0.1:" + nodes.get(0).port(),
                "--config", conf.toString(), "--set", "seed=4"));
        for (Node n : nodes) {
            assertEquals(0, n.awaitExit(Duration.ofMinutes(3)), "node " + n.port() + ":\n" + tail(n.text()));
        }
        assertEquals(3, foreign.awaitExit(Duration.ofMinutes(1)), tail(foreign.text()));
        assertTrue(foreign.text().contains("refused by the cluster"), tail(foreign.text()));
        long total = 0;
        for (Node n : nodes) {
            long c = computed(n);
            assertTrue(c > 0, "node " + n.port() + " computed no hypergradient:\n" + tail(n.text()));
            total += c;
        }
        assertTrue(total >= STEPS, "one hypergradient per update at least: " + total);
        assertEquals(range(0, STEPS), steps(out.resolve("metrics.jsonl")));
        assertTrue(ModelFile.read(out.resolve("model.json")).theta().length > 0);
        double undisturbed = psnr(nodes.get(0));
        phase("undisturbed");

        // (2) kill -9 of a solver node mid-run
        Path out2 = dir.resolve("run-killed");
        List<Node> second = cluster(conf, out2, "b");
        awaitProgress(KILL_AT, List.of(out2.resolve("metrics.jsonl")), second);
        second.get(2).process().destroyForcibly();
        assertEquals(0, second.get(0).awaitExit(Duration.ofMinutes(3)), tail(second.get(0).text()));
        assertEquals(0, second.get(1).awaitExit(Duration.ofMinutes(1)), tail(second.get(1).text()));
        assertTrue(computed(second.get(1)) > 0);
        assertEquals(range(0, STEPS), steps(out2.resolve("metrics.jsonl")));
        assertTrue(Files.exists(out2.resolve("model.json")));
        double killed = psnr(second.get(0));
        phase("solver node killed");

        // (3) kill -9 of the node running the optimizer singleton: the other optimizer-role node takes over
        // from the state replicated with Distributed Data
        Path outA = dir.resolve("run-a"), outB = dir.resolve("run-b");
        List<Node> third = cluster(conf, "c", "optimizer,solver", outA, "optimizer,solver", outB);
        List<Path> metrics = List.of(outA.resolve("metrics.jsonl"), outB.resolve("metrics.jsonl"));
        int host = awaitProgress(KILL_AT, metrics, third);
        Node victim = third.get(host), heir = third.get(1 - host);
        victim.process().destroyForcibly();
        victim.process().waitFor();
        List<Long> before = steps(metrics.get(host));
        long announced = before.get(before.size() - 1) + 1;
        assertEquals(range(0, announced), before);
        assertEquals(0, heir.awaitExit(Duration.ofMinutes(3)), tail(heir.text()));
        assertEquals(0, third.get(2).awaitExit(Duration.ofMinutes(1)), tail(third.get(2).text()));
        Matcher m = Pattern.compile("continued from the replicated state of step (\\d+)").matcher(heir.text());
        assertTrue(m.find(), "the new singleton did not continue from the replicated state:\n" + tail(heir.text()));
        long restored = Long.parseLong(m.group(1));
        long lost = Math.max(0, announced - restored);
        System.out.printf("optimizer node killed after %d accepted updates (its metrics file); the new singleton "
                + "continued from step %d: %d accepted updates lost, %d step(s) replicated but without a metrics line%n",
                announced, restored, lost, Math.max(0, restored - announced));
        assertEquals(0, lost, "accepted updates lost in the fail-over");
        // the metrics continue on the new optimizer node's disk from the replicated step: none repeated
        assertEquals(range(restored, STEPS), steps(metrics.get(1 - host)));
        assertTrue(Files.exists((host == 0 ? outB : outA).resolve("model.json")));
        assertFalse(Files.exists((host == 0 ? outA : outB).resolve("model.json")));
        double failedOver = psnr(heir);
        phase("optimizer node killed");

        System.out.printf("validation PSNR: undisturbed %.3f dB, solver node killed %.3f dB, optimizer node killed "
                + "%.3f dB%n", undisturbed, killed, failedOver);
        assertEquals(undisturbed, killed, 0.1, "validation PSNR of the run with a killed solver node");
        assertEquals(undisturbed, failedOver, 0.1, "validation PSNR after the optimizer's node was lost");
    }

    /**
     * SIGTERM of the node running the optimizer singleton: it writes a checkpoint and the singleton moves to
     * the other optimizer-role node, which continues without a lost or repeated step. Then a full stop
     * (SIGTERM to the remaining nodes) and a restart of all nodes with the same run folders: the run
     * continues from the most advanced checkpoint — the one on the disk of the node that ran the singleton
     * last, published to the other one through Distributed Data — not from the start, and the metrics files
     * of the two optimizer nodes together hold every step exactly once.
     */
    @Test
    void aStoppedClusterContinuesFromTheMostAdvancedCheckpointWhenRestarted() throws Exception {
        Path conf = config(dir, STEPS);
        Path outA = dir.resolve("run-a"), outB = dir.resolve("run-b");
        List<Path> metrics = List.of(outA.resolve("metrics.jsonl"), outB.resolve("metrics.jsonl"));
        List<Node> first = cluster(conf, "d", "optimizer,solver", outA, "optimizer,solver", outB);
        int host = awaitProgress(KILL_AT, metrics, first);
        Node stopped = first.get(host), heir = first.get(1 - host);
        stopped.process().destroy();   // SIGTERM: checkpoint, leave; the singleton moves to the heir
        stopped.awaitExit(Duration.ofMinutes(2));
        List<Long> ofStopped = steps(metrics.get(host));
        awaitProgress(3, List.of(metrics.get(1 - host)), List.of(heir, first.get(2)));
        phase("until the singleton's node was stopped and the other one took over");
        assertEquals(range(0, ofStopped.size()), ofStopped);
        assertEquals(ofStopped.size(), steps(metrics.get(1 - host)).get(0).longValue(), "the heir continues at the next step");

        heir.process().destroy();   // the full stop
        first.get(2).process().destroy();
        heir.awaitExit(Duration.ofMinutes(2));
        first.get(2).awaitExit(Duration.ofMinutes(2));
        assertFalse(Files.exists(outA.resolve("model.json")) || Files.exists(outB.resolve("model.json")),
                "the run was stopped before its end");
        List<Long> ofHeir = steps(metrics.get(1 - host));
        long written = ofHeir.get(ofHeir.size() - 1) + 1;
        assertEquals(range(ofStopped.size(), written), ofHeir);
        assertTrue(written < STEPS, "stopped mid-run: " + written);
        phase("until the full stop");

        List<Node> again = cluster(conf, "e", "optimizer,solver", outA, "optimizer,solver", outB);
        for (Node n : again) {
            assertEquals(0, n.awaitExit(Duration.ofMinutes(3)), "node " + n.port() + ":\n" + tail(n.text()));
        }
        Node finisher = again.get(0).text().contains("finished the run") ? again.get(0) : again.get(1);
        Matcher m = Pattern.compile("continued from checkpoint \\d+ of step (\\d+)").matcher(finisher.text());
        assertTrue(m.find(), "the restarted cluster did not continue from a checkpoint:\n" + tail(finisher.text()));
        long resumed = Long.parseLong(m.group(1));
        Matcher source = Pattern.compile("continued from (checkpoint [^)]*)\\)").matcher(finisher.text());
        System.out.printf("stopped after %d updates (%d of them by the first singleton); the restarted cluster "
                + "continued from step %d: %s%n", written, ofStopped.size(), resumed, source.find() ? source.group(1) : "?");
        assertEquals(written, resumed, "the checkpoints written at SIGTERM hold every update in the metrics");
        List<Long> all = new ArrayList<>(steps(metrics.get(0)));
        all.addAll(steps(metrics.get(1)));
        java.util.Collections.sort(all);
        assertEquals(range(0, STEPS), all, "every step in exactly one of the two metrics files");
        assertTrue(Files.exists(outA.resolve("model.json")) || Files.exists(outB.resolve("model.json")));
        phase("restart until the end");
    }

    /** Sends {@code signal} (STOP, CONT) to a process. */
    static void signal(Process p, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor(), "kill -" + signal);
    }

    /** The newest checkpoint's accepted-update count in {@code out} (−1: none). */
    static long newestCheckpointSteps(Path out) throws IOException {
        Path dir = out.resolve("checkpoints");
        if (!Files.isDirectory(dir)) {
            return -1;
        }
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            java.util.Optional<Path> newest = files.filter(f -> f.getFileName().toString().matches("ckpt-\\d+\\.json"))
                    .max(Path::compareTo);
            return newest.isEmpty() ? -1 : JSON.readTree(newest.get().toFile()).path("payload").path("steps").asLong(-1);
        }
    }

    /**
     * The node running the singleton freezes (SIGSTOP: a long GC pause, a suspended VM) mid-run: the others
     * see it unreachable, the split brain resolver downs it, and the other optimizer-role node continues from
     * the replicated state. When the frozen node wakes up (SIGCONT) while the run goes on, it must find out
     * that it was removed and exit (code 4), and it must not extend the run's history on its own disk: its
     * metrics file keeps the lines it had, and a checkpoint it writes on the way out holds no update beyond
     * those. The run completes on the others with no accepted update lost and every step once.
     */
    @Test
    void aFrozenSingletonNodeIsDownedAndDoesNotForkTheRunWhenItWakesUp() throws Exception {
        int steps = 200;
        Path conf = config(dir, steps);
        Path outA = dir.resolve("run-fa"), outB = dir.resolve("run-fb");
        List<Path> metrics = List.of(outA.resolve("metrics.jsonl"), outB.resolve("metrics.jsonl"));
        List<Node> nodes = cluster(conf, "f", "optimizer,solver", outA, "optimizer,solver", outB);
        int host = awaitProgress(KILL_AT, metrics, nodes);
        Node frozen = nodes.get(host), heir = nodes.get(1 - host);
        signal(frozen.process(), "STOP");
        List<Long> before;
        try {
            before = steps(metrics.get(host));
            // the heir takes over once the frozen node is downed, and the run goes on there
            awaitProgress(5, List.of(metrics.get(1 - host)), List.of(heir, nodes.get(2)));
            phase("until the singleton's node was frozen, downed, and the other one took over");
        } finally {
            signal(frozen.process(), "CONT");
        }
        long announced = before.get(before.size() - 1) + 1;
        int code = frozen.awaitExit(Duration.ofMinutes(2));
        phase("until the woken node exited");
        assertEquals(4, code, "the woken node knows it was removed (exit 4):\n" + tail(frozen.text()));
        frozen.text().lines().filter(l -> l.contains("WARN") || l.contains("ERROR") || l.contains("bilevel node:"))
                .reduce((a, b) -> b).ifPresent(l -> System.out.println("woken node's last warning: " + l));
        assertEquals(before, steps(metrics.get(host)), "no metrics line written after waking up");
        assertTrue(newestCheckpointSteps(host == 0 ? outA : outB) <= announced,
                "a checkpoint of the woken node holds no update beyond its own " + announced);
        assertFalse(Files.exists((host == 0 ? outA : outB).resolve("model.json")));

        assertEquals(0, heir.awaitExit(Duration.ofMinutes(3)), tail(heir.text()));
        assertEquals(0, nodes.get(2).awaitExit(Duration.ofMinutes(1)), tail(nodes.get(2).text()));
        Matcher m = Pattern.compile("continued from the replicated state of step (\\d+)").matcher(heir.text());
        assertTrue(m.find(), "the heir did not continue from the replicated state:\n" + tail(heir.text()));
        long restored = Long.parseLong(m.group(1));
        System.out.printf("frozen after %d accepted updates; the heir continued from step %d (%d lost)%n", announced,
                restored, Math.max(0, announced - restored));
        assertTrue(restored >= announced, "accepted updates lost: " + (announced - restored));
        assertEquals(range(restored, steps), steps(metrics.get(1 - host)));
        assertTrue(Files.exists((host == 0 ? outB : outA).resolve("model.json")));
    }

    /**
     * A solver node killed with SIGKILL and started again at the same host:port while the run goes on (a
     * restarted process or pod): Akka replaces the old incarnation, and the new one's solvers — which have
     * the old ones' ids, derived from the address — get work and compute hypergradients; the run completes
     * with every step once. The optimizer node runs no solver here, so that while the restarted JVM starts
     * one core is free of training. (Before the fix the new incarnation computed 2 hypergradients in 15 s: the
     * Sampler's watch on it, made while its node was still joining at a removed node's address, ended at once
     * — Akka's tombstones — and a solver reported stopped got no more work.)
     */
    @Test
    void aSolverNodeRestartedAtTheSameAddressRejoinsAndComputes() throws Exception {
        // the old incarnation must be removed (≈ 10 s) before the new one can join: ≈ 1000 updates of the tiny
        // problem pass with one solver in the meantime
        int steps = 2000;
        Path conf = config(dir, steps);
        Path out = dir.resolve("run-restart");
        int[] p = ports();
        String seed = "127.0.0.1:" + p[0];
        List<String> common = List.of("--config", conf.toString(), "--min-nodes", "3", "--min-solvers", "2");
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            List<String> args = new ArrayList<>(i == 0 ? List.of("--roles", "optimizer", "--out", out.toString())
                    : List.of("--roles", "solver", "--seeds", seed));
            args.addAll(common);
            nodes.add(start("g" + (i + 1), p[i], args));
        }
        awaitProgress(KILL_AT, List.of(out.resolve("metrics.jsonl")), nodes);
        Node victim = nodes.get(2);
        victim.process().destroyForcibly();
        victim.process().waitFor();
        long before = steps(out.resolve("metrics.jsonl")).size();
        List<String> args = new ArrayList<>(List.of("--roles", "solver", "--seeds", seed, "--join-timeout", "2m"));
        args.addAll(common);
        Node again = start("g3-again", victim.port(), args);
        for (Node n : List.of(nodes.get(0), nodes.get(1), again)) {
            assertEquals(0, n.awaitExit(Duration.ofMinutes(3)), "node " + n.port() + ":\n" + tail(n.text()));
        }
        long computedAgain = computed(again);
        System.out.printf("solver node killed after %d updates and restarted at port %d: it computed %d of the "
                + "hypergradients of the remaining %d updates (the other solver node: %d in the whole run)%n", before,
                victim.port(), computedAgain, steps - before, computed(nodes.get(1)));
        long computedOther = computed(nodes.get(1));
        // it joins after about half of the run and then shares the work: well above a trickle
        assertTrue(computedAgain >= 0.05 * computedOther, "the restarted node computed " + computedAgain
                + " hypergradients, the other solver node " + computedOther + ":\n" + tail(again.text()));
        assertEquals(range(0, steps), steps(out.resolve("metrics.jsonl")));
        assertTrue(Files.exists(out.resolve("model.json")));
    }
}
