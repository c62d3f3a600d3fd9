package bilevel.cli;

import bilevel.numerics.train.ModelFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bilevel train / bilevel resume on the command line: a real (tiny) run and the bad-input errors. */
class TrainCommandTest {

    @TempDir
    Path dir;

    static Path tinyConfig() {
        try {
            return Path.of(TrainCommandTest.class.getResource("/tiny-train.conf").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertUsageError(Cli.Run run, String expected) {
        assertEquals(Main.EXIT_USAGE, run.code(), run.err());
        String[] lines = run.errLines();
        assertEquals(1, lines.length, "expected one line on stderr, got:\n" + run.err());
        assertTrue(lines[0].contains(expected), lines[0]);
        assertFalse(lines[0].contains("Exception"), lines[0]);
    }

    @Test
    void trainsResumesAndRefusesToOverwrite() throws IOException {
        Path run = dir.resolve("run");
        Cli.Run train = Cli.run("train", "--config", tinyConfig().toString(), "--out", run.toString(), "--solvers", "2",
                "--mode", "sync");
        assertEquals(Main.EXIT_OK, train.code(), train.err());
        assertTrue(train.out().contains("sync mode with 2 solvers"), train.out());
        assertTrue(train.err().contains("val "), "progress lines with validation PSNR: " + train.err());
        ModelFile model = ModelFile.read(run.resolve("model.json"));
        assertEquals(8, Files.readAllLines(run.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(run.resolve("config.conf")));
        assertTrue(Files.list(run.resolve("checkpoints")).anyMatch(p -> p.toString().endsWith(".json")));

        assertUsageError(Cli.run("train", "--config", tinyConfig().toString(), "--out", run.toString()), "not empty");

        // resuming a finished run continues from its final checkpoint: nothing left to do, same model
        Cli.Run resume = Cli.run("resume", run.toString(), "--quiet");
        assertEquals(Main.EXIT_OK, resume.code(), resume.err());
        assertArrayEquals(model.theta(), ModelFile.read(run.resolve("model.json")).theta(), 0.0);
        assertEquals(8, Files.readAllLines(run.resolve("metrics.jsonl")).size());

        // bilevel node continues an unfinished run folder, but refuses a finished one and one of other data
        assertUsageError(Cli.run("node", "--config", tinyConfig().toString(), "--set", "runtime.mode=async",
                "--out", run.toString(), "--quiet"), "has finished");
        Files.delete(run.resolve("model.json"));
        assertUsageError(Cli.run("node", "--config", tinyConfig().toString(), "--set", "runtime.mode=async",
                "--set", "seed=4", "--out", run.toString(), "--quiet"), "cannot be continued with this experiment");
        assertUsageError(Cli.run("node", "--config", tinyConfig().toString(), "--set", "runtime.mode=async",
                "--min-solvers", "-1", "--out", dir.resolve("c").toString()), "--min-solvers");
    }

    @Test
    void aRunContinuesWithANewScheduleKeepingItsState() throws IOException {
        Path run = dir.resolve("reschedule");
        Cli.Run train = Cli.run("train", "--config", tinyConfig().toString(), "--out", run.toString(),
                "--set", "train.max-steps=4", "--quiet");
        assertEquals(Main.EXIT_OK, train.code(), train.err());
        List<String> before = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(4, before.size());

        assertUsageError(Cli.run("resume", run.toString(), "--set", "regularizer.type=foe"), "cannot change when a run continues");
        assertUsageError(Cli.run("resume", run.toString(), "--set", "train.step=sometimes:1"), "step");

        Cli.Run resume = Cli.run("resume", run.toString(), "--set", "train.max-steps=7", "--set",
                "bilevel.train.step=constant:0.0123", "--quiet");
        assertEquals(Main.EXIT_OK, resume.code(), resume.err());
        List<String> after = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(7, after.size());
        assertEquals(before, after.subList(0, 4), "the steps before the change are kept as they were");
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (int k = 4; k < 7; k++) {
            com.fasterxml.jackson.databind.JsonNode line = json.readTree(after.get(k));
            assertEquals(k, line.get("step").asInt());
            assertEquals(0.0123, line.get("alpha").asDouble(), 0.0, "the new schedule from step 4 on: " + line);
        }
        String conf = Files.readString(run.resolve("config.conf"));
        assertTrue(conf.contains("constant:0.0123") && conf.contains("max-steps=7"), "written to config.conf");
    }

    @Test
    void aRunGrowsItsFieldsOfExpertsModelKeepingItsState() throws IOException {
        Path run = dir.resolve("grow");
        Cli.Run train = Cli.run("train", "--config", tinyConfig().toString(), "--out", run.toString(),
                "--set", "regularizer.type=foe", "--set", "regularizer.options.filters=2",
                "--set", "regularizer.options.size=3", "--set", "train.max-steps=4", "--quiet");
        assertEquals(Main.EXIT_OK, train.code(), train.err());
        List<String> before = Files.readAllLines(run.resolve("metrics.jsonl"));
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        double[] small = json.readValue(json.readTree(run.resolve("model.json").toFile()).get("theta").toString(), double[].class);
        assertEquals(2 * 9 + 2 + 1, small.length);

        assertUsageError(Cli.run("resume", run.toString(), "--set", "regularizer.options.size=1"), "cannot grow");
        String smallConfig = Files.readString(run.resolve("config.conf"));
        Cli.Run grow = Cli.run("resume", run.toString(), "--set", "regularizer.options.size=5",
                "--set", "train.max-steps=6");
        assertEquals(Main.EXIT_OK, grow.code(), grow.err());
        assertTrue(grow.err().contains("the model grows from") && grow.err().contains("at step 4"), grow.err());
        // the time per hypergradient is that of the ones computed since the resume (not diluted by the earlier ones)
        java.util.regex.Matcher ms = java.util.regex.Pattern.compile("([0-9.]+) ms per hypergradient \\((\\d+) hypergradients.*"
                + "the time is that of the (\\d+) computed since the resume").matcher(grow.out());
        assertTrue(ms.find(), grow.out());
        assertTrue(Double.parseDouble(ms.group(1)) > 0 && Long.parseLong(ms.group(3)) < Long.parseLong(ms.group(2)), grow.out());
        List<String> after = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(6, after.size());
        assertEquals(before, after.subList(0, 4), "the steps before the growth are kept as they were");
        com.fasterxml.jackson.databind.JsonNode model = json.readTree(run.resolve("model.json").toFile());
        assertEquals(5, model.get("options").get("size").asInt());
        assertEquals(2, model.get("options").get("filters").asInt());
        assertEquals(2 * 25 + 2 + 1, model.get("theta").size());
        // the grown run went on from the small model: step 4's loss equals an ungrown continuation's
        Path twin = dir.resolve("grow-twin");
        Cli.Run t2 = Cli.run("train", "--config", tinyConfig().toString(), "--out", twin.toString(),
                "--set", "regularizer.type=foe", "--set", "regularizer.options.filters=2",
                "--set", "regularizer.options.size=3", "--set", "train.max-steps=4", "--quiet");
        assertEquals(Main.EXIT_OK, t2.code(), t2.err());
        assertEquals(Main.EXIT_OK, Cli.run("resume", twin.toString(), "--set", "train.max-steps=5", "--quiet").code());
        double grownLoss = json.readTree(after.get(4)).get("batchLoss").asDouble();
        double plainLoss = json.readTree(Files.readAllLines(twin.resolve("metrics.jsonl")).get(4)).get("batchLoss").asDouble();
        assertEquals(plainLoss, grownLoss, 1e-6 * plainLoss, "the first step after growth sees the same regularizer");

        // interrupted between the grown checkpoint and config.conf: the same --set continues without growing twice
        Files.writeString(run.resolve("config.conf"), smallConfig);
        Cli.Run again = Cli.run("resume", run.toString(), "--set", "regularizer.options.size=5", "--set", "train.max-steps=7");
        assertEquals(Main.EXIT_OK, again.code(), again.err());
        assertTrue(!again.err().contains("grows"), again.err());
        assertEquals(7, Files.readAllLines(run.resolve("metrics.jsonl")).size());
        assertEquals(53, json.readTree(run.resolve("model.json").toFile()).get("theta").size());
    }

    @Test
    void badInputIsAOneLineError() throws IOException {
        assertUsageError(Cli.run("train", "--config", dir.resolve("missing.conf").toString()), "config file not found");
        assertUsageError(Cli.run("train", "--config", tinyConfig().toString(), "--mode", "sometimes",
                "--out", dir.resolve("a").toString()), "async or sync");
        assertUsageError(Cli.run("train", "--config", tinyConfig().toString(), "--solvers", "0",
                "--out", dir.resolve("b").toString()), "--solvers");
        assertUsageError(Cli.run("resume", dir.resolve("nowhere").toString()), "run folder not found");
        Files.createDirectories(dir.resolve("empty"));
        assertUsageError(Cli.run("resume", dir.resolve("empty").toString()), "no config.conf");
        assertUsageError(Cli.run("resume"), "DIR");
    }
}
