package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The piggyback hypergradient against central finite differences of f(θ) = ‖x*(θ) − x†‖², against the
 * implicit-function hypergradient of the equivalent smooth primal problem, and its a-posteriori bound on a
 * battery of tolerances × seeds × models.
 */
class PiggybackHypergradientTest {
    private static final double WEIGHT = 1.0;
    private static final double SMOOTHING = 0.05;
    private static final double TIGHT = 1e-12;

    private static PrimalDualFixture fixture(LinearOperator a, LearnedOperator family, long seed) {
        double mu = a instanceof IdentityTestOperator ? 0.0 : 0.1;
        return new PrimalDualFixture(a, 8, 8, seed, 0.1, family, mu, WEIGHT, SMOOTHING);
    }

    private static double[] perturbedTheta(LearnedOperator family, long seed) {
        double[] t = family.initialTheta(seed);
        Random r = new Random(seed);
        for (int i = 0; i < t.length; i++) {
            t[i] += 0.2 * r.nextGaussian();
        }
        return family.project(t);
    }

    @Test
    void matchesCentralFiniteDifferencesOfTheLoss() {
        Object[][] cases = {
                {new IdentityTestOperator(), new FiniteDifferences(), new double[]{Math.log(0.05)}},
                {new MaskTestOperator(3), new FiniteDifferences(), new double[]{Math.log(0.2)}},
                {new IdentityTestOperator(), new ConvolutionFilters(2, 3), perturbedTheta(new ConvolutionFilters(2, 3), 1)},
                {new MaskTestOperator(5), new ConvolutionFilters(2, 3), perturbedTheta(new ConvolutionFilters(2, 3), 2)}};
        for (Object[] c : cases) {
            LearnedOperator family = (LearnedOperator) c[1];
            PrimalDualFixture f = fixture((LinearOperator) c[0], family, 11);
            double[] theta = (double[]) c[2];
            PrimalDualHypergradient h = f.piggyback(theta, TIGHT, TIGHT);
            assertTrue(h.certified(), h.toString());
            assertTrue(h.errorBound() <= 1e-8, "bound " + h.errorBound());
            double step = 1e-5;
            for (int i = 0; i < theta.length; i++) {
                double[] tp = theta.clone();
                double[] tm = theta.clone();
                tp[i] += step;
                tm[i] -= step;
                double[] fp = f.upperObjective(tp, 1e-13);
                double[] fm = f.upperObjective(tm, 1e-13);
                double fd = (fp[0] - fm[0]) / (2 * step);
                // ε-error of f: (err₊ + err₋)/(2h); O(h²) truncation covered by 1e-6·(|fd| + 1e-2)
                double allowed = (fp[1] + fm[1]) / (2 * step) + 1e-6 * (Math.abs(fd) + 1e-2) + h.errorBound();
                assertEquals(fd, h.z(i), allowed, family.type() + "/" + ((LinearOperator) c[0]).name() + " "
                        + family.paramName(i));
            }
        }
    }

