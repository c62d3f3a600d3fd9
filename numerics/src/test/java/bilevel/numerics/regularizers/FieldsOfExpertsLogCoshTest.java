package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The regularizer contract for a 4-filter 5×5 FoE with the log-cosh potential φ_ν(t) = ν log cosh(t/ν) (double
 * precision FD checks of gradient, HVP and mixed derivative, convexity, constants vs samples), plus closed
 * forms, the asymptotes shared with Charbonnier and the certified constants of the log-cosh case.
 */
class FieldsOfExpertsLogCoshTest extends RegularizerContract {

    private static final FieldsOfExperts.Potential LOGCOSH = FieldsOfExperts.Potential.LOGCOSH;

    @Override
    protected Regularizer regularizer() {
        return new FieldsOfExperts(4, 5, LOGCOSH);
    }

    /** Perturbed DCT filters, e^α ∈ [0.2, 1], ν ∈ [0.05, 0.3]: responses in both regimes of φ_ν. */
    @Override
    protected double[] testTheta(Random random) {
        return FieldsOfExpertsTest.perturbedTheta((FieldsOfExperts) regularizer(), random);
    }

    /** 3×3 filters with two seeded random filters. */
    @Nested
    class ThreeByThree extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new FieldsOfExperts(10, 3, LOGCOSH);
        }

        @Override
        protected double[] testTheta(Random random) {
            return FieldsOfExpertsTest.perturbedTheta((FieldsOfExperts) regularizer(), random);
        }
    }

    /** At the initial parameters (ν = 0.01: most responses in the linear regime, tanh saturated). */
    @Nested
    class AtInitialTheta extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new FieldsOfExperts(4, 5, LOGCOSH);
        }
    }

    /** R by the defining sum in double with Math.log(Math.cosh(·)) (fine for the moderate t/ν used here). */
    private static double directValue(FieldsOfExperts foe, double[] theta, INDArray x) {
        int s = foe.size();
        int p = (s - 1) / 2;
        int h = (int) x.size(0);
        int w = (int) x.size(1);
        int entries = foe.filters() * s * s;
        double nu = Math.exp(theta[theta.length - 1]);
        double total = 0;
        for (int k = 0; k < foe.filters(); k++) {
            double ck = Math.exp(theta[entries + k]);
            for (int r = 0; r < h; r++) {
                for (int c = 0; c < w; c++) {
                    double u = 0;
                    for (int a = 0; a < s; a++) {
                        for (int b = 0; b < s; b++) {
                            int rr = r + a - p;
                            int cc = c + b - p;
                            if (rr >= 0 && rr < h && cc >= 0 && cc < w) {
                                u += theta[(k * s + a) * s + b] * x.getDouble(rr, cc);
                            }
                        }
                    }
                    total += ck * nu * Math.log(Math.cosh(u / nu));
                }
            }
        }
        return total;
    }

    @Test
    void valueMatchesTheDefiningSumInBothPrecisions() {
        Random random = new Random(31);
        for (FieldsOfExperts foe : new FieldsOfExperts[] {new FieldsOfExperts(4, 5, LOGCOSH), new FieldsOfExperts(3, 3, LOGCOSH)}) {
            double[] theta = FieldsOfExpertsTest.perturbedTheta(foe, random);
            INDArray x = uniform(random, 0, 1, 13, 9);
            double expected = directValue(foe, theta, x);
            try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
                assertEquals(expected, r.value(x), 1e-12 * Math.abs(expected));
            }
            try (Regularizer.Instance r = foe.bind(theta, DataType.FLOAT)) {
                assertEquals(expected, r.value(x.castTo(DataType.FLOAT)), 1e-5 * Math.abs(expected));
            }
        }
    }

    @Test
    void sameParametersAsCharbonnierAndDefaultIsCharbonnier() {
        FieldsOfExperts lc = new FieldsOfExperts(4, 5, LOGCOSH);
        FieldsOfExperts ch = new FieldsOfExperts(4, 5);
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, ch.potential());
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, new FieldsOfExperts().potential());
        assertEquals(LOGCOSH, lc.potential());
        assertEquals("foe", lc.type());
        assertEquals(ch.numParams(), lc.numParams());
        for (int i = 0; i < lc.numParams(); i++) {
            assertEquals(ch.paramName(i), lc.paramName(i));
        }
        assertEquals(java.util.Arrays.toString(ch.initialTheta(3)), java.util.Arrays.toString(lc.initialTheta(3)));
        assertEquals(LOGCOSH, FieldsOfExperts.Potential.parse("logcosh"));
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, FieldsOfExperts.Potential.parse("charbonnier"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FieldsOfExperts.Potential.parse("huber"));
        assertEquals("unknown potential 'huber' (known: charbonnier, logcosh)", e.getMessage());
    }

    /**
     * Near 0 both potentials are t²/(2ν) to relative order (t/ν)² (log cosh u = u²/2 − u⁴/12 + …,
     * √(t²+ν²) − ν = t²/(2ν) − t⁴/(8ν³) + …); far away log-cosh is |t| − ν log 2 up to ν e^{−2|t|/ν}
     * (log cosh u = |u| − log 2 + log1p(e^{−2|u|})) and Charbonnier is |t| − ν up to ν²/(2|t|).
     */
    @Test
    void logCoshAndCharbonnierAgreeAsymptotically() {
        FieldsOfExperts.Potential ch = FieldsOfExperts.Potential.CHARBONNIER;
        for (double nu : new double[] {1e-4, 0.01, 0.3, 1.0}) {
            for (double u : new double[] {1e-12, 1e-6, 1e-3, -1e-3, 0.01}) {
                double t = u * nu;
                double quad = t * t / (2 * nu);
                assertEquals(quad, LOGCOSH.value(t, nu), quad * (u * u / 6 + 1e-14), "log-cosh near 0, t/ν = " + u);
                assertEquals(quad, ch.value(t, nu), quad * (u * u / 4 + 1e-14), "Charbonnier near 0, t/ν = " + u);
                double ratio = LOGCOSH.value(t, nu) / ch.value(t, nu);
                assertEquals(1.0, ratio, u * u / 2 + 1e-13, "ratio of the potentials near 0");
                // first and second derivatives near 0: φ' ≈ t/ν, φ'' ≈ 1/ν
                // (the one-exp tanh has an absolute error of a few 2⁻⁵³)
                assertEquals(u, LOGCOSH.first(t, nu), Math.abs(u) * u * u / 3 + 5e-16);
                assertEquals(1 / nu, LOGCOSH.second(t, nu), u * u / nu + 1e-15 / nu);
            }
            for (double u : new double[] {20, 50, -50, 1e3, 1e6}) {
                double t = u * nu;
                double lin = Math.abs(t) - nu * Math.log(2);
                assertEquals(lin, LOGCOSH.value(t, nu), nu * Math.exp(-2 * Math.abs(u)) + 1e-15 * Math.abs(t),
                        "log-cosh far away, t/ν = " + u);
                assertEquals(Math.abs(t) - nu, ch.value(t, nu), nu / (2 * Math.abs(u)) + 1e-15 * Math.abs(t),
                        "Charbonnier far away, t/ν = " + u);
                // the two differ by ν(1 − log 2) far away
                assertEquals(nu * (1 - Math.log(2)), LOGCOSH.value(t, nu) - ch.value(t, nu),
                        nu / (2 * Math.abs(u)) + 1e-15 * Math.abs(t));
                assertEquals(Math.signum(u), LOGCOSH.first(t, nu), 2 * Math.exp(-2 * Math.abs(u)) + 1e-16);
            }
        }
    }

    /** The stable scalar kernels against the JDK's tanh/cosh and against overflow. */
    @Test
    void scalarKernelsAreAccurateAndNeverOverflow() {
        for (int i = -4000; i <= 4000; i++) {
            double u = i * 5e-3;
            assertEquals(Math.tanh(u), FieldsOfExperts.tanh(u), 5e-16, "tanh at " + u);
            double c = Math.cosh(u);
            assertEquals(1 / (c * c), FieldsOfExperts.sech2(u), 1e-14 / (c * c), "sech² at " + u);
            // Math.log(Math.cosh(u)) itself is only accurate to about an ulp of 1 in absolute terms
            assertEquals(Math.log(c), FieldsOfExperts.logCosh(u), 1e-15 * Math.log(c) + 3e-16, "log cosh at " + u);
        }
        // relative accuracy near 0 against the series u²/2 − u⁴/12 + u⁶/45 (next term O(u⁸))
        for (double u : new double[] {1e-100, 1e-10, -3e-5, 1e-3}) {
            double u2 = u * u;
            double series = u2 / 2 - u2 * u2 / 12 + u2 * u2 * u2 / 45;
            assertEquals(series, FieldsOfExperts.logCosh(u), 1e-15 * series, "relative accuracy near 0 at " + u);
        }
        for (double u : new double[] {400, 800, 1e10, 1e300, Double.MAX_VALUE}) {
            assertEquals(1.0, FieldsOfExperts.tanh(u), 0.0);
            assertEquals(-1.0, FieldsOfExperts.tanh(-u), 0.0);
            assertEquals(0.0, FieldsOfExperts.sech2(u), 0.0);
            assertEquals(u - Math.log(2), FieldsOfExperts.logCosh(-u), 1e-15 * u);
        }
        // the kernels on huge responses: finite value, gradient entries bounded by Σ c_k ‖k_k‖₁
        FieldsOfExperts foe = new FieldsOfExperts(3, 3, LOGCOSH);
        double[] theta = foe.initialTheta(1);
        INDArray x = uniform(new Random(2), 0, 1, 8, 8).muli(1e6);
        for (DataType dt : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            try (Regularizer.Instance r = foe.bind(theta, dt)) {
                INDArray xt = x.castTo(dt);
                assertTrue(Double.isFinite(r.value(xt)));
                INDArray g = Nd4j.create(dt, 8, 8);
                r.gradient(xt, g);
                INDArray hv = Nd4j.create(dt, 8, 8);
                r.hessianVector(xt, gaussian(new Random(3), 8, 8).castTo(dt), hv);
                double bound = 0;
                for (int k = 0; k < 3; k++) {
                    double l1 = 0;
                    for (int j = 0; j < 9; j++) {
                        l1 += Math.abs(theta[k * 9 + j]);
                    }
                    bound += Math.exp(theta[27 + k]) * l1;
                }
                for (int i = 0; i < 64; i++) {
                    double gi = g.getDouble(i / 8, i % 8);
                    assertTrue(Double.isFinite(gi) && Math.abs(gi) <= bound * (1 + 1e-6), "gradient entry " + gi);
                    assertTrue(Double.isFinite(hv.getDouble(i / 8, i % 8)));
                }
            }
        }
    }

    /** The certified constants of the log-cosh potential against fine grids of u = t/ν. */
    @Test
    void logCoshConstantsAgainstGrids() {
        double phi3 = 0;
        double tPhi2 = 0;
        double argmax = 0;
        double slope = 0;
        for (int i = 0; i <= 400000; i++) {
            double u = i * 2.5e-5;
            double th = Math.tanh(u);
            double s2 = 1 - th * th;
            phi3 = Math.max(phi3, 2 * s2 * th);                          // |φ'''| ν²
            if (u * s2 > tPhi2) {
                tPhi2 = u * s2;                                          // |t φ''(t)|
                argmax = u;
            }
            slope = Math.max(slope, Math.abs(s2 * (1 - 2 * u * th)));   // ν |d(tφ''(t))/dt|
        }
        assertEquals(FieldsOfExperts.LOGCOSH_PHI3_SUP_TIMES_NU2, phi3, 1e-9);
        assertTrue(phi3 <= FieldsOfExperts.LOGCOSH_PHI3_SUP_TIMES_NU2 * (1 + 1e-12));
        assertEquals(LOGCOSH.phi3SupTimesNu2(), FieldsOfExperts.LOGCOSH_PHI3_SUP_TIMES_NU2, 0.0);
        assertEquals(FieldsOfExperts.LOGCOSH_T_PHI2_SUP, tPhi2, 1e-9);
        assertTrue(tPhi2 <= FieldsOfExperts.LOGCOSH_T_PHI2_SUP * (1 + 1e-12));
        assertEquals(FieldsOfExperts.LOGCOSH_T_PHI2_PEAK, argmax, 1e-4);
        double peak = FieldsOfExperts.LOGCOSH_T_PHI2_PEAK;
        assertEquals(1.0, 2 * peak * Math.tanh(peak), 1e-15, "u* solves 2u tanh u = 1");
        assertTrue(slope <= 1.0, "|d(tφ'')/dt| ≤ 1/ν used by mixedLipschitz: " + slope);
        // ∂φ'_ν(t)/∂β = −t φ''(t), by central differences in β = ln ν
        for (double nu : new double[] {0.01, 0.2}) {
            for (double t : new double[] {-0.3, -0.01, 0.004, 0.05, 0.7}) {
                double h = 1e-6;
                double fd = (LOGCOSH.first(t, nu * Math.exp(h)) - LOGCOSH.first(t, nu * Math.exp(-h))) / (2 * h);
                assertEquals(-t * LOGCOSH.second(t, nu), fd, 1e-7 * Math.max(1, Math.abs(fd)));
            }
        }
    }

    @Test
    void certifiedFlagsAndLipschitzConstantsUseTheLogCoshSupremum() {
        FieldsOfExperts lc = new FieldsOfExperts(4, 5, LOGCOSH);
        FieldsOfExperts ch = new FieldsOfExperts(4, 5);
        double[] theta = FieldsOfExpertsTest.perturbedTheta(lc, new Random(32));
        try (FieldsOfExperts.Instance r = lc.bind(theta, DataType.DOUBLE);
             FieldsOfExperts.Instance c = ch.bind(theta, DataType.DOUBLE)) {
            assertTrue(r.convexityModulus().certified());
            assertTrue(r.gradientLipschitz().certified());
            assertTrue(r.hessianLipschitz().certified());
            assertTrue(r.mixedLipschitz(3.0).certified());
            assertFalse(r.mixedLipschitz().certified(), "mixed Lipschitz constant only holds on a box");
            assertTrue(r.mixedNorm(uniform(new Random(1), 0, 1, 12, 11)).certified());
            // same φ'' bound 1/ν, smaller sup|φ'''|
            assertEquals(c.gradientLipschitz().value(), r.gradientLipschitz().value(), 0.0);
            assertEquals(c.hessianLipschitz().value() * FieldsOfExperts.LOGCOSH_PHI3_SUP_TIMES_NU2
                    / FieldsOfExperts.PHI3_SUP_TIMES_NU2, r.hessianLipschitz().value(), 1e-12 * r.hessianLipschitz().value());
        }
    }

    @Test
    void hessianLipschitzHoldsOnNearbyPairs() {
        // responses around ν·0.66 (tanh = 1/√3), where |φ'''| peaks
        Random random = new Random(33);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5, LOGCOSH);
        double[] theta = FieldsOfExpertsTest.perturbedTheta(foe, random);
        double nu = Math.exp(theta[theta.length - 1]);
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            double lh = r.hessianLipschitz().value();
            double worst = 0;
            for (int trial = 0; trial < 20; trial++) {
                INDArray x = gaussian(random, 12, 11).muli(0.4 * nu);
                INDArray y = x.add(gaussian(random, 12, 11).muli(0.2 * nu));
                INDArray v = gaussian(random, 12, 11);
                INDArray hx = Nd4j.create(DataType.DOUBLE, 12, 11);
                INDArray hy = Nd4j.create(DataType.DOUBLE, 12, 11);
                r.hessianVector(x, v, hx);
                r.hessianVector(y, v, hy);
                double ratio = norm(hx.sub(hy)) / (norm(x.sub(y)) * norm(v));
                worst = Math.max(worst, ratio);
                assertTrue(ratio <= lh, "Hessian Lipschitz bound " + lh + " violated: " + ratio);
            }
            assertTrue(worst > 0);
        }
    }

    @Test
    void mixedLipschitzHoldsInsideItsBoxAndOnBalls() {
        Random random = new Random(34);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5, LOGCOSH);
        double[] theta = FieldsOfExpertsTest.perturbedTheta(foe, random);
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            double lj = r.mixedLipschitz().value();
            for (int trial = 0; trial < 10; trial++) {
                INDArray x = uniform(random, 0, 1, 12, 11);
                INDArray d = gaussian(random, 12, 11).muli(Math.pow(10, -random.nextInt(4)));
                INDArray y = trial % 2 == 0 ? uniform(random, 0, 1, 12, 11) : x.add(d);
                INDArray q = gaussian(random, 12, 11);
                double[] jx = r.mixedAdjoint(x, q);
                double[] jy = r.mixedAdjoint(y, q);
                double diff = 0;
                for (int i = 0; i < jx.length; i++) {
                    diff += (jx[i] - jy[i]) * (jx[i] - jy[i]);
                }
                double lhs = Math.sqrt(diff);
                double xy = norm(x.sub(y)) * norm(q);
                if (trial % 2 == 0) {
                    assertTrue(lhs <= lj * xy, "box bound: " + lhs + " > " + lj * xy);
                }
                Bound ball = r.mixedLipschitz(Math.max(norm(x), norm(y)));
                assertTrue(ball.certified());
                assertTrue(lhs <= ball.value() * xy, "ball bound: " + lhs + " > " + ball.value() * xy);
            }
        }
    }

    @Test
    void mixedNormHoldsInFloatToo() {
        Random random = new Random(35);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5, LOGCOSH);
        double[] theta = FieldsOfExpertsTest.perturbedTheta(foe, random);
        try (Regularizer.Instance r = foe.bind(theta, DataType.FLOAT)) {
            INDArray x = uniform(random, 0, 1, 12, 11).castTo(DataType.FLOAT);
            Bound b = r.mixedNorm(x);
            assertTrue(b.certified());
            for (int trial = 0; trial < 5; trial++) {
                INDArray q = gaussian(random, 12, 11).castTo(DataType.FLOAT);
                assertTrue(norm(r.mixedAdjoint(x, q)) <= b.value() * norm(q));
            }
        }
    }

    @Test
    void profileShowsTheLearnedPotential() {
        for (FieldsOfExperts.Potential potential : FieldsOfExperts.Potential.values()) {
            FieldsOfExperts foe = new FieldsOfExperts(2, 3, potential);
            double[] theta = foe.initialTheta(1);
            theta[theta.length - 1] = Math.log(0.05);
            List<LearnedStructure.Profile> profiles = foe.profiles(theta);
            assertEquals(1, profiles.size());
            LearnedStructure.Profile p = profiles.get(0);
            assertTrue(p.name().contains(potential.key()) && p.name().contains("0.0500"), p.name());
            double[] t = p.t();
            double[] v = p.value();
            assertEquals(-0.5, t[0], 0.0);
            assertEquals(0.5, t[t.length - 1], 1e-15);
            for (int i = 0; i < t.length; i++) {
                assertEquals(potential.value(t[i], Math.exp(theta[theta.length - 1])), v[i], 0.0);
                assertEquals(v[i], v[t.length - 1 - i], 1e-15, "even");
            }
            assertEquals(0.0, v[t.length / 2], 1e-17);
        }
    }

    @Test
    void flopModelCountsTheExp() {
        double n = 256.0 * 256;
        assertEquals(4 * 48 * 49 * n + 6 * 48 * n, new FieldsOfExperts(48, 7, LOGCOSH).gradientFlops(256, 256), 0.0);
        assertEquals(4 * 48 * 49 * n + 48 * n, new FieldsOfExperts(48, 7, LOGCOSH).hessianVectorFlops(256, 256), 0.0);
    }

    /**
     * The float kernels' rational tanh against Math.tanh on 10⁶ + 1 points of [−20, 20] (rounded to float, the
     * argument the kernels see), on tiny, huge and special arguments: within the documented
     * {@link FieldsOfExperts#TANH_FLOAT_MAX_ERROR}, exactly odd, |·| ≤ 1.
     */
    @Test
    void floatTanhIsWithinItsDocumentedBound() {
        double bound = FieldsOfExperts.TANH_FLOAT_MAX_ERROR;
        double worst = 0;
        for (int i = 0; i <= 1_000_000; i++) {
            float u = (float) (-20 + 40.0 * i / 1_000_000);
            float th = FieldsOfExperts.tanhFloat(u);
            worst = Math.max(worst, Math.abs(th - Math.tanh(u)));
            assertEquals(-th, FieldsOfExperts.tanhFloat(-u), 0.0, "odd at " + u);
            assertTrue(Math.abs(th) <= 1f, "bounded at " + u);
        }
        assertTrue(worst <= bound, "max |tanhFloat − tanh| on the grid " + worst + " > documented " + bound);
        // the documented figure is not a gross over-statement (the grid comes within a factor 2 of the exhaustive max)
        assertTrue(worst >= bound / 2, "grid max " + worst);
        for (float u : new float[] {1e-30f, Float.MIN_VALUE, 1e-7f, 1e-3f, 0.5f, 8.99f, 9f, 9.01f, 30f, 1e6f, 1e30f,
                Float.MAX_VALUE, Float.POSITIVE_INFINITY}) {
            assertEquals(Math.tanh(u), FieldsOfExperts.tanhFloat(u), bound, "at " + u);
            assertEquals(-FieldsOfExperts.tanhFloat(u), FieldsOfExperts.tanhFloat(-u), 0.0, "odd at " + u);
        }
        assertEquals(1f, FieldsOfExperts.tanhFloat(Float.POSITIVE_INFINITY), 0f);
        assertEquals(-1f, FieldsOfExperts.tanhFloat(-1e30f), 0f);
        assertEquals(0x0, Float.floatToRawIntBits(FieldsOfExperts.tanhFloat(0f)), "+0 ↦ +0");
        assertEquals(0x80000000, Float.floatToRawIntBits(FieldsOfExperts.tanhFloat(-0f)), "−0 ↦ −0");
        assertTrue(Float.isNaN(FieldsOfExperts.tanhFloat(Float.NaN)));
    }

    /**
     * Float (rational tanh, sech² = 1 − tanh²) against double (exact exp formulas) for the gradient, the HVP and
     * the mixed adjoint of an 8-filter 7×7 log-cosh FoE, on the same float-rounded x and v (so input rounding is
     * excluded), at perturbed parameters (ν ∈ [0.05, 0.3]) and at the initial ones (ν = 0.01, tanh mostly
     * saturated). Relative tolerances in the 2-norm: gradient 2·10⁻⁶ ≈ 17 float ε (measured 2.1·10⁻⁷; tanhFloat
     * alone is within 4·10⁻⁷ ≈ 3.3 ε per response); HVP and mixed adjoint 2·10⁻⁵ ≈ 170 ε (measured 3.2·10⁻⁶ and
     * 5.6·10⁻⁶ at ν = 0.01), as they also carry the float correlations of v and the rounding of the responses
     * amplified by the slope 2|tanh|sech²/ν of sech²(t/ν). The contract's generic float test allows 10⁻⁴.
     */
    @Test
    void floatKernelsAgreeWithDoubleToFloatLevel() {
        Random random = new Random(41);
        FieldsOfExperts foe = new FieldsOfExperts(8, 7, LOGCOSH);
        double gradientTolerance = 2e-6;
        double tolerance = 2e-5;
        for (double[] theta : List.of(FieldsOfExpertsTest.perturbedTheta(foe, random), foe.initialTheta(3))) {
            INDArray xf = uniform(random, 0, 1, 48, 40).castTo(DataType.FLOAT);
            INDArray vf = gaussian(random, 48, 40).castTo(DataType.FLOAT);
            INDArray xd = xf.castTo(DataType.DOUBLE);
            INDArray vd = vf.castTo(DataType.DOUBLE);
            try (Regularizer.Instance rd = foe.bind(theta, DataType.DOUBLE);
                 Regularizer.Instance rf = foe.bind(theta, DataType.FLOAT)) {
                INDArray gd = Nd4j.create(DataType.DOUBLE, 48, 40);
                INDArray gf = Nd4j.create(DataType.FLOAT, 48, 40);
                rd.gradient(xd, gd);
                rf.gradient(xf, gf);
                double eg = norm(gd.sub(gf.castTo(DataType.DOUBLE))) / norm(gd);
                INDArray hd = Nd4j.create(DataType.DOUBLE, 48, 40);
                INDArray hf = Nd4j.create(DataType.FLOAT, 48, 40);
                rd.hessianVector(xd, vd, hd);
                rf.hessianVector(xf, vf, hf);
                double eh = norm(hd.sub(hf.castTo(DataType.DOUBLE))) / norm(hd);
                double[] md = rd.mixedAdjoint(xd, vd);
                double[] mf = rf.mixedAdjoint(xf, vf);
                double diff = 0;
                double ref = 0;
                for (int i = 0; i < md.length; i++) {
                    diff += (md[i] - mf[i]) * (md[i] - mf[i]);
                    ref += md[i] * md[i];
                }
                double em = Math.sqrt(diff / ref);
                assertTrue(eg <= gradientTolerance, "gradient float vs double " + eg);
                assertTrue(eh <= tolerance, "HVP float vs double " + eh);
                assertTrue(em <= tolerance, "mixed adjoint float vs double " + em);
            }
        }
    }
}
