package bilevel.numerics.solvers;

import bilevel.numerics.testproblems.Dense;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConjugateGradientTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final int N = H * W;

    /** M = BᵀB·scale + c·I with a spread spectrum (condition number ~ 1e4 for c = 1e-2). */
    private static double[][] spd(Random random, double c) {
        double[][] b = new double[N][N];
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) {
                b[i][j] = random.nextGaussian() * Math.pow(0.93, j);
            }
        }
        return Dense.plus(Dense.transposeTimes(b, b), c, Dense.identity(N));
    }

    private static SymmetricOperator operator(double[][] m) {
        return (v, out) -> out.assign(Dense.image(Dense.times(m, Dense.vector(v)), H, W));
    }

    private static double trueResidual(double[][] m, INDArray q, INDArray b) {
        return Dense.norm(Dense.minus(Dense.times(m, Dense.vector(q)), Dense.vector(b)));
    }

    @Test
    void convergesOnSpdSystemsAndReportsTheTrueResidual() {
        Random random = new Random(61);
        try (ConjugateGradient cg = new ConjugateGradient(new long[]{H, W}, DataType.DOUBLE)) {
            for (double c : new double[]{1.0, 1e-2}) {
                double[][] m = spd(random, c);
                INDArray b = gaussian(random, H, W);
                double[] exact = Dense.solveSpd(m, Dense.vector(b));
                for (double delta : new double[]{1e-2, 1e-6, 1e-10}) {
                    INDArray q = gaussian(random, H, W).muli(0);
                    LinearSolveResult res = cg.solve(operator(m), b, q, delta, 10 * N);
                    assertTrue(res.converged(), "c=" + c + " δ=" + delta + ": " + res);
                    double residual = trueResidual(m, q, b);
                    assertTrue(residual <= delta, "true residual " + residual + " > δ " + delta);
                    assertEquals(residual, res.residual(), 1e-9 * residual + 1e-15, "reported residual is not the true one");
                    // ‖q − q̂‖ ≤ ‖M⁻¹‖ δ ≤ δ/c
                    assertTrue(Dense.norm(Dense.minus(Dense.vector(q), exact)) <= delta / c);
                    assertTrue(res.operatorApplications() >= res.iterations() + 1);
                }
            }
        }
    }

    @Test
    void warmStartReducesIterations() {
        Random random = new Random(62);
        double[][] m = spd(random, 1e-2);
        INDArray b = gaussian(random, H, W);
        try (ConjugateGradient cg = new ConjugateGradient(new long[]{H, W}, DataType.DOUBLE)) {
            INDArray cold = gaussian(random, H, W).muli(0);
            LinearSolveResult fromScratch = cg.solve(operator(m), b, cold, 1e-9, 10 * N);
            INDArray warm = gaussian(random, H, W).muli(0);
            LinearSolveResult coarse = cg.solve(operator(m), b, warm, 1e-3, 10 * N);
            LinearSolveResult refined = cg.solve(operator(m), b, warm, 1e-9, 10 * N);
            assertTrue(coarse.converged() && refined.converged() && fromScratch.converged());
            assertTrue(refined.iterations() < fromScratch.iterations(),
                    "warm " + refined.iterations() + " vs cold " + fromScratch.iterations());
            // an already good enough start costs no iteration
            LinearSolveResult again = cg.solve(operator(m), b, warm, 1e-9, 10 * N);
            assertEquals(0, again.iterations());
            assertTrue(again.converged());
        }
    }

    @Test
    void iterationCapIsReportedWithTheTrueResidual() {
        Random random = new Random(63);
        double[][] m = spd(random, 1e-2);
        INDArray b = gaussian(random, H, W);
        try (ConjugateGradient cg = new ConjugateGradient(new long[]{H, W}, DataType.DOUBLE)) {
            INDArray q = gaussian(random, H, W).muli(0);
            LinearSolveResult res = cg.solve(operator(m), b, q, 1e-12, 3);
            assertFalse(res.converged());
            assertTrue(res.reachedIterationCap());
            assertEquals(3, res.iterations());
            assertEquals(trueResidual(m, q, b), res.residual(), 1e-12 * res.residual());
        }
    }

    @Test
    void indefiniteOperatorIsReportedNotConverged() {
        Random random = new Random(64);
        double[][] m = Dense.plus(spd(random, 1.0), -1e3, Dense.identity(N));   // negative curvature
        INDArray b = gaussian(random, H, W);
        try (ConjugateGradient cg = new ConjugateGradient(new long[]{H, W}, DataType.DOUBLE)) {
            INDArray q = gaussian(random, H, W).muli(0);
            LinearSolveResult res = cg.solve(operator(m), b, q, 1e-8, 10 * N);
            assertFalse(res.converged());
            assertEquals(trueResidual(m, q, b), res.residual(), 1e-9 * res.residual());
        }
    }
}