    /** Same hypergradient as ImplicitHypergradient on the smooth primal problem ½‖Ax−y‖² + (μ/2)‖x‖² + Σ λ_F h_γ(K_θx). */
    @Test
    void matchesTheImplicitHypergradientOfTheSmoothPrimalProblem() {
        for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(8)}) {
            for (LearnedOperator family : new LearnedOperator[]{new FiniteDifferences(), new ConvolutionFilters(3, 3)}) {
                PrimalDualFixture f = fixture(a, family, 13);
                double[] theta = perturbedTheta(family, 5);
                PrimalDualHypergradient h = f.piggyback(theta, TIGHT, TIGHT);
                Hypergradient implicit = f.implicit(theta, 1e-11, 1e-11);
                assertTrue(implicit.lowerLevel().converged() && implicit.linearSolve().converged());
                double diff = Dense.norm(Dense.minus(h.z(), implicit.z()));
                double scale = Dense.norm(h.z());
                assertTrue(scale > 1e-3);
                // the implicit bound is infinite here (h_γ'' is discontinuous); its own error is O(ε + δ)
                assertTrue(diff <= h.errorBound() + 1e-8 * scale, family.type() + "/" + a.name() + ": ‖z_pb − z_ift‖ = "
                        + diff + ", bound " + h.errorBound());
                assertEquals(implicit.upperLoss(), h.upperLoss(), 1e-9);
            }
        }
    }

    /**
     * 2 seeds × 2 operators × 2 models × 2 θ = 16 references × 3 ε × 3 δ = 144 configurations. A violation is
     * proven when ‖z − z_ref‖ &gt; bound + bound_ref (then ‖z − ∇f‖ ≥ ‖z − z_ref‖ − ‖z_ref − ∇f‖ &gt; bound).
     */
    @Test
    void aPosterioriBoundIsNeverBelowTheTrueErrorOnABattery() {
        int configurations = 0;
        int withUncertainActivity = 0;
        double smallestRatio = Double.POSITIVE_INFINITY;
        double largestRatio = 0;
        for (long seed = 1; seed <= 2; seed++) {
            for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(seed)}) {
                for (LearnedOperator family : new LearnedOperator[]{new FiniteDifferences(), new ConvolutionFilters(2, 3)}) {
                    PrimalDualFixture f = fixture(a, family, 20 + seed);
                    for (int t = 0; t < 2; t++) {
                        double[] theta = family instanceof FiniteDifferences
                                ? new double[]{Math.log(t == 0 ? 0.03 : 0.15)} : perturbedTheta(family, 10 * seed + t);
                        String where = family.type() + "/" + a.name() + " seed=" + seed + " θ#" + t;
                        PrimalDualHypergradient ref = f.piggyback(theta, TIGHT, TIGHT);
                        assertTrue(ref.certified(), where);
                        double refNorm = Dense.norm(ref.z());
                        assertTrue(ref.errorBound() <= 1e-6 * refNorm, where + ": reference bound " + ref.errorBound());
                        for (double eps : new double[]{1e-1, 1e-3, 1e-6}) {
                            for (double delta : new double[]{1e-1, 1e-4, 1e-8}) {
                                PrimalDualHypergradient z = f.piggyback(theta, eps, delta);
                                double diff = Dense.norm(Dense.minus(z.z(), ref.z()));
                                assertTrue(z.certified(), where);
                                assertTrue(diff <= z.errorBound() + ref.errorBound(), where + " ε=" + eps + " δ=" + delta
                                        + ": error ≥ " + (diff - ref.errorBound()) + " > bound " + z.errorBound());
                                smallestRatio = Math.min(smallestRatio, (z.errorBound() + ref.errorBound()) / diff);
                                largestRatio = Math.max(largestRatio, z.errorBound() / Math.max(diff, 1e-300));
                                withUncertainActivity += z.bound().uncertainCount() > 0 ? 1 : 0;
                                configurations++;
                            }
                        }
                    }
                }
            }
        }
        assertTrue(configurations >= 100, "only " + configurations);
        assertTrue(withUncertainActivity > 0, "the battery should also exercise uncertain active sets");
        assertTrue(smallestRatio >= 1);
        System.out.println("piggyback bound battery: " + configurations + " configurations, " + withUncertainActivity
                + " with uncertain active set, bound/error ratio in [" + smallestRatio + ", " + largestRatio + "]");
    }

    @Test
    void boundShrinksWithTheTolerancesAndWarmStartsContinue() {
        PrimalDualFixture f = fixture(new IdentityTestOperator(), new ConvolutionFilters(2, 3), 3);
        double[] theta = perturbedTheta(f.family, 3);
        try (PrimalDualFixture.Model m = f.model(theta); PrimalDualState state = m.method.newState()) {
            double previous = Double.POSITIVE_INFINITY;
            long warm = 0;
            long coldSum = 0;
            for (double tol = 1e-2; tol >= 1e-8; tol /= 100) {
                coldSum += m.method.compute(f.pair.target(), tol, tol).computations();
                PrimalDualHypergradient h = m.method.compute(f.pair.target(), tol, tol, state);
                assertTrue(h.errorBound() < previous, "bound must shrink: " + h.errorBound() + " after " + previous);
                previous = h.errorBound();
                warm += h.computations();
                assertEquals(h.lowerLevel().iterations() + h.linearSolve().iterations(), h.computations());
            }
            PrimalDualHypergradient cold = m.method.compute(f.pair.target(), 1e-8, 1e-8);
            // continuing is much cheaper than restarting at every tolerance, and close to one cold solve
            assertTrue(warm < 0.6 * coldSum, "warm " + warm + " vs cold restarts " + coldSum);
            assertTrue(warm <= 1.3 * cold.computations(), "warm " + warm + " vs one cold solve " + cold.computations());
        }
    }

    @Test
    void conjugateGradientProxIsNotCertifiedButStillAccurate() {
        PrimalDualFixture f = fixture(new BoxBlurTestOperator(), new FiniteDifferences(), 4);
        double[] theta = {Math.log(0.05)};
        PrimalDualHypergradient h = f.piggyback(theta, 1e-11, 1e-11);
        assertFalse(h.certified());
        Hypergradient implicit = f.implicit(theta, 1e-11, 1e-11);
        assertEquals(implicit.z(0), h.z(0), 1e-7 * Math.abs(h.z(0)));
    }

    @Test
    void floatPrecisionAgreesWithDoubleToItsAccuracy() {
        PrimalDualFixture f = fixture(new IdentityTestOperator(), new ConvolutionFilters(2, 3), 6);
        double[] theta = perturbedTheta(f.family, 6);
        PrimalDualHypergradient d = f.piggyback(theta, 1e-9, 1e-9);
        try (LearnedOperator.Instance k = f.family.bind(theta, f.shape(), DataType.FLOAT);
             SaddlePointProblem p = new SaddlePointProblem(f.pair.operator, f.pair.data().castTo(DataType.FLOAT),
                     f.shape(), k, f.mu, WEIGHT, SMOOTHING, SaddlePointProblem.DEFAULT_STEP_BALANCE);
             PiggybackHypergradient method = new PiggybackHypergradient(p, 10_000, 10_000)) {
            PrimalDualHypergradient h = method.compute(f.pair.target().castTo(DataType.FLOAT), 1e-4, 1e-4);
            assertTrue(h.lowerLevel().converged() && h.linearSolve().converged());
            double diff = Dense.norm(Dense.minus(h.z(), d.z()));
            assertTrue(diff <= h.errorBound() + 1e-4 * Dense.norm(d.z()),
                    "float vs double: " + diff + " bound " + h.errorBound() + " " + Arrays.toString(h.z()));
        }
    }
}
