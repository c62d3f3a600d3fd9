package bilevel.numerics.solvers;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MisreportedSmoothness;
import bilevel.numerics.testproblems.QuadraticReference;
import bilevel.numerics.testproblems.TestImages;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FistaTest {
    private static final int H = 10;
    private static final int W = 9;
    private static final double[] THETA = {Math.log(0.4), Math.log(1.5)};
    private static final double MU = 0.05;

    /** A quadratic lower level with its exact minimiser x̂ from a dense Cholesky solve. */
    private record Setup(INDArray y, double[] exact, LinearOperator a) {
        static Setup of(LinearOperator a, long seed) {
            double[] clean = TestImages.clean(H, W, seed);
            double[][] am = Dense.matrixOf(H, W, new long[]{H, W}, a::apply);
            double[] y = TestImages.measure(am, clean, 0.1, seed);
            QuadraticReference ref = new QuadraticReference(a, y, clean, H, W, THETA, false, MU);
            return new Setup(Dense.image(y, H, W), ref.solution, a);
        }
    }

    private static double distance(INDArray x, double[] exact) {
        return Dense.norm(Dense.minus(Dense.vector(x), exact));
    }

    @Test
    void certifiedStoppingRuleBoundsTheTrueDistanceForSeveralTolerances() {
        for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new BoxBlurTestOperator()}) {
            Setup s = Setup.of(a, 3);
            try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
                 LowerLevelProblem p = new LowerLevelProblem(a, s.y(), new long[]{H, W}, r, MU);
                 Fista fista = new Fista(p)) {
                int previousIterations = 0;
                for (double eps : new double[]{1e-1, 1e-3, 1e-5, 1e-7, 1e-9}) {
                    INDArray x = p.newImage();
                    Fista.Result res = fista.solve(x, eps, 100_000);
                    double trueDistance = distance(x, s.exact());
                    assertTrue(res.converged() && res.certified(), a.name() + " ε=" + eps + ": " + res);
                    assertTrue(res.distanceBound() <= eps, res.toString());
                    assertTrue(trueDistance <= res.distanceBound(),
                            a.name() + " ε=" + eps + ": true distance " + trueDistance + " > bound " + res.distanceBound());
                    // the certificate is evaluated at the returned point
                    INDArray g = p.newImage();
                    p.gradient(x, g);
                    assertEquals(res.gradientNorm(), g.norm2Number().doubleValue(), 1e-12 * Math.max(1, res.gradientNorm()));
                    assertEquals(res.gradientNorm() / p.strongConvexity().value(), res.distanceBound(), 1e-15);
                    assertTrue(res.iterations() >= previousIterations);
                    previousIterations = res.iterations();
                }
            }
        }
    }

    @Test
    void iterationCapIsReportedAndTheBoundStillHolds() {
        Setup s = Setup.of(new BoxBlurTestOperator(), 4);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(s.a(), s.y(), new long[]{H, W}, r, MU);
             Fista fista = new Fista(p)) {
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, 1e-9, 5);
            assertFalse(res.converged());
            assertTrue(res.reachedIterationCap());
            assertEquals(5, res.iterations());
            assertEquals(5, res.maxIterations());
            assertTrue(res.distanceBound() > 1e-9);
            assertTrue(distance(x, s.exact()) <= res.distanceBound());
        }
    }

    @Test
    void warmStartNeedsFewerIterations() {
        Setup s = Setup.of(new BoxBlurTestOperator(), 5);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(s.a(), s.y(), new long[]{H, W}, r, MU);
             Fista fista = new Fista(p)) {
            INDArray cold = p.newImage();
            Fista.Result fromScratch = fista.solve(cold, 1e-8, 100_000);
            INDArray warm = p.newImage();
            fista.solve(warm, 1e-4, 100_000);
            Fista.Result refined = fista.solve(warm, 1e-8, 100_000);
            assertTrue(refined.converged());
            assertTrue(refined.iterations() < fromScratch.iterations(),
                    "warm " + refined.iterations() + " vs cold " + fromScratch.iterations());
            assertTrue(distance(warm, s.exact()) <= refined.distanceBound());
            // a point that already satisfies the tolerance is returned after one gradient evaluation
            Fista.Result again = fista.solve(warm, 1e-8, 100_000);
            assertEquals(1, again.iterations());
        }
    }

    @Test
    void backtrackingPreventsDivergenceWithAnUnderestimatedSmoothness() {
        Setup s = Setup.of(new IdentityTestOperator(), 6);
        try (Regularizer.Instance exact = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             Regularizer.Instance r = new MisreportedSmoothness(new QuadraticRegularizer().bind(THETA, DataType.DOUBLE), 0.01);
             LowerLevelProblem p = new LowerLevelProblem(s.a(), s.y(), new long[]{H, W}, r, MU);
             Fista fista = new Fista(p)) {
            assertFalse(p.smoothness().certified());
            double trueLipschitz = 1 + exact.gradientLipschitz().value() + MU;
            assertTrue(p.smoothness().value() < 0.5 * trueLipschitz, "the estimate must be too small for this test");
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, 1e-8, 100_000);
            assertTrue(res.converged(), res.toString());
            assertTrue(res.smoothness() > p.smoothness().value(), "backtracking must have increased L");
            assertTrue(distance(x, s.exact()) <= res.distanceBound());
        }
    }

    @Test
    void nonFiniteGradientStopsWithAnInfiniteBoundAndKeepsAFiniteIterate() {
        INDArray y = Nd4j.zeros(DataType.DOUBLE, H, W);
        y.putScalar(3, 4, Double.NaN);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(new IdentityTestOperator(), y, new long[]{H, W}, r, MU);
             Fista fista = new Fista(p)) {
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, 1e-6, 100);
            assertFalse(res.converged());
            assertEquals(Double.POSITIVE_INFINITY, res.distanceBound());
            assertEquals(0.0, x.norm2Number().doubleValue());
        }
    }

    @Test
    void worksInFloatToFloatAccuracy() {
        Setup s = Setup.of(new BoxBlurTestOperator(), 7);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.FLOAT);
             LowerLevelProblem p = new LowerLevelProblem(s.a(), s.y().castTo(DataType.FLOAT), new long[]{H, W}, r, MU);
             Fista fista = new Fista(p)) {
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, 1e-3, 100_000);
            assertTrue(res.converged(), res.toString());
            assertEquals(DataType.FLOAT, x.dataType());
            assertTrue(distance(x, s.exact()) <= res.distanceBound());
        }
    }
}
