package bilevel.cluster;

import org.junit.jupiter.api.AfterEach;
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
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Artery over TLS with mutual authentication, in separate JVMs ({@code bilevel node}) on 127.0.0.1 with
 * ports picked at run time and key stores made by keytool in a temporary folder: two nodes with the
 * cluster certificate train together, while two nodes with a foreign certificate are refused — one that
 * trusts only itself, and one that trusts the cluster's certificate but presents its own (so only the
 * cluster side's check of the client certificate can refuse it). Neither becomes a member; both exit 5
 * with the join-timeout line.
 *
 * <p>Ordering, so that nothing depends on timing: the optimizer node waits for two members
 * ({@code --min-nodes 2}) and so is alive until the second cluster node joins; the foreign nodes are
 * started after the optimizer node is up, and the second cluster node only after both foreign nodes
 * have failed a TLS handshake with it. The only time limits are hang guards.
 */
class TlsClusterProcessTest {

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    private static final Pattern COMPUTED = Pattern.compile("this node computed (\\d+) hypergradients");
    private static final String CLUSTER_PASSWORD = "cluster-secret-1";
    private static final String FOREIGN_PASSWORD = "foreign-secret-2";

    @AfterEach
    void stopLeftovers() {
        for (Process p : started) {
            p.destroyForcibly();
        }
    }

    private static final java.util.Random PORTS = new java.util.Random();

