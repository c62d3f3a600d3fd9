package bilevel.cli;

import bilevel.actors.CheckpointStore;
import bilevel.numerics.train.ModelFile;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Crash safety: {@code bilevel train} in its own JVM is killed with SIGKILL after it wrote checkpoints;
 * the newest checkpoint is then damaged as a torn write would; {@code bilevel resume} falls back to the
 * previous good one and (sync mode) ends with exactly the θ of an uninterrupted run.
 */
class CrashResumeTest {

    @TempDir
    Path dir;

    private static final String STEPS = "40";

    @Test
    void killedRunResumesToTheUninterruptedTheta() throws Exception {
        String config = TrainCommandTest.tinyConfig().toString();
        Path killed = dir.resolve("killed");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                "bilevel.cli.Main", "train", "--config", config, "--out", killed.toString(), "--quiet",
                "--set", "train.max-steps=" + STEPS, "--set", "runtime.checkpoint-every=2"));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("killed.log").toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        CheckpointStore store = new CheckpointStore(killed.resolve("checkpoints"));
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (store.sequences().size() < 2 && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the run ended before it could be killed:\n" + Files.readString(dir.resolve("killed.log")));
        p.destroyForcibly();   // SIGKILL: no shutdown hook runs
        p.waitFor();
        assertFalse(Files.exists(killed.resolve("model.json")), "killed mid-run");

        // a torn write of the newest checkpoint: resume must use the previous one
        List<Long> seqs = store.sequences();
        Path newest = store.file(seqs.get(seqs.size() - 1));
        byte[] bytes = Files.readAllBytes(newest);
        Files.write(newest, Arrays.copyOf(bytes, bytes.length / 2));

        Cli.Run resume = Cli.run("resume", killed.toString(), "--quiet");
        assertEquals(Main.EXIT_OK, resume.code(), resume.err());
        assertTrue(resume.err().contains("truncated") && resume.err().contains("older checkpoint"), resume.err());

        Path whole = dir.resolve("whole");
        Cli.Run uninterrupted = Cli.run("train", "--config", config, "--out", whole.toString(), "--quiet",
                "--set", "train.max-steps=" + STEPS);
        assertEquals(Main.EXIT_OK, uninterrupted.code(), uninterrupted.err());

        assertArrayEquals(ModelFile.read(whole.resolve("model.json")).theta(),
                ModelFile.read(killed.resolve("model.json")).theta(), 0.0, "θ bit for bit");
        // the metrics file has every step exactly once, in order
        List<String> lines = Files.readAllLines(killed.resolve("metrics.jsonl"));
        assertEquals(Integer.parseInt(STEPS), lines.size());
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(i, json.readTree(lines.get(i)).get("step").asInt());
        }
        assertEquals(metricsWithoutTime(whole), metricsWithoutTime(killed));
    }

    @Test
    void sigtermWritesACheckpointAndAnAsyncRunResumes() throws Exception {
        Path run = dir.resolve("terminated");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                "bilevel.cli.Main", "train", "--config", TrainCommandTest.tinyConfig().toString(), "--out", run.toString(),
                "--mode", "async", "--set", "train.max-steps=" + STEPS, "--set", "runtime.checkpoint-every=0")
                .redirectErrorStream(true).redirectOutput(dir.resolve("terminated.log").toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        Path metrics = run.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (p.isAlive() && System.nanoTime() < deadline
                && (!Files.exists(metrics) || Files.readAllLines(metrics).size() < 2)) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the run ended before it could be stopped:\n" + Files.readString(dir.resolve("terminated.log")));
        p.destroy();   // SIGTERM: the shutdown hook finishes the step and writes a checkpoint
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        String log = Files.readString(dir.resolve("terminated.log"));
        assertEquals(143, p.exitValue(), log);
        assertTrue(log.contains("checkpoint written; continue with: bilevel resume"), log);
        assertFalse(Files.exists(run.resolve("model.json")));
        CheckpointStore.Loaded last = new CheckpointStore(run.resolve("checkpoints")).latestValid().orElseThrow();
        long steps = last.checkpoint().steps();
        assertTrue(steps >= 2 && steps < Integer.parseInt(STEPS), "checkpoint at step " + steps);
        assertEquals(steps, Files.readAllLines(metrics).size(), "one metrics line per update in the checkpoint");

        Cli.Run resume = Cli.run("resume", run.toString(), "--quiet");
        assertEquals(Main.EXIT_OK, resume.code(), resume.err());
        List<String> lines = Files.readAllLines(metrics);
        assertEquals(Integer.parseInt(STEPS), lines.size());
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            assertEquals(i, json.readTree(lines.get(i)).get("step").asInt());
        }
        assertTrue(Arrays.stream(ModelFile.read(run.resolve("model.json")).theta()).allMatch(Double::isFinite));
    }

    /** The metrics lines without the wall-clock field. */
    private static List<String> metricsWithoutTime(Path run) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            var node = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(line);
            node.remove("seconds");
            out.add(node.toString());
        }
        return out;
    }
}
