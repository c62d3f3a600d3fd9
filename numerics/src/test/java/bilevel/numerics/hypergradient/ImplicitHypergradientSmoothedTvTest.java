package bilevel.numerics.hypergradient;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.Fista;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.testproblems.SmoothedTvTestRegularizer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The implicit hypergradient with a NON-quadratic regularizer (test-scope smoothed TV, L_H &gt; 0), where no
 * closed form exists: the reference is the same method at ε = δ = 1e-11 (its own certified bound is
 * tiny), itself checked against central finite differences of f(θ) = ‖x̂(θ) − x*‖².
 */
class ImplicitHypergradientSmoothedTvTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final double MU = 0.05;
    private static final double TIGHT = 1e-11;
    private static final Regularizer REG = new SmoothedTvTestRegularizer();

    private static Hypergradient compute(BilevelFixture f, double[] theta, double eps, double delta) {
        try (Regularizer.Instance r = REG.bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 1_000_000, 1_000_000)) {
            return ih.compute(f.target(), eps, delta);
        }
    }

    /** f(θ) = ‖x̂(θ) − x*‖² with x̂ certified to ε; returns {f, ε-induced error bound on f}. */
    private static double[] upperObjective(BilevelFixture f, double[] theta, double eps) {
        try (Regularizer.Instance r = REG.bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             Fista fista = new Fista(p)) {
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, eps, 1_000_000);
            assertTrue(res.converged());
            double[] d = Dense.minus(Dense.vector(x), f.clean);
            double dist = Dense.norm(d);
            // |‖x − x*‖² − ‖x̂ − x*‖²| ≤ (2‖x − x*‖ + ε) ε
            return new double[]{dist * dist, (2 * dist + res.distanceBound()) * res.distanceBound()};
        }
    }

    private static final double[][] THETAS = {
            {Math.log(0.05), Math.log(0.05)},
            {Math.log(0.15), Math.log(0.1)},
            {Math.log(0.4), Math.log(0.3)}};

    /**
     * 2 seeds × 2 operators × 3 θ = 12 references (each checked by finite differences) × 3 ε × 3 δ = 108
     * configurations. A violation is proven when ‖z − z_ref‖ &gt; bound + bound_ref, since then
     * ‖z − ∇f‖ ≥ ‖z − z_ref‖ − ‖z_ref − ∇f‖ &gt; bound.
     */
    @Test
    void certifiedBoundIsNeverBelowTheTrueErrorOnABattery() {
        int configurations = 0;
        double smallestRatio = Double.POSITIVE_INFINITY;
        for (long seed = 1; seed <= 2; seed++) {
            for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(seed)}) {
                BilevelFixture f = new BilevelFixture(a, H, W, 20 + seed, 0.1);
                for (double[] theta : THETAS) {
                    String where = a.name() + " seed=" + seed + " θ=" + Arrays.toString(theta);
                    Hypergradient ref = compute(f, theta, TIGHT, TIGHT);
                    assertTrue(ref.certified(), where + ": " + ref);
                    double refNorm = Dense.norm(ref.z());
                    // the reference is accurate to at least 5 digits (its bound enters every comparison below)
                    assertTrue(ref.errorBound() <= 1e-5 * refNorm, where + ": reference bound " + ref.errorBound() + " vs " + refNorm);
                    checkAgainstFiniteDifferences(f, theta, ref, where);
                    for (double eps : new double[]{1e-2, 1e-4, 1e-7}) {
                        for (double delta : new double[]{1e-2, 1e-5, 1e-8}) {
                            Hypergradient z = compute(f, theta, eps, delta);
                            double diff = Dense.norm(Dense.minus(z.z(), ref.z()));
                            assertTrue(z.certified(), where + " ε=" + eps + " δ=" + delta + ": " + z);
                            assertTrue(diff <= z.errorBound() + ref.errorBound(), where + " ε=" + eps + " δ=" + delta
                                    + ": error ≥ " + (diff - ref.errorBound()) + " > bound " + z.errorBound());
                            smallestRatio = Math.min(smallestRatio, (z.errorBound() + ref.errorBound()) / diff);
                            configurations++;
                        }
                    }
                }
            }
        }
        assertTrue(configurations >= 100, "only " + configurations + " configurations");
        assertTrue(smallestRatio >= 1);
    }

    private static void checkAgainstFiniteDifferences(BilevelFixture f, double[] theta, Hypergradient ref, String where) {
        double[] z = ref.z();
        double step = 1e-4;
        for (int i = 0; i < theta.length; i++) {
            double[] tp = theta.clone();
            double[] tm = theta.clone();
            tp[i] += step;
            tm[i] -= step;
            double[] fp = upperObjective(f, tp, 1e-12);
            double[] fm = upperObjective(f, tm, 1e-12);
            double fd = (fp[0] - fm[0]) / (2 * step);
            // the ε-error of f enters as (err₊ + err₋)/(2h); the O(h²) truncation error is covered by 1e-6·|fd|
            double allowed = (fp[1] + fm[1]) / (2 * step) + 1e-6 * Math.abs(fd) + ref.errorBound() + 1e-9;
            assertEquals(fd, z[i], allowed, where + ": component " + REG.paramName(i));
        }
    }
}
