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

    /** Full-batch training loss mean_i ‖x̂_i(θ) − x_i‖², solved tightly. */
    private static double fullLoss(TrainingSpec spec, TrainingData data, double[] theta) {
        var reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
        try (SampleSolver solver = new SampleSolver(data, spec.problem(), spec.train(), org.nd4j.linalg.api.buffer.DataType.DOUBLE, spec.seed(), 64);
             var inst = reg.bind(theta, org.nd4j.linalg.api.buffer.DataType.DOUBLE)) {
            double sum = 0;
            for (int i = 0; i < data.plan().size(); i++) {
                sum += solver.lowerLevel(inst, i, 1e-6).loss();
            }
            return sum / data.plan().size();
        }
    }

    @Test
    void fullBatchAdamDecreasesTheTrainingLoss() {
        TrainingSpec base = TrainingFixtures.spec("tv", "adam", 5, 0, 15);
        // batch = all 12 samples: deterministic full-batch Adam on f(θ) = mean_i ‖x̂_i(θ) − x_i‖²
        TrainingSpec.TrainSpec t = base.train();
        TrainingSpec spec = new TrainingSpec(base.seed(), base.dtype(), base.regularizer(), base.problem(), base.data(),
                new TrainingSpec.TrainSpec(t.method(), 12, t.budget(), t.maxSteps(), "constant:0.05", "constant:1e-4",
                        "tied:1.0", t.maxLowerIterations(), t.maxCgIterations(), 0, t.validationAccuracy(), t.maid()));
        ReferenceTrainer trainer = new ReferenceTrainer(spec, m -> { });
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), trainer.dataType())) {
            double[] theta0 = trainer.initialTheta(RegularizerFactory.create("tv", java.util.Map.of()));
            double before = fullLoss(spec, data, theta0);
            ReferenceTrainer.Result r = trainer.run(data, dir.resolve("improve"));
            double after = fullLoss(spec, data, r.theta());
            assertTrue(after < 0.99 * before, "training loss should decrease: " + before + " -> " + after);
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

    /**
     * The budget holds inside a MAID outer iteration: with a budget far below what the first outer iteration
     * costs (its full-batch hypergradient is recomputed while ε and δ tighten, and a line search follows), the
     * run stops after at most one full-batch evaluation past the budget, at the last accepted θ (here θ0),
     * instead of finishing the iteration.
     */
    @Test
    void maidStopsInsideAnOuterIterationWhenTheBudgetRunsOut() {
        TrainingSpec unlimited = TrainingFixtures.spec("tv", "maid", 2, 0, 1);
        ReferenceTrainer.Result one = train(unlimited, dir.resolve("one"), new ArrayList<>());
        long firstIteration = one.computations();
        TrainingSpec.TrainSpec t = unlimited.train();
        long budget = 5;   // far below one full-batch evaluation (6 samples, each ≥ 1 iteration of each solver)
        TrainingSpec tight = new TrainingSpec(unlimited.seed(), unlimited.dtype(), unlimited.regularizer(),
                unlimited.problem(), unlimited.data(), new TrainingSpec.TrainSpec(t.method(), t.batch(), budget, 0,
                t.step(), t.accuracy(), t.cgTolerance(), t.maxLowerIterations(), t.maxCgIterations(), t.validateEvery(),
                t.validationAccuracy(), t.maid(), t.errorBound()));
        List<StepMetrics> lines = new ArrayList<>();
        ReferenceTrainer trainer = new ReferenceTrainer(tight, lines::add);
        ReferenceTrainer.Result r;
        double[] theta0;
        try (TrainingData data = TrainingData.load(tight.data(), tight.seed(), trainer.dataType())) {
            theta0 = trainer.initialTheta(RegularizerFactory.create("tv", java.util.Map.of()));
            r = trainer.run(data, dir.resolve("tight"));
        }
        assertTrue(r.computations() < firstIteration, "stopped inside the first outer iteration: " + r.computations()
                + " computations against " + firstIteration + " for the whole iteration");
        assertTrue(r.computations() >= budget);
        assertEquals(0, r.steps());
        assertTrue(lines.isEmpty(), "no outer iteration completed, so no metrics line");
        assertArrayEquals(theta0, r.theta(), 0.0);
    }

    /**
     * train.error-bound = estimated: every metrics line says certified = false, the bounds are below the
     * certified run's at the same first θ, the model file records the mode and reads back.
     */
    @Test
    void estimatedErrorBoundsAreLabelledInTheMetrics() throws IOException {
        TrainingSpec certified = TrainingFixtures.spec("tv", "isgd", 4, 0, 2);
        TrainingSpec.TrainSpec t = certified.train();
        TrainingSpec estimated = new TrainingSpec(certified.seed(), certified.dtype(), certified.regularizer(),
                certified.problem(), certified.data(), new TrainingSpec.TrainSpec(t.method(), t.batch(), t.budget(),
                t.maxSteps(), t.step(), t.accuracy(), t.cgTolerance(), t.maxLowerIterations(), t.maxCgIterations(),
                t.validateEvery(), t.validationAccuracy(), t.maid(), "estimated"));
        List<StepMetrics> c = new ArrayList<>();
        List<StepMetrics> e = new ArrayList<>();
        train(certified, dir.resolve("cert"), c);
        train(estimated, dir.resolve("est"), e);
        assertTrue(c.get(0).certified(), "the TV bounds are certified");
        assertEquals(c.get(0).zNorm(), e.get(0).zNorm(), 0.0, "the mode changes the bound, not z");
        assertTrue(e.get(0).errorBound() <= c.get(0).errorBound());
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(dir.resolve("est/metrics.jsonl"))) {
            assertFalse(json.readTree(line).get("certified").asBoolean(), line);
        }
        assertEquals("estimated", ModelFile.read(dir.resolve("est/model.json")).config().train().errorBound());
        assertEquals("certified", ModelFile.read(dir.resolve("cert/model.json")).config().train().errorBound());
        assertThrows(IllegalArgumentException.class, () -> new TrainingSpec.TrainSpec(t.method(), t.batch(),
                t.budget(), t.maxSteps(), t.step(), t.accuracy(), t.cgTolerance(), t.maxLowerIterations(),
                t.maxCgIterations(), t.validateEvery(), t.validationAccuracy(), t.maid(), "loose"));
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
