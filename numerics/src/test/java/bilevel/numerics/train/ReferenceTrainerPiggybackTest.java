package bilevel.numerics.train;

import bilevel.numerics.regularizers.Regularizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reference trainer with primal–dual models: piggyback hypergradients, deterministic, model files, MAID. */
class ReferenceTrainerPiggybackTest {
    static final Map<String, Object> SMALL_FILTERS = Map.of("filters", 2, "size", 3);
    /** A smoother Huber function than the default: faster PDHG, so the tests stay quick. */
    static final Map<String, Object> SMOOTH_TV = Map.of("smoothing", 0.01);

    @TempDir
    Path dir;

    static TrainingSpec spec(String type, Map<String, Object> options, String method, long seed, long maxSteps) {
        return TrainingFixtures.spec(type, options, method, seed, 0, maxSteps, "denoise");
    }

    private ReferenceTrainer.Result train(TrainingSpec spec, Path out, List<StepMetrics> seen) {
        ReferenceTrainer t = new ReferenceTrainer(spec, seen::add);
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), t.dataType())) {
            return t.run(data, out);
        }
    }

    @Test
    void sameSeedGivesTheSameThetaBitForBit() {
        Object[][] cases = {{"pd-filters", SMALL_FILTERS, "adam"}, {"pd-tv", SMOOTH_TV, "isgd"}};
        for (Object[] c : cases) {
            @SuppressWarnings("unchecked")
            Map<String, Object> options = (Map<String, Object>) c[1];
            String name = c[0] + "-" + c[2];
            List<StepMetrics> seen = new ArrayList<>();
            ReferenceTrainer.Result a = train(spec((String) c[0], options, (String) c[2], 7, 3), dir.resolve(name + "-a"), seen);
            ReferenceTrainer.Result b = train(spec((String) c[0], options, (String) c[2], 7, 3), dir.resolve(name + "-b"), new ArrayList<>());
            assertArrayEquals(a.theta(), b.theta(), 0.0, name + " must be deterministic");
            assertEquals(a.computations(), b.computations());
            assertEquals(a.validationPsnr(), b.validationPsnr(), 0.0);
            ReferenceTrainer.Result other = train(spec((String) c[0], options, (String) c[2], 8, 3), dir.resolve(name + "-c"), new ArrayList<>());
            assertFalse(java.util.Arrays.equals(a.theta(), other.theta()), "another seed should give another run");
            assertEquals(3, seen.size());
            for (StepMetrics m : seen) {
                assertTrue(m.certified(), name + ": the piggyback bounds of denoising are certified: " + m);
                assertTrue(Double.isFinite(m.errorBound()) && m.errorBound() > 0);
            }
            assertTrue(Double.isFinite(a.validationPsnr()));
        }
    }

    @Test
    void theModelFileHoldsTheResolvedOptionsAndReadsBack() {
        TrainingSpec spec = spec("pd-filters", Map.of("filters", 2), "adam", 3, 2);
        ReferenceTrainer.Result r = train(spec, dir.resolve("run"), new ArrayList<>());
        ModelFile m = ModelFile.read(dir.resolve("run/model.json"));
        assertEquals("pd-filters", m.type());
        assertEquals(Map.of("filters", 2, "size", 5, "smoothing", RegularizerFactory.DEFAULT_PD_SMOOTHING), m.options());
        assertArrayEquals(r.theta(), m.theta(), 0.0);
        Regularizer family = RegularizerFactory.create(m.type(), m.options());
        assertEquals(family.numParams(), m.theta().length);
        assertEquals(2 * 25 + 2, family.numParams());
    }

    /** Full-batch loss mean_i ‖x*_i(θ) − x_i‖² with PDHG to 1e-6. */
    private static double fullLoss(TrainingSpec spec, TrainingData data, double[] theta) {
        Regularizer reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
        try (SampleSolver solver = new SampleSolver(data, spec.problem(), spec.train(), DataType.DOUBLE, spec.seed(), 64,
                RegularizerFactory.hypergradientMethod(reg, 1_000_000, 1_000_000));
             Regularizer.Instance inst = reg.bind(theta, DataType.DOUBLE)) {
            double sum = 0;
            for (int i = 0; i < data.plan().size(); i++) {
                SampleSolver.LowerSolve s = solver.lowerLevel(inst, i, 1e-6);
                assertFalse(s.capped());
                sum += s.loss();
            }
            return sum / data.plan().size();
        }
    }

    /** MAID (full batch, backtracking on the inexact loss) drives the piggyback oracle and decreases the true loss. */
    @Test
    void maidWorksWithThePiggybackMethod() {
        TrainingSpec spec = spec("pd-tv", SMOOTH_TV, "maid", 2, 3);
        List<StepMetrics> seen = new ArrayList<>();
        ReferenceTrainer.Result a = train(spec, dir.resolve("m1"), seen);
        long accepted = seen.stream().filter(StepMetrics::accepted).count();
        System.out.println("MAID with piggyback (pd-tv): " + seen.size() + " iterations, " + accepted + " accepted, theta "
                + java.util.Arrays.toString(a.theta()));
        assertTrue(accepted >= 1, "no accepted step: " + seen);
        ReferenceTrainer trainer = new ReferenceTrainer(spec, m -> { });
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), trainer.dataType())) {
            Regularizer reg = RegularizerFactory.create("pd-tv", SMOOTH_TV);
            double before = fullLoss(spec, data, trainer.initialTheta(reg));
            double after = fullLoss(spec, data, a.theta());
            assertTrue(after < before, "true loss " + before + " -> " + after);
        }
    }
}
