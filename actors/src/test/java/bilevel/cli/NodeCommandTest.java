package bilevel.cli;

import bilevel.actors.ClusterNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bilevel node in-process: bad TLS and join settings are one line before anything starts; the join timeout. */
class NodeCommandTest {

    @TempDir
    Path dir;

    private Cli.Run node(String... extra) {
        String[] base = {"node", "--config", TrainCommandTest.tinyConfig().toString(), "--set", "runtime.mode=async",
                "--out", dir.resolve("run").toString(), "--quiet"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return Cli.run(args);
    }

    private void assertOneLine(Cli.Run run, int code, String expected) {
        assertEquals(code, run.code(), run.err());
        String[] lines = run.errLines();
        assertEquals(1, lines.length, "expected one line on stderr, got:\n" + run.err());
        assertTrue(lines[0].contains(expected), lines[0]);
    }

    @Test
    void aMissingKeyStoreIsOneLineAndWritesNothing() {
        Path missing = dir.resolve("nope.p12");
        assertOneLine(node("--tls-keystore", missing.toString(), "--tls-truststore", missing.toString()),
                Main.EXIT_USAGE, "TLS key store not found: " + missing);
        assertFalse(Files.exists(dir.resolve("run")), "nothing half-written");
        assertOneLine(node("--tls"), Main.EXIT_USAGE, "no key store is given");
    }

    @Test
    void badBootstrapSettingsAreOneLine() {
        assertOneLine(node("--bootstrap", "bilevel", "--set", "cluster.bootstrap.management-port=0"), Main.EXIT_USAGE,
                "cluster.bootstrap.management-port must be in 1..65535, got 0");
        assertOneLine(node("--bootstrap", "bilevel", "--set", "cluster.bootstrap.api-ca-pth=/x"), Main.EXIT_USAGE,
                "api-ca-pth");
        assertFalse(Files.exists(dir.resolve("run")));
    }

    @Test
    void badJoinTimeoutsAreOneLine() {
        assertOneLine(node("--join-timeout", "-5s"), Main.EXIT_USAGE, "--join-timeout must not be negative");
        assertOneLine(node("--join-timeout", "soon"), Main.EXIT_USAGE, "bad cluster setting");
        assertFalse(Files.exists(dir.resolve("run")));
    }

    @Test
    void aNodeWhoseSeedNeverAnswersGivesUpAfterTheJoinTimeout() throws IOException {
        int port;
        int silent;
        try (ServerSocket a = new ServerSocket(0); ServerSocket b = new ServerSocket(0)) {
            port = a.getLocalPort();
            silent = b.getLocalPort();   // nobody listens here once the socket is closed
        }
        Cli.Run run = Cli.run("node", "--config", TrainCommandTest.tinyConfig().toString(), "--set", "runtime.mode=async",
                "--roles", "solver", "--port", Integer.toString(port), "--seeds", "127.0.0.1:" + silent,
                "--join-timeout", "3s", "--quiet");
        assertEquals(ClusterNode.EXIT_NOT_JOINED, run.code(), run.out() + run.err());
        assertOneLine(run, ClusterNode.EXIT_NOT_JOINED, "bilevel node: could not join the cluster at 127.0.0.1:" + silent
                + " within 3 s (is a seed node running and reachable at that address?)");
        assertTrue(run.out().contains("this node computed 0 hypergradients"), run.out());
    }
}
