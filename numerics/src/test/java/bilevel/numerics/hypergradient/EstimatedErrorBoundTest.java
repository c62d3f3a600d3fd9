package bilevel.numerics.hypergradient;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.testproblems.QuadraticReference;
import bilevel.numerics.testproblems.SmoothedTvTestRegularizer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ErrorBoundMode#ESTIMATED}: the estimated bound (local constants of {@link LocalConstantEstimator}
 * times its safety factor) is labelled estimated, never exceeds the certified bound, and — checked here over
 * batteries like those of the certified bound — is never below the true error; its median ratio to the true
 * error is compared with the certified bound's (printed; on the non-quadratic problems, whose certified
 * constants are global worst cases, the estimated median must be at least 5× smaller; on the quadratic problem
 * the certified constants are already exact or local and the two modes are close).
 */
class EstimatedErrorBoundTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final double MU = 0.05;
    private static final double TIGHT = 1e-11;

    private static Hypergradient compute(Regularizer reg, BilevelFixture f, double[] theta, double eps, double delta,
                                         ErrorBoundMode mode) {
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 1_000_000, 1_000_000, mode)) {
            return ih.compute(f.target(), eps, delta);
        }
    }

    /** Ratios bound/true error of the two modes over a battery. */
    private record Ratios(List<Double> certified, List<Double> estimated) {
        Ratios() {
            this(new ArrayList<>(), new ArrayList<>());
        }

        double median(List<Double> v) {
            double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return a.length % 2 == 1 ? a[a.length / 2] : 0.5 * (a[a.length / 2 - 1] + a[a.length / 2]);
        }

        String report(String problem) {
            return String.format(Locale.ROOT, "%s: %d configurations, median bound/true error: certified %.3g, estimated %.3g"
                            + " (min %.3g)", problem, estimated.size(), median(certified), median(estimated),
                    estimated.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN));
        }
    }

    /**
     * Checks one configuration: same z in both modes (the mode changes only the bound), estimated ≤ certified,
     * labels, and estimated ≥ the true error, which is known to within {@code referenceError}: a violation is
     * proven when ‖z − z_ref‖ &gt; bound + referenceError.
     */
    private static void check(Hypergradient cert, Hypergradient est, double[] reference, double referenceError,
                              Ratios ratios, String where) {
        assertTrue(Arrays.equals(cert.z(), est.z()), where + ": the mode must not change z");
        assertTrue(cert.certified(), where);
        assertFalse(est.certified(), where + ": an estimated bound must not be labelled certified");
        assertFalse(((HypergradientErrorBound) est.bound()).constantsCertified(), where);
        assertTrue(est.errorBound() <= cert.errorBound(), where + ": estimated " + est.errorBound() + " > certified "
                + cert.errorBound());
        double diff = Dense.norm(Dense.minus(est.z(), reference));
        assertTrue(diff <= est.errorBound() + referenceError, where + ": error ≥ " + (diff - referenceError)
                + " > estimated bound " + est.errorBound());
        if (diff > 10 * referenceError) {   // ratios only where the reference resolves the error
            ratios.certified.add(cert.errorBound() / diff);
            ratios.estimated.add(est.errorBound() / diff);
        }
    }

    /** 3 seeds × 3 operators × 2 θ × 3 ε × 2 δ = 108 configurations against the closed form. */
    @Test
    void quadraticBatteryAgainstTheClosedForm() {
        Ratios ratios = new Ratios();
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
                    double[] exact = new QuadraticReference(a, f.measurement, f.clean, H, W, theta, identityTerm, MU)
                            .hypergradient;
                    for (double eps : new double[]{1e-2, 1e-4, 1e-7}) {
                        for (double delta : new double[]{1e-1, 1e-6}) {
                            String where = a.name() + " seed=" + seed + " θ=" + Arrays.toString(theta) + " ε=" + eps
                                    + " δ=" + delta;
                            check(compute(reg, f, theta, eps, delta, ErrorBoundMode.CERTIFIED),
                                    compute(reg, f, theta, eps, delta, ErrorBoundMode.ESTIMATED), exact,
                                    1e-12 * Dense.norm(exact), ratios, where);
                        }
                    }
                }
            }
        }
        System.out.println(ratios.report("quadratic (8×8)"));
        assertTrue(ratios.estimated.size() >= 100, "only " + ratios.estimated.size() + " resolved configurations");
    }

    /**
     * Smoothed TV (L_H &gt; 0): 2 seeds × 2 operators × 3 θ × 3 ε × 3 δ = 108 configurations against the
     * method at ε = δ = 1e-11 (whose certified bound is the reference error; the reference itself is checked
     * against finite differences in {@code ImplicitHypergradientSmoothedTvTest}).
     */
    @Test
    void smoothedTvBatteryAgainstATightReference() {
        Regularizer reg = new SmoothedTvTestRegularizer();
        double[][] thetas = {{Math.log(0.05), Math.log(0.05)}, {Math.log(0.15), Math.log(0.1)},
                {Math.log(0.4), Math.log(0.3)}};
        Ratios ratios = new Ratios();
        int configurations = 0;
        for (long seed = 1; seed <= 2; seed++) {
            for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(seed)}) {
                BilevelFixture f = new BilevelFixture(a, H, W, 20 + seed, 0.1);
                for (double[] theta : thetas) {
                    Hypergradient ref = compute(reg, f, theta, TIGHT, TIGHT, ErrorBoundMode.CERTIFIED);
                    assertTrue(ref.certified());
                    for (double eps : new double[]{1e-2, 1e-4, 1e-7}) {
                        for (double delta : new double[]{1e-2, 1e-5, 1e-8}) {
                            String where = a.name() + " seed=" + seed + " θ=" + Arrays.toString(theta) + " ε=" + eps
                                    + " δ=" + delta;
                            check(compute(reg, f, theta, eps, delta, ErrorBoundMode.CERTIFIED),
                                    compute(reg, f, theta, eps, delta, ErrorBoundMode.ESTIMATED), ref.z(),
                                    ref.errorBound(), ratios, where);
                            configurations++;
                        }
                    }
                }
            }
        }
        System.out.println(ratios.report("smoothed TV (8×8)"));
        assertEquals(108, configurations);
        assertTrue(ratios.estimated.size() >= 70, "only " + ratios.estimated.size() + " resolved configurations");
        assertTrue(ratios.median(ratios.estimated) < ratios.median(ratios.certified) / 5,
                ratios.report("smoothed TV"));
    }

    /**
     * Fields of Experts (4 filters 3×3, 12×12 images): 2 seeds × 2 θ × 3 ε × 2 δ = 24 configurations against
     * the method at ε = δ = 1e-11; here the certified constants are far from the local ones.
     */
    @Test
    void fieldsOfExpertsAgainstATightReference() {
        FieldsOfExperts reg = new FieldsOfExperts(4, 3);
        Ratios ratios = new Ratios();
        for (long seed = 1; seed <= 2; seed++) {
            BilevelFixture f = new BilevelFixture(new IdentityTestOperator(), 12, 12, 30 + seed, 0.1);
            for (double nu : new double[]{0.05, 0.2}) {
                double[] theta = reg.initialTheta(seed);
                theta[theta.length - 1] = Math.log(nu);
                for (int k = 0; k < 4; k++) {
                    theta[4 * 9 + k] = Math.log(0.05);
                }
                theta = reg.project(theta);
                Hypergradient ref = compute(reg, f, theta, TIGHT, TIGHT, ErrorBoundMode.CERTIFIED);
                for (double eps : new double[]{1e-2, 1e-4, 1e-6}) {
                    for (double delta : new double[]{1e-2, 1e-6}) {
                        String where = "foe seed=" + seed + " ν=" + nu + " ε=" + eps + " δ=" + delta;
                        check(compute(reg, f, theta, eps, delta, ErrorBoundMode.CERTIFIED),
                                compute(reg, f, theta, eps, delta, ErrorBoundMode.ESTIMATED), ref.z(),
                                ref.errorBound(), ratios, where);
                    }
                }
            }
        }
        System.out.println(ratios.report("FoE 4×3×3 (12×12)"));
        assertTrue(ratios.estimated.size() >= 16, "only " + ratios.estimated.size() + " resolved configurations");
        assertTrue(ratios.median(ratios.estimated) < ratios.median(ratios.certified) / 5, ratios.report("FoE"));
    }

    @Test
    void modeNamesParse() {
        assertEquals(ErrorBoundMode.CERTIFIED, ErrorBoundMode.parse("certified"));
        assertEquals(ErrorBoundMode.ESTIMATED, ErrorBoundMode.parse("Estimated"));
        assertEquals("estimated", ErrorBoundMode.ESTIMATED.configName());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> ErrorBoundMode.parse("tight"));
    }
}
