package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.ConjugateGradient;
import bilevel.numerics.solvers.LinearSolveResult;
import bilevel.numerics.solvers.LinearSolver;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.solvers.SymmetricOperator;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.DelegatingInstance;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.QuadraticReference;
import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bookkeeping of {@link ImplicitHypergradient}: formula, flags, costs, pluggable solver, FLOAT. */
class ImplicitHypergradientTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final double MU = 0.05;
    private static final double[] THETA = {Math.log(0.3), Math.log(0.6)};

    @Test
    void errorBoundFormulaIsTheDerivedOne() {
        double mu = 0.5, eps = 1e-3, delta = 2e-3, g = 3, lj = 7, lh = 5, m = 11;
        HypergradientErrorBound b = HypergradientErrorBound.evaluate(mu, eps, delta, g, 2, m, lh, lj, true);
        double q = (g + 2 * eps) / mu;
        assertEquals(q, b.adjointNormBound(), 1e-15);
        assertEquals((delta + 2 * eps + lh * eps * q) / mu, b.adjointError(), 1e-15);
        assertEquals(m * (delta + 2 * eps + lh * eps * q) / mu + lj * eps * q, b.value(), 1e-14);
        HypergradientErrorBound failed = HypergradientErrorBound.evaluate(mu, Double.POSITIVE_INFINITY, delta, 0, 2, 0,
                0, 0, true);
        assertEquals(Double.POSITIVE_INFINITY, failed.value(), "0·∞ must not turn into a NaN or a zero bound");
    }

    @Test
    void resultReportsItsIngredientsAndCosts() {
        BilevelFixture f = new BilevelFixture(new BoxBlurTestOperator(), H, W, 41, 0.1);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 100_000, 100_000);
             HypergradientState state = ih.newState()) {
            Hypergradient z = ih.compute(f.target(), 1e-5, 1e-6, state);
            assertEquals(z.lowerLevel().iterations() + z.linearSolve().iterations(), z.computations());
            assertEquals(z.lowerLevel().accuracy(), ((HypergradientErrorBound) z.bound()).distance());
            assertEquals(z.linearSolve().accuracy(), ((HypergradientErrorBound) z.bound()).residual());
            assertEquals(MU, ((HypergradientErrorBound) z.bound()).strongConvexity());
            assertEquals(z.bound().value(), z.errorBound());
            double[] x = Dense.vector(state.lowerLevel());
            double loss = Dense.dot(Dense.minus(x, f.clean), Dense.minus(x, f.clean));
            assertEquals(loss, z.upperLoss(), 1e-12 * loss);
            // the record is immutable
            double[] copy = z.z();
            copy[0] = 1e9;
            assertTrue(z.z()[0] != 1e9);
            // the residual reported is the true residual of H(x) q = 2(x − x*)
            INDArray g = state.lowerLevel().sub(f.target()).muli(2);
            INDArray hq = p.newImage();
            p.hessianVector(state.lowerLevel(), state.adjoint(), hq);
            assertEquals(hq.sub(g).norm2Number().doubleValue(), z.linearSolve().accuracy(), 1e-12);
        }
    }

    @Test
    void notCertifiedWhenASolverHitsItsCapOrAConstantIsEstimated() {
        BilevelFixture f = new BilevelFixture(new BoxBlurTestOperator(), H, W, 42, 0.1);
        QuadraticReference ref = new QuadraticReference(f.operator, f.measurement, f.clean, H, W, THETA, false, MU);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU)) {
            try (ImplicitHypergradient capped = new ImplicitHypergradient(p, 100_000, 2)) {
                Hypergradient z = capped.compute(f.target(), 1e-6, 1e-9);
                assertFalse(z.certified());
                assertTrue(z.linearSolve().reachedIterationCap());
                // the bound, evaluated with the achieved residual, still holds
                assertTrue(Dense.norm(Dense.minus(z.z(), ref.hypergradient)) <= z.errorBound());
            }
            try (ImplicitHypergradient capped = new ImplicitHypergradient(p, 3, 100_000)) {
                Hypergradient z = capped.compute(f.target(), 1e-6, 1e-9);
                assertFalse(z.certified());
                assertTrue(z.lowerLevel().reachedIterationCap());
                assertTrue(Dense.norm(Dense.minus(z.z(), ref.hypergradient)) <= z.errorBound());
            }
        }
        try (Regularizer.Instance inner = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             Regularizer.Instance r = new DelegatingInstance(inner) {
                 @Override
                 public Bound mixedNorm(INDArray x) {
                     return Bound.estimated(inner.mixedNorm(x).value());
                 }
             };
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 100_000, 100_000)) {
            Hypergradient z = ih.compute(f.target(), 1e-6, 1e-6);
            assertTrue(z.lowerLevel().converged() && z.linearSolve().converged());
            assertFalse(z.certified(), "an estimated constant must not give a certified bound");
        }
    }

    @Test
    void linearSolverIsPluggable() {
        BilevelFixture f = new BilevelFixture(new IdentityTestOperator(), H, W, 43, 0.1);
        int[] calls = {0};
        try (ConjugateGradient cg = new ConjugateGradient(f.shape(), DataType.DOUBLE);
             LinearSolver counting = new LinearSolver() {
                 @Override
                 public LinearSolveResult solve(SymmetricOperator operator, INDArray rhs, INDArray solution,
                                                double tolerance, int maxIterations) {
                     calls[0]++;
                     return cg.solve(operator, rhs, solution, tolerance, maxIterations);
                 }

                 @Override
                 public void close() {
                 }
             };
             Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, counting, 100_000, 100_000)) {
            Hypergradient z = ih.compute(f.target(), 1e-6, 1e-6);
            assertEquals(1, calls[0]);
            assertTrue(z.certified());
        }
    }

    @Test
    void floatAgreesWithDouble() {
        BilevelFixture f = new BilevelFixture(new BoxBlurTestOperator(), H, W, 44, 0.1);
        double[][] z = new double[2][];
        double[] bounds = new double[2];
        DataType[] types = {DataType.DOUBLE, DataType.FLOAT};
        for (int t = 0; t < 2; t++) {
            try (Regularizer.Instance r = new QuadraticRegularizer().bind(THETA, types[t]);
                 LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data().castTo(types[t]), f.shape(), r, MU);
                 ImplicitHypergradient ih = new ImplicitHypergradient(p, 100_000, 100_000)) {
                Hypergradient h = ih.compute(f.target().castTo(types[t]), 1e-3, 1e-3);
                assertTrue(h.lowerLevel().converged() && h.linearSolve().converged(), types[t] + ": " + h);
                z[t] = h.z();
                bounds[t] = h.errorBound();
            }
        }
        assertTrue(Dense.norm(Dense.minus(z[0], z[1])) <= bounds[0] + bounds[1]);
    }
}
