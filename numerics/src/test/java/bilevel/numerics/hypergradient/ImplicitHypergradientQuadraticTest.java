package bilevel.numerics.hypergradient;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.testproblems.QuadraticReference;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The implicit hypergradient on the quadratic (Tikhonov) bilevel problem, against its dense closed form
 * ({@link QuadraticReference}): convergence as ε, δ → 0, and the certified bound on a battery.
 */
class ImplicitHypergradientQuadraticTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final double MU = 0.05;

    private static Hypergradient compute(BilevelFixture f, QuadraticRegularizer reg, double[] theta, double eps,
                                         double delta) {
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 100_000, 100_000)) {
            return ih.compute(f.target(), eps, delta);
        }
    }

    private static double error(Hypergradient z, double[] exact) {
        return Dense.norm(Dense.minus(z.z(), exact));
    }

    /** The dense reference itself is checked against central differences of the dense f(θ). */
    @Test
    void denseReferenceMatchesFiniteDifferencesOfTheDenseObjective() {
        BilevelFixture f = new BilevelFixture(new BoxBlurTestOperator(), H, W, 1, 0.1);
        double[] theta = {Math.log(0.02), Math.log(0.3), Math.log(0.7)};
        QuadraticReference ref = new QuadraticReference(f.operator, f.measurement, f.clean, H, W, theta, true, MU);
        for (int i = 0; i < theta.length; i++) {
            double h = 1e-5;
            double[] tp = theta.clone();
            double[] tm = theta.clone();
            tp[i] += h;
            tm[i] -= h;
            double fp = new QuadraticReference(f.operator, f.measurement, f.clean, H, W, tp, true, MU).upperLoss;
            double fm = new QuadraticReference(f.operator, f.measurement, f.clean, H, W, tm, true, MU).upperLoss;
            double fd = (fp - fm) / (2 * h);
            assertEquals(fd, ref.hypergradient[i], 1e-6 * (Math.abs(fd) + 1e-3), "component " + i);
        }
    }

    @Test
    void matchesTheClosedFormAsTolerancesVanish() {
        for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new BoxBlurTestOperator()}) {
            BilevelFixture f = new BilevelFixture(a, H, W, 2, 0.1);
            QuadraticRegularizer reg = new QuadraticRegularizer(true);
            double[] theta = {Math.log(0.05), Math.log(0.5), Math.log(0.8)};
            QuadraticReference ref = new QuadraticReference(a, f.measurement, f.clean, H, W, theta, true, MU);
            double[] tolerances = {1e-1, 1e-3, 1e-5, 1e-7, 1e-10};
            double previousBound = Double.POSITIVE_INFINITY;
            double firstError = Double.NaN;
            double lastError = Double.NaN;
            for (double tol : tolerances) {
                Hypergradient z = compute(f, reg, theta, tol, tol);
                double err = error(z, ref.hypergradient);
                assertTrue(z.certified(), a.name() + " tol=" + tol + ": " + z);
                assertTrue(err <= z.errorBound(), a.name() + " tol=" + tol + ": error " + err + " > bound " + z.errorBound());
                assertTrue(z.errorBound() < previousBound, "bound must decrease with the tolerances");
                previousBound = z.errorBound();
                if (Double.isNaN(firstError)) {
                    firstError = err;
                }
                lastError = err;
            }
            double scale = Dense.norm(ref.hypergradient);
            assertTrue(lastError <= 1e-8 * scale, a.name() + ": final error " + lastError + " vs |∇f| " + scale);
            assertTrue(lastError < 1e-5 * firstError, a.name() + ": error did not decrease: " + firstError + " → " + lastError);
        }
    }

    /**
     * 3 seeds × 3 operators × 2 θ scales × 3 ε × 2 δ = 108 configurations; the certified bound must never be
     * below the true error (the closed form is exact up to rounding, ~1e-14 here).
     */
    @Test
    void certifiedBoundIsNeverBelowTheTrueErrorOnABattery() {
        int configurations = 0;
        double smallestRatio = Double.POSITIVE_INFINITY;
        for (long seed = 1; seed <= 3; seed++) {
            LinearOperator[] ops = {new IdentityTestOperator(), new BoxBlurTestOperator(), new MaskTestOperator(seed)};
            for (LinearOperator a : ops) {
                BilevelFixture f = new BilevelFixture(a, H, W, 10 + seed, 0.1);
                for (double scale : new double[]{-2.0, 0.5}) {
                    boolean identityTerm = seed % 2 == 0;
                    QuadraticRegularizer reg = new QuadraticRegularizer(identityTerm);
                    double[] theta = new double[reg.numParams()];
                    for (int i = 0; i < theta.length; i++) {
                        theta[i] = scale + 0.3 * i - (identityTerm && i == 0 ? 2 : 0);
                    }
                    QuadraticReference ref = new QuadraticReference(a, f.measurement, f.clean, H, W, theta, identityTerm, MU);
                    for (double eps : new double[]{1e-2, 1e-4, 1e-7}) {
                        for (double delta : new double[]{1e-1, 1e-6}) {
                            Hypergradient z = compute(f, reg, theta, eps, delta);
                            double err = error(z, ref.hypergradient);
                            String where = a.name() + " seed=" + seed + " θ=" + java.util.Arrays.toString(theta)
                                    + " ε=" + eps + " δ=" + delta;
                            assertTrue(z.certified(), where + ": " + z);
                            assertTrue(err <= z.errorBound(), where + ": true error " + err + " > bound " + z.errorBound());
                            assertTrue(z.lowerLevel().accuracy() <= eps && z.linearSolve().accuracy() <= delta);
                            smallestRatio = Math.min(smallestRatio, z.errorBound() / err);
                            configurations++;
                        }
                    }
                }
            }
        }
        assertTrue(configurations >= 100, "only " + configurations + " configurations");
        assertTrue(smallestRatio >= 1, "smallest bound/error ratio " + smallestRatio);
    }
}
