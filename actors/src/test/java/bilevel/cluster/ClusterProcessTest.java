package bilevel.cluster;

import bilevel.numerics.train.ModelFile;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Multi-process cluster tests: every node is a separate JVM ({@code bilevel node}) on 127.0.0.1 with
 * ports picked at run time; small embedded TV problem (async mode).
 */
/*
 * Tagged "cluster": excluded from `mvn -B verify` (and so from CI) because its timing is racy on a loaded
 * 2-core machine — in a fresh-clone CI run a solver node joined after the short run had ended, and in
 * another run the run ended before the kill. Run it with `mvn -B verify -Pcluster-tests`.
 */
@Tag("cluster")
class ClusterProcessTest {

    @TempDir
    Path dir;

    private static final Pattern COMPUTED = Pattern.compile("this node computed (\\d+) hypergradients");
    private static final Pattern PSNR = Pattern.compile("validation PSNR ([0-9.]+) dB");

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

    /** A cluster of one optimizer+solver node and two solver nodes; returns the nodes (all started). */
    List<Node> cluster(Path conf, Path out, String prefix) throws IOException {
        int p1 = freePort(), p2 = freePort(), p3 = freePort();
        String seed = "127.0.0.1:" + p1;
        List<Node> nodes = new ArrayList<>();
        nodes.add(start(prefix + "1", p1, List.of("--roles", "optimizer,solver", "--config", conf.toString(),
                "--out", out.toString(), "--min-nodes", "3")));
        nodes.add(start(prefix + "2", p2, List.of("--roles", "solver", "--seeds", seed, "--config", conf.toString(),
                "--min-nodes", "3")));
        nodes.add(start(prefix + "3", p3, List.of("--roles", "solver", "--seeds", seed, "--config", conf.toString(),
                "--min-nodes", "3")));
        return nodes;
    }

    /**
     * (a) three nodes train together, every node computes hypergradients; a node with other data
     * (another seed: other crops and noise) is refused and exits 3; (b) a solver node killed with
     * SIGKILL mid-run: the run completes on the others; (d) its validation PSNR is within 0.1 dB of the
     * undisturbed run's.
     */
    @Test
    void threeNodesTrainTogetherRefuseForeignDataAndSurviveAKilledSolver() throws Exception {
        // long enough that every solver node has pulled work before the run ends: with 24 steps a node whose
        // solver registered late sometimes computed nothing (seen once in a fresh-clone CI run)
        int steps = 80;
        Path conf = config(dir, steps);
        Path out = dir.resolve("run");
        List<Node> nodes = cluster(conf, out, "a");
        Node foreign = start("foreign", freePort(), List.of("--roles", "solver", "--seeds", "127.0.0.1:" + nodes.get(0).port(),
                "--config", conf.toString(), "--set", "seed=4"));
        for (Node n : nodes) {
            assertEquals(0, n.awaitExit(Duration.ofMinutes(2)), "node " + n.port() + ":\n" + tail(n.text()));
        }
        assertEquals(3, foreign.awaitExit(Duration.ofMinutes(1)), tail(foreign.text()));
        assertTrue(foreign.text().contains("refused by the cluster"), tail(foreign.text()));
        long total = 0;
        for (Node n : nodes) {
            long c = computed(n);
            assertTrue(c > 0, "node " + n.port() + " computed no hypergradient:\n" + tail(n.text()));
            total += c;
        }
        assertTrue(total >= steps * 3, "a minibatch of 3 per step: " + total);
        assertTrue(Files.exists(out.resolve("model.json")));
        assertEquals(steps, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        assertTrue(ModelFile.read(out.resolve("model.json")).theta().length > 0);
        double undisturbed = psnr(nodes.get(0));

        // (b) kill -9 of a solver node mid-run
        Path out2 = dir.resolve("run-killed");
        List<Node> second = cluster(conf, out2, "b");
        Path metrics = out2.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while ((!Files.exists(metrics) || Files.readAllLines(metrics).size() < 4) && System.nanoTime() < deadline
                && second.get(0).process().isAlive()) {
            Thread.sleep(20);
        }
        assertTrue(second.get(0).process().isAlive(), "the run ended before the kill:\n" + tail(second.get(0).text()));
        second.get(2).process().destroyForcibly();
        assertEquals(0, second.get(0).awaitExit(Duration.ofMinutes(2)), tail(second.get(0).text()));
        assertEquals(0, second.get(1).awaitExit(Duration.ofMinutes(1)), tail(second.get(1).text()));
        assertTrue(computed(second.get(1)) > 0);
        assertEquals(steps, Files.readAllLines(out2.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(out2.resolve("model.json")));
        double killed = psnr(second.get(0));
        assertEquals(undisturbed, killed, 0.1, "validation PSNR of the disturbed run vs the undisturbed one");

        // (c) kill -9 of the node running the optimizer singleton: a second optimizer-role node takes over
        // from the state replicated with Distributed Data
        Path conf1 = dir.resolve("cluster-ckpt.conf");
        Files.writeString(conf1, "include file(\"" + conf.toAbsolutePath() + "\")\nbilevel.runtime.checkpoint-every = 1\n");
        int p1 = freePort(), p2 = freePort(), p3 = freePort();
        String seed = "127.0.0.1:" + p1;
        Path outA = dir.resolve("run-a"), outB = dir.resolve("run-b");
        Node n1 = start("c1", p1, List.of("--roles", "optimizer,solver", "--config", conf1.toString(),
                "--out", outA.toString(), "--min-nodes", "3"));
        Node n2 = start("c2", p2, List.of("--roles", "optimizer,solver", "--seeds", seed, "--config", conf1.toString(),
                "--out", outB.toString(), "--min-nodes", "3"));
        Node n3 = start("c3", p3, List.of("--roles", "solver", "--seeds", seed, "--config", conf1.toString(),
                "--min-nodes", "3"));
        Path metricsA = outA.resolve("metrics.jsonl");
        deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while ((!Files.exists(metricsA) || Files.readAllLines(metricsA).size() < 6) && System.nanoTime() < deadline
                && n1.process().isAlive()) {
            Thread.sleep(20);
        }
        assertTrue(n1.process().isAlive(), "the run ended before the kill:\n" + tail(n1.text()));
        n1.process().destroyForcibly();
        n1.process().waitFor();
        long stepsBeforeKill = Files.readAllLines(metricsA).size();
        assertEquals(0, n2.awaitExit(Duration.ofMinutes(2)), tail(n2.text()));
        assertEquals(0, n3.awaitExit(Duration.ofMinutes(1)), tail(n3.text()));
        Matcher m = Pattern.compile("continued from the replicated state of step (\\d+)").matcher(n2.text());
        assertTrue(m.find(), "the new singleton did not continue from the replicated state:\n" + tail(n2.text()));
        long restored = Long.parseLong(m.group(1));
        assertTrue(restored > 0 && restored <= stepsBeforeKill, restored + " of " + stepsBeforeKill);
        System.out.printf("optimizer node killed after %d accepted updates; the new singleton continued from step %d: "
                + "%d accepted updates lost%n", stepsBeforeKill, restored, stepsBeforeKill - restored);
        assertTrue(Files.exists(outB.resolve("model.json")));
        double failedOver = psnr(n2);
        assertEquals(undisturbed, failedOver, 0.1, "validation PSNR after the optimizer's node was lost");
    }
}
