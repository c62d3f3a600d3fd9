package bilevel.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code deploy/local-cluster.sh N}, as users run it: N node JVMs on 127.0.0.1 train one run, print what
 * each node computed and stop; SIGTERM (as Ctrl-C) makes every node leave, the script returns only after
 * them, the optimizer's last checkpoint holds every accepted update, and running the script again with the
 * same {@code --out} finishes the run with each update once. An integration test (Failsafe, after
 * {@code package}): the script runs the packaged application ({@code BILEVEL_SKIP_BUILD}, no nested build).
 */
@Tag("cluster")
class LocalClusterScriptIT {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern COMPUTED = Pattern.compile("this node computed (\\d+) hypergradients");
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Run(int code, String out, String err) {
    }

    private static Process start(Path work, Path config, Path out, int nodes) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(ROOT.resolve("deploy/local-cluster.sh").toString(), Integer.toString(nodes),
                "--config", config.toString(), "--out", out.toString())
                .directory(work.toFile())
                .redirectOutput(work.resolve("script.out").toFile())
                .redirectError(work.resolve("script.err").toFile());
        pb.environment().put("BILEVEL_SKIP_BUILD", "1");
        pb.environment().put("BILEVEL_HEAP", "512m");
        return pb.start();
    }

    private static Run finish(Process p, Path work) throws Exception {
        if (!p.waitFor(3, TimeUnit.MINUTES)) {   // hang guard (a run here takes seconds)
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("local-cluster.sh did not finish within 3 minutes");
        }
        return new Run(p.exitValue(), Files.readString(work.resolve("script.out")), Files.readString(work.resolve("script.err")));
    }

    private static List<Long> computedPerNode(String out) {
        List<Long> n = new ArrayList<>();
        Matcher m = COMPUTED.matcher(out);
        while (m.find()) {
            n.add(Long.parseLong(m.group(1)));
        }
        return n;
    }

    private static List<Integer> steps(Path metrics) throws IOException {
        List<Integer> steps = new ArrayList<>();
        for (String line : Files.readAllLines(metrics, StandardCharsets.UTF_8)) {
            steps.add(JSON.readTree(line).get("step").asInt());
        }
        return steps;
    }

    @Test
    void twoNodesTrainTogetherAndTheScriptStopsThem(@TempDir Path tmp) throws Exception {
        Path config = ClusterProcessTest.config(tmp, 40);
        Path out = tmp.resolve("run");
        Run run = finish(start(tmp, config, out, 2), tmp);
        assertEquals(0, run.code(), run.out() + run.err());
        List<Long> computed = computedPerNode(run.out());
        assertEquals(2, computed.size(), "one line per node: " + run.out());
        assertTrue(computed.stream().allMatch(c -> c > 0), "hypergradients from every node: " + run.out());
        assertTrue(run.out().contains("steps 40,"), run.out());
        assertTrue(Files.exists(out.resolve("model.json")));
        assertTrue(Files.exists(tmp.resolve("run.logs/node-1.log")) && Files.exists(tmp.resolve("run.logs/node-2.log")));
    }

    @Test
    void sigtermStopsEveryNodeWithACheckpointAndTheSameCommandFinishesTheRun(@TempDir Path tmp) throws Exception {
        int total = 400;
        Path config = ClusterProcessTest.config(tmp, total);
        Path out = tmp.resolve("run");
        Path metrics = out.resolve("metrics.jsonl");
        Process script = start(tmp, config, out, 2);
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!Files.exists(metrics) || Files.readAllLines(metrics).size() < 20) {
            if (!script.isAlive() || System.nanoTime() > deadline) {   // hang guard / early exit
                fail("the training did not reach 20 updates: " + finish(script, tmp));
            }
            Thread.sleep(50);
        }
        List<ProcessHandle> nodes = script.descendants().filter(h -> h.info().command().map(c -> c.endsWith("java")).orElse(false))
                .toList();
        assertEquals(2, nodes.size(), "two node JVMs under the script");
        script.destroy();   // SIGTERM, as from kill or a terminal's Ctrl-C (the script treats INT alike)
        Run stopped = finish(script, tmp);
        assertEquals(143, stopped.code(), stopped.out() + stopped.err());
        assertTrue(stopped.err().contains("stopped (SIGTERM): every node has left"), stopped.err());
        assertFalse(stopped.err().contains("exited with code"), "the nodes left gracefully: " + stopped.err());
        for (ProcessHandle node : nodes) {
            assertFalse(node.isAlive(), "the script returned before node " + node.pid() + " had left");
        }
        List<Integer> before = steps(metrics);
        assertTrue(before.size() < total, "stopped before the end: " + before.size());
        int lastCheckpointed;
        try (Stream<Path> files = Files.list(out.resolve("checkpoints"))) {
            Path newest = files.filter(f -> f.getFileName().toString().endsWith(".json")).max(Path::compareTo).orElseThrow();
            JsonNode c = JSON.readTree(newest.toFile());
            lastCheckpointed = c.get("payload").get("steps").asInt();   // accepted updates: steps 0 … steps − 1
        }
        assertEquals(before.get(before.size() - 1) + 1, lastCheckpointed, "the checkpoint written at the stop holds every "
                + "accepted update");

        Run resumed = finish(start(tmp, config, out, 2), tmp);
        assertEquals(0, resumed.code(), resumed.out() + resumed.err());
        List<Integer> after = steps(metrics);
        List<Integer> expected = new ArrayList<>();
        for (int k = 0; k < total; k++) {
            expected.add(k);
        }
        assertEquals(expected, after, "every update once, in order, across the stop");
        assertEquals(2, computedPerNode(resumed.out()).size(), resumed.out());
    }
}