    /** A port free now, below Linux's ephemeral range (as in ClusterProcessTest). */
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
            return Files.exists(log) ? Files.readString(log) : "";
        }

        int awaitExit(Duration d) throws Exception {
            if (!process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("node " + port + " did not stop in time:\n" + tail(text()));
            }
            return process.exitValue();
        }

        /** Waits (hang guard: {@code d}) until the log satisfies {@code p}; fails if the node exits first. */
        void awaitLog(Predicate<String> p, String what, Duration d) throws Exception {
            long deadline = System.nanoTime() + d.toNanos();
            while (!p.test(text())) {
                if (!process.isAlive() && !p.test(text())) {
                    throw new AssertionError("node " + port + " stopped before " + what + ":\n" + tail(text()));
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("node " + port + ": no " + what + " within " + d + ":\n" + tail(text()));
                }
                Thread.sleep(50);
            }
        }
    }

    static String tail(String s) {
        return s.length() <= 6000 ? s : s.substring(s.length() - 6000);
    }

    private Node start(String name, int port, Map<String, String> env, List<String> args) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx384m", "-XX:TieredStopAtLevel=1", "-Dbilevel.threads=1",
                "-cp", System.getProperty("java.class.path"), "bilevel.cli.Main", "node", "--port", Integer.toString(port),
                "--quiet"));
        cmd.addAll(args);
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().remove("BILEVEL_TLS_PASSWORD");
        pb.environment().putAll(env);
        Process p = pb.start();
        started.add(p);
        return new Node(p, log, port);
    }

    private Path config(int steps) throws IOException {
        Path tiny;
        try {
            tiny = Path.of(TlsClusterProcessTest.class.getResource("/tiny-train.conf").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Path c = dir.resolve("cluster.conf");
        Files.writeString(c, "include file(\"" + tiny.toAbsolutePath() + "\")\n"
                + "bilevel.runtime { mode = async, solvers = 1, work-timeout = 20s }\n"
                + "bilevel.train { max-steps = " + steps + ", validate-every = 10 }\n");
        return c;
    }

    private static long computed(Node n) throws IOException {
        Matcher m = COMPUTED.matcher(n.text());
        assertTrue(m.find(), "no summary from node " + n.port() + ":\n" + tail(n.text()));
        return Long.parseLong(m.group(1));
    }

    @Test
    void nodesWithTheClusterCertificateTrainTogetherAndForeignCertificatesAreRefused() throws Exception {
        TestKeys.Stores cluster = TestKeys.make(dir.resolve("keys"), "cluster", CLUSTER_PASSWORD);
        TestKeys.Stores foreign = TestKeys.make(dir.resolve("foreign-keys"), "foreign", FOREIGN_PASSWORD);
        int steps = 20;
        Path conf = config(steps);
        Path out = dir.resolve("run");
        int pA = freePort(), pB = freePort(), pF1 = freePort(), pF2 = freePort();
        String seed = "127.0.0.1:" + pA;
        List<String> clusterTls = List.of("--tls-keystore", cluster.keyStore().toString(),
                "--tls-truststore", cluster.trustStore().toString());
        Map<String, String> clusterEnv = Map.of("BILEVEL_TLS_PASSWORD", CLUSTER_PASSWORD);

        // the optimizer node; its trust store password on the command line (it must not reach the run folder)
        List<String> argsA = new ArrayList<>(List.of("--roles", "optimizer,solver", "--config", conf.toString(),
                "--out", out.toString(), "--min-nodes", "2", "--join-timeout", "90s",
                "--set", "cluster.tls.trust-store-password=" + CLUSTER_PASSWORD));
        argsA.addAll(clusterTls);
        Node a = start("a", pA, Map.of("BILEVEL_TLS_KEY_STORE_PASSWORD", CLUSTER_PASSWORD), argsA);
        a.awaitLog(t -> t.contains("member joining: akka://bilevel@127.0.0.1:" + pA), "membership of itself",
                Duration.ofSeconds(90));

        // foreign 1: its own key pair, trusts only itself; foreign 2: its own key pair, trusts the cluster's certificate
        Node f1 = start("foreign-1", pF1, Map.of("BILEVEL_TLS_PASSWORD", FOREIGN_PASSWORD),
                List.of("--roles", "solver", "--seeds", seed, "--config", conf.toString(), "--join-timeout", "10s",
                        "--tls-keystore", foreign.keyStore().toString(), "--tls-truststore", foreign.trustStore().toString()));
        Node f2 = start("foreign-2", pF2, Map.of("BILEVEL_TLS_KEY_STORE_PASSWORD", FOREIGN_PASSWORD,
                        "BILEVEL_TLS_TRUST_STORE_PASSWORD", CLUSTER_PASSWORD),
                List.of("--roles", "solver", "--seeds", seed, "--config", conf.toString(), "--join-timeout", "10s",
                        "--tls-keystore", foreign.keyStore().toString(), "--tls-truststore", cluster.trustStore().toString()));
        // both have tried to talk to the optimizer node (alive: it waits for a second member) and failed the handshake
        f1.awaitLog(t -> t.contains("SSLHandshakeException") || t.contains("could not join"), "TLS handshake failure",
                Duration.ofSeconds(90));
        f2.awaitLog(t -> t.contains("SSLHandshakeException") || t.contains("could not join"), "TLS handshake failure",
                Duration.ofSeconds(90));
        assertTrue(a.process().isAlive(), tail(a.text()));

        List<String> argsB = new ArrayList<>(List.of("--roles", "solver", "--seeds", seed, "--config", conf.toString(),
                "--min-nodes", "2", "--join-timeout", "90s"));
        argsB.addAll(clusterTls);
        Node b = start("b", pB, clusterEnv, argsB);

        assertEquals(0, a.awaitExit(Duration.ofMinutes(2)), tail(a.text()));
        assertEquals(0, b.awaitExit(Duration.ofMinutes(1)), tail(b.text()));
        for (Node f : List.of(f1, f2)) {
            assertEquals(5, f.awaitExit(Duration.ofMinutes(1)), "foreign node " + f.port() + ":\n" + tail(f.text()));
            assertTrue(f.text().contains("could not join the cluster at " + seed
                    + " within 10 s (TLS handshake refused? foreign certificate?)"), tail(f.text()));
            assertEquals(0, computed(f), tail(f.text()));
        }
        // the foreign side of the refusals: f1 does not trust the cluster; the cluster does not trust f2's certificate
        assertTrue(f1.text().contains("SSLHandshakeException"), tail(f1.text()));
        assertTrue(f2.text().contains("SSLHandshakeException"), tail(f2.text()));

        // the cluster side: B became a member, the foreign nodes never did; the run is complete
        String logA = a.text();
        assertTrue(logA.contains("member up: akka://bilevel@127.0.0.1:" + pB), tail(logA));
        assertFalse(logA.contains("127.0.0.1:" + pF1), "foreign node 1 appears on the optimizer node:\n" + tail(logA));
        assertFalse(logA.contains("127.0.0.1:" + pF2), "foreign node 2 appears on the optimizer node:\n" + tail(logA));
        assertFalse(b.text().contains("127.0.0.1:" + pF1) || b.text().contains("127.0.0.1:" + pF2), tail(b.text()));
        assertEquals(steps, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(out.resolve("model.json")));
        assertTrue(computed(a) + computed(b) >= steps * 3L, "a minibatch of 3 per step: " + computed(a) + " + " + computed(b));
        String written = Files.readString(out.resolve("config.conf"));
        assertFalse(written.contains(CLUSTER_PASSWORD), "a TLS password was written to the run folder");
        assertTrue(written.contains("trust-store-password"), written);
    }
}
