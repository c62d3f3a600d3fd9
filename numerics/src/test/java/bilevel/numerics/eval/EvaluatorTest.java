package bilevel.numerics.eval;

import bilevel.numerics.TestArrays;
import bilevel.numerics.image.Metrics;
import bilevel.numerics.operators.Blur;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.TestImages;
import bilevel.numerics.train.SampleSolver;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluatorTest {

    private static TrainingSpec.ProblemSpec problem(String operator, double mu) {
        return new TrainingSpec.ProblemSpec(operator, 25, mu, 3, 1.0, 0.3);
    }

    private static INDArray clean(int h, int w, long seed) {
        return Dense.image(TestImages.clean(h, w, seed), h, w);
    }

    /** The bound is attained at x̂ = x ± d·(x − x*)/‖x − x*‖ and never exceeded by other x̂ at distance ≤ d. */
    @Test
    void psnrDeviationIsTightAndNeverExceeded() {
        Random r = new Random(3);
        INDArray ref = TestArrays.uniform(r, 0, 1, 12, 12);
        INDArray x = ref.add(TestArrays.gaussian(r, 12, 12).muli(0.05));
        double mse = Metrics.mse(x, ref);
        double psnr = Metrics.psnr(x, ref);
        INDArray error = x.sub(ref);
        double errorNorm = TestArrays.norm(error);
        for (double d : new double[]{1e-6, 1e-3, 0.05, 0.3 * errorNorm}) {
            double bound = Evaluator.psnrDeviation(mse, x.length(), d);
            INDArray closer = x.sub(error.mul(d / errorNorm));    // x̂ nearer to x*: PSNR rises by the bound
            INDArray farther = x.add(error.mul(d / errorNorm));
            double up = Metrics.psnr(closer, ref) - psnr;
            double down = psnr - Metrics.psnr(farther, ref);
            assertEquals(bound, up, 1e-9 * Math.max(1, bound), "attained towards x* for d = " + d);
            assertTrue(down <= bound + 1e-12, "the other end is smaller for d = " + d);
            for (int k = 0; k < 50; k++) {
                INDArray dir = TestArrays.gaussian(r, 12, 12);
                INDArray other = x.add(dir.muli(d * r.nextDouble() / TestArrays.norm(dir)));
                assertTrue(Math.abs(Metrics.psnr(other, ref) - psnr) <= bound * (1 + 1e-9) + 1e-12,
                        "random x̂ within distance " + d);
            }
        }
        assertEquals(0.0, Evaluator.psnrDeviation(mse, x.length(), 0.0));
        assertEquals(Double.POSITIVE_INFINITY, Evaluator.psnrDeviation(mse, x.length(), errorNorm));
        assertEquals(Double.POSITIVE_INFINITY, Evaluator.psnrDeviation(mse, x.length(), Double.POSITIVE_INFINITY));
    }

    /**
     * Quadratic regularizer with blur: the minimiser solves (AᵀA + w₁D₁ᵀD₁ + w₂D₂ᵀD₂ + μI) x̂ = Aᵀy, solved
     * densely; the evaluator's x must be within its certified distance bound of x̂, which must meet the
     * requested RMS accuracy.
     */
    @Test
    void reconstructionIsWithinItsCertifiedDistanceOfTheDenseSolution() {
        int h = 12;
        int w = 12;
        double mu = 1e-3;
        double accuracy = 1e-6;
        Evaluator ev = new Evaluator(problem("blur", mu), new Evaluator.Settings(accuracy, 20000, DataType.DOUBLE));
        double[] theta = {Math.log(0.3), Math.log(0.2)};
        INDArray clean = clean(h, w, 5);
        try (Regularizer.Instance inst = new QuadraticRegularizer().bind(theta, DataType.DOUBLE);
             Evaluator.Measurement m = ev.measure(clean, 77);
             INDArray x = ev.adjointStart(m.operator(), m.y(), clean.shape())) {
            Evaluator.Solve s = ev.solve(inst, m.operator(), m.y(), x);
            assertTrue(s.certified() && s.converged(), s.toString());
            assertTrue(s.distanceBound() <= accuracy * Math.sqrt(h * w), s.toString());

            Blur blur = Blur.gaussian(3, 1.0);
            double[][] a = Dense.matrixOf(h, w, new long[]{h, w}, blur::apply);
            double[][] d1 = Dense.verticalDifference(h, w);
            double[][] d2 = Dense.horizontalDifference(h, w);
            double[][] lhs = Dense.plus(Dense.plus(Dense.plus(Dense.transposeTimes(a, a), 0.3, Dense.transposeTimes(d1, d1)),
                    0.2, Dense.transposeTimes(d2, d2)), mu, Dense.identity(h * w));
            double[] exact = Dense.solveSpd(lhs, Dense.transposeTimes(a, Dense.vector(m.y())));
            double distance = Dense.norm(Dense.minus(Dense.vector(x), exact));
            assertTrue(distance <= s.distanceBound(), "‖x − x̂‖ = " + distance + " > bound " + s.distanceBound());
        }
    }

    /** The measurement is the training's: y − x* is σ/255 times the seeded Gaussian noise, and seeds differ per image. */
    @Test
    void denoisingMeasurementIsCleanPlusSeededNoise() {
        Evaluator ev = new Evaluator(problem("denoise", 0), new Evaluator.Settings(1e-4, 100, DataType.DOUBLE));
        INDArray clean = clean(16, 16, 1);
        long s0 = Evaluator.noiseSeed(9, 0);
        long s1 = Evaluator.noiseSeed(9, 1);
        assertFalse(s0 == s1);
        try (Evaluator.Measurement a = ev.measure(clean, s0); Evaluator.Measurement b = ev.measure(clean, s0);
             Evaluator.Measurement c = ev.measure(clean, s1)) {
            assertEquals(0.0, TestArrays.norm(a.y().sub(b.y())), "same seed, same noise");
            assertTrue(TestArrays.norm(a.y().sub(c.y())) > 0.1, "another seed, other noise");
            INDArray noise = a.y().sub(clean);
            Random expected = new Random(s0);
            for (int i = 0; i < noise.length(); i++) {
                assertEquals(25 / 255.0 * expected.nextGaussian(), noise.getDouble(i), 1e-12);
            }
        }
    }

    /**
     * Reconstructing a run's validation images with {@link Evaluator#noiseSeed}(run seed, i) reproduces the
     * training's validation PSNR ({@link SampleSolver#reconstructValidation}) up to the certified deviations of
     * both solves — for denoising and for inpainting, whose mask is derived from the noise seed.
     */
    @Test
    void reproducesTheTrainingValidationMeasurement() {
        for (String operator : new String[]{"denoise", "inpaint"}) {
            TrainingSpec.ProblemSpec p = problem(operator, 0.05);
            TrainingSpec.DataSpec data = new TrainingSpec.DataSpec("embedded", "embedded", 1, 2, 20, 16, 1, 0, 0);
            TrainingSpec.TrainSpec train = new TrainingSpec.TrainSpec("adam", 1, 0, 1, "constant:0.01", "constant:1e-3",
                    "tied:1.0", 50000, 10, 0, 1e-3, new TrainingSpec.MaidSpec(0.5, 0.5, 1e-4, 0.5, 1.05, 1.1, 8, 0.01, 1e-2));
            long seed = 11;
            double epsilon = 1e-7;   // absolute, for the trainer's solver
            Regularizer tv = new TotalVariation();
            double[] theta = {Math.log(0.05), Math.log(0.05)};
            Evaluator ev = new Evaluator(p, new Evaluator.Settings(epsilon / 20, 50000, DataType.DOUBLE));
            try (TrainingData d = TrainingData.load(data, seed, DataType.DOUBLE);
                 SampleSolver solver = new SampleSolver(d, p, train, DataType.DOUBLE, seed, 4);
                 Regularizer.Instance inst = tv.bind(theta, DataType.DOUBLE)) {
                for (int i = 0; i < d.validation().size(); i++) {
                    INDArray clean = d.validation().get(i);
                    SampleSolver.Reconstruction ref = solver.reconstructValidation(inst, i, epsilon, null);
                    Evaluator.Outcome o = ev.evaluate(inst, clean, Evaluator.noiseSeed(seed, i), null, null);
                    double mse = Math.pow(10, -o.psnr() / 10);
                    double refDeviation = Evaluator.psnrDeviation(mse, clean.length(), epsilon);
                    assertTrue(o.solve().certified() && o.solve().converged(), operator);
                    assertTrue(ref.certified(), operator);
                    assertEquals(ref.psnr(), o.psnr(), o.psnrDeviation() + 2 * refDeviation + 1e-9,
                            operator + " validation image " + i);
                }
            }
        }
    }

    @Test
    void inpaintingMaskHasTheStatedFractionAndDependsOnTheSeed() {
        Evaluator ev = new Evaluator(problem("inpaint", 1e-3), new Evaluator.Settings(1e-4, 100, DataType.DOUBLE));
        INDArray clean = Nd4j.ones(DataType.DOUBLE, 20, 20);
        try (Evaluator.Measurement a = ev.measure(clean, 1); Evaluator.Measurement b = ev.measure(clean, 2)) {
            var ma = ((bilevel.numerics.operators.Inpainting) a.operator()).mask();
            var mb = ((bilevel.numerics.operators.Inpainting) b.operator()).mask();
            assertEquals(Math.round(0.3 * 400), 400 - ma.sumNumber().longValue());
            assertTrue(TestArrays.norm(ma.sub(mb)) > 0, "masks follow the noise seed");
        }
    }

    @Test
    void iterationCapIsReportedNotHidden() {
        Evaluator ev = new Evaluator(problem("denoise", 0), new Evaluator.Settings(1e-9, 2, DataType.DOUBLE));
        try (Regularizer.Instance inst = new TotalVariation().bind(new double[]{Math.log(0.1), Math.log(0.01)}, DataType.DOUBLE)) {
            Evaluator.Outcome o = ev.evaluate(inst, clean(16, 16, 2), 5, null, null);
            assertEquals(2, o.solve().iterations());
            assertFalse(o.solve().converged());
            assertTrue(o.psnrDeviation() > 0);
            double mse = Math.pow(10, -o.psnr() / 10);
            assertEquals(Evaluator.psnrDeviation(mse, 256, o.solve().distanceBound()), o.psnrDeviation(), 1e-12);
        }
    }

    @Test
    void outputsReceiveMeasurementAndReconstruction() {
        Evaluator ev = new Evaluator(problem("denoise", 0), new Evaluator.Settings(1e-5, 5000, DataType.FLOAT));
        INDArray clean = clean(16, 16, 4);
        INDArray y = Nd4j.create(DataType.DOUBLE, 16, 16);
        INDArray x = Nd4j.create(DataType.DOUBLE, 16, 16);
        try (Regularizer.Instance inst = new TotalVariation().bind(new double[]{Math.log(0.08), Math.log(0.01)}, DataType.FLOAT)) {
            Evaluator.Outcome o = ev.evaluate(inst, clean, 3, y, x);
            assertEquals(o.inputPsnr(), Metrics.psnr(y, clean), 1e-4);
            assertEquals(o.psnr(), Metrics.psnr(x, clean), 1e-4);
            assertTrue(o.psnr() > o.inputPsnr() + 3, "TV denoising helps: " + o);
            assertEquals(o.ssim(), Metrics.ssim(x, clean), 1e-6);
        }
    }

    @Test
    void badSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Evaluator.Settings(0, 10, DataType.DOUBLE));
        assertThrows(IllegalArgumentException.class, () -> new Evaluator.Settings(1e-3, 0, DataType.DOUBLE));
        assertThrows(IllegalArgumentException.class, () -> new Evaluator.Settings(1e-3, 10, DataType.INT));
        assertThrows(IllegalArgumentException.class, () -> new Evaluator(problem("deblur", 0),
                new Evaluator.Settings(1e-3, 10, DataType.DOUBLE)));
    }
}
