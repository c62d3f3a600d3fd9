package bilevel.numerics.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReferenceTrainerTest {

    @TempDir
    Path dir;

    private ReferenceTrainer.Result train(TrainingSpec spec, Path out, List<StepMetrics> seen) {
        ReferenceTrainer t = new ReferenceTrainer(spec, seen::add);
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), t.dataType())) {
            return t.run(data, out);
        }
    }

    @Test
    void sameSeedGivesTheSameThetaBitForBit() {
        for (String method : List.of("isgd", "adam")) {
            TrainingSpec spec = TrainingFixtures.spec("tv", method, 7, 0, 4);
            ReferenceTrainer.Result a = train(spec, dir.resolve(method + "-a"), new ArrayList<>());
            ReferenceTrainer.Result b = train(spec, dir.resolve(method + "-b"), new ArrayList<>());
            assertArrayEquals(a.theta(), b.theta(), 0.0, method + " must be deterministic");
            assertEquals(a.computations(), b.computations());
            ReferenceTrainer.Result c = train(TrainingFixtures.spec("tv", method, 8, 0, 4), dir.resolve(method + "-c"), new ArrayList<>());
            assertFalse(java.util.Arrays.equals(a.theta(), c.theta()), "another seed should give another run");
        }
    }

    @Test
    void writesMetricsLinesAndAModelThatReadsBack() throws IOException {
        List<StepMetrics> seen = new ArrayList<>();
        TrainingSpec spec = TrainingFixtures.spec("tv", "adam", 3, 0, 3);
        ReferenceTrainer.Result r = train(spec, dir.resolve("run"), seen);
        assertEquals(3, r.steps());
        assertEquals(3, seen.size());
        List<String> lines = Files.readAllLines(dir.resolve("run/metrics.jsonl"));
        assertEquals(3, lines.size());
        ObjectMapper json = new ObjectMapper();
        long previous = 0;
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            for (String field : List.of("step", "computations", "seconds", "batchLoss", "epsilon", "delta", "alpha",
                    "zNorm", "errorBound", "validationPsnr")) {
                assertTrue(n.has(field), "metrics line lacks " + field + ": " + line);
            }
            assertTrue(n.get("computations").asLong() > previous, "computations must grow");
            previous = n.get("computations").asLong();
        }
        ModelFile m = ModelFile.read(dir.resolve("run/model.json"));
        assertArrayEquals(r.theta(), m.theta(), 0.0);
        assertEquals("tv", m.type());
        assertEquals(3, m.seed());
        assertTrue(m.dataFingerprint().startsWith("sha256:"));
        assertTrue(Double.isFinite(r.validationPsnr()));
    }

    @Test
    void budgetStopsTraining() {
        List<StepMetrics> seen = new ArrayList<>();
        ReferenceTrainer.Result r = train(TrainingFixtures.spec("tv", "isgd", 1, 300, 0), dir.resolve("b"), seen);
        assertTrue(r.computations() >= 300);
        // the step that crossed the budget is the last one
        assertTrue(seen.get(seen.size() - 2).computations() < 300);
    }

    @Test
    void adamTrainingImprovesValidationPsnrOfTv() {
        List<StepMetrics> seen = new ArrayList<>();
        TrainingSpec spec = TrainingFixtures.spec("tv", "adam", 5, 0, 12);
        ReferenceTrainer t = new ReferenceTrainer(spec, seen::add);
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), t.dataType())) {
            ReferenceTrainer.Result r = t.run(data, dir.resolve("improve"));
            double first = seen.stream().filter(m -> m.validationPsnr() != null).findFirst().orElseThrow().validationPsnr();
            assertTrue(r.validationPsnr() > first, "validation PSNR should improve: " + first + " -> " + r.validationPsnr());
        }
    }

    @Test
    void maidRunsFullBatchAndIsDeterministic() {
        TrainingSpec spec = TrainingFixtures.spec("tv", "maid", 2, 0, 3);
        ReferenceTrainer.Result a = train(spec, dir.resolve("m1"), new ArrayList<>());
        ReferenceTrainer.Result b = train(spec, dir.resolve("m2"), new ArrayList<>());
        assertArrayEquals(a.theta(), b.theta(), 0.0);
        assertEquals(3, a.steps());
    }

    @Test
    void badInputIsATrainingException() {
        assertThrows(TrainingException.class, () -> new ReferenceTrainer(
                TrainingFixtures.spec("nonsense", "adam", 1, 0, 1), m -> { }));
        assertThrows(TrainingException.class, () -> new ReferenceTrainer(
                TrainingFixtures.spec("tv", "sgd?", 1, 0, 1), m -> { }));
        TrainingSpec s = TrainingFixtures.spec("tv", "adam", 1, 0, 1);
        TrainingSpec.DataSpec missing = new TrainingSpec.DataSpec(dir.resolve("nope").toString(), "embedded", 1, 1, 16, 16, 1, 0, 0);
        var e = assertThrows(TrainingException.class, () -> TrainingData.load(missing, 1, org.nd4j.linalg.api.buffer.DataType.DOUBLE));
        assertTrue(e.getMessage().contains("not found"));
    }
}
