package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.dot;
import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The regularizer contract for a 4-filter 5×5 FoE, plus closed-form and bound checks. */
class FieldsOfExpertsTest extends RegularizerContract {

    @Override
    protected Regularizer regularizer() {
        return new FieldsOfExperts(4, 5);
    }

    /**
     * Perturbed DCT filters, weights e^α ∈ [0.2, 1] and ν ∈ [0.05, 0.3], so that responses on [0, 1] images
     * cover both the quadratic (|t| ≲ ν) and the linear (|t| ≫ ν) regime of φ_ν.
     */
    @Override
    protected double[] testTheta(Random random) {
        return perturbedTheta((FieldsOfExperts) regularizer(), random);
    }

    static double[] perturbedTheta(FieldsOfExperts foe, Random random) {
        double[] theta = foe.initialTheta(random.nextLong());
        int entries = foe.filters() * foe.size() * foe.size();
        for (int i = 0; i < entries; i++) {
            theta[i] += 0.3 * random.nextGaussian();
        }
        for (int k = 0; k < foe.filters(); k++) {
            theta[entries + k] = Math.log(0.2 + 0.8 * random.nextDouble());
        }
        theta[theta.length - 1] = Math.log(0.05 + 0.25 * random.nextDouble());
        return foe.project(theta);
    }

    /** 3×3 filters, more filters than non-DC DCT functions (8), so two are seeded random filters. */
    @Nested
    class ThreeByThree extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new FieldsOfExperts(10, 3);
        }

        @Override
        protected double[] testTheta(Random random) {
            return perturbedTheta((FieldsOfExperts) regularizer(), random);
        }
    }

    /** The initial parameters themselves (ν = 0.01, e^α = 0.1/K), with 4 filters 5×5. */
    @Nested
    class AtInitialTheta extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new FieldsOfExperts(4, 5);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // closed forms

    /** R by the defining sum, in double: Σ_k c_k Σ_p φ_ν(Σ_{a,b} k_k[a, b] x̄[r + a − p, c + b − p]). */
    static double directValue(FieldsOfExperts foe, double[] theta, INDArray x) {
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
                    total += ck * (Math.sqrt(u * u + nu * nu) - nu);
                }
            }
        }
        return total;
    }

    @Test
    void valueMatchesTheDefiningSum() {
        Random random = new Random(21);
        for (FieldsOfExperts foe : new FieldsOfExperts[] {new FieldsOfExperts(4, 5), new FieldsOfExperts(3, 3), new FieldsOfExperts(2, 7)}) {
            double[] theta = perturbedTheta(foe, random);
            INDArray x = uniform(random, 0, 1, 13, 9);
            try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
                double expected = directValue(foe, theta, x);
                assertEquals(expected, r.value(x), 1e-12 * Math.abs(expected));
            }
        }
    }

    @Test
    void embeddingInLargerFiltersIsTheSameRegularizer() {
        // 3 filters 3×3 zero-padded to 7×7: value, gradient and Hessian-vector product unchanged (exact zeros in
        // the border of every filter), the mixed adjoint's weight and ν entries unchanged
        Random random = new Random(31);
        FieldsOfExperts small = new FieldsOfExperts(3, 3, FieldsOfExperts.Potential.LOGCOSH);
        FieldsOfExperts large = new FieldsOfExperts(3, 7, FieldsOfExperts.Potential.LOGCOSH);
        double[] theta = perturbedTheta(small, random);
        double[] grown = large.embed(small, theta, 5).orElseThrow();
        assertEquals(large.numParams(), grown.length);
        assertArrayEquals(large.project(grown), grown, 1e-15);
        INDArray x = uniform(random, 0, 1, 12, 11);
        INDArray v = gaussian(random, 12, 11);
        try (Regularizer.Instance r = small.bind(theta, DataType.DOUBLE);
             Regularizer.Instance g = large.bind(grown, DataType.DOUBLE)) {
            assertEquals(r.value(x), g.value(x), 1e-12 * Math.abs(r.value(x)));
            INDArray a = Nd4j.create(DataType.DOUBLE, 12, 11);
            INDArray b = Nd4j.create(DataType.DOUBLE, 12, 11);
            r.gradient(x, a);
            g.gradient(x, b);
            assertEquals(0.0, norm(a.sub(b)), 1e-12 * norm(a));
            r.hessianVector(x, v, a);
            g.hessianVector(x, v, b);
            assertEquals(0.0, norm(a.sub(b)), 1e-12 * norm(a));
            double[] ms = r.mixedAdjoint(x, v);
            double[] ml = g.mixedAdjoint(x, v);
            for (int k = 0; k < 3; k++) {
                assertEquals(ms[27 + k], ml[147 + k], 1e-12 * Math.abs(ms[27 + k]), "weight " + k);
                // the centre tap of each filter has the same derivative
                assertEquals(ms[k * 9 + 4], ml[k * 49 + 24], 1e-10 * (1 + Math.abs(ms[k * 9 + 4])), "centre " + k);
            }
            assertEquals(ms[30], ml[150], 1e-12 * Math.abs(ms[30]), "log nu");
        }
    }

    @Test
    void embeddingWithMoreFiltersAddsSeededFiltersAtTheSmallestWeight() {
        FieldsOfExperts small = new FieldsOfExperts(2, 3);
        FieldsOfExperts large = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(small, new Random(32));
        double[] grown = large.embed(small, theta, 9).orElseThrow();
        double[] init = large.initialTheta(9);
        for (int j = 2 * 25; j < 4 * 25; j++) {
            assertEquals(init[j], grown[j], 0.0, "new filter entry " + j);
        }
        double minWeight = Math.min(theta[18], theta[19]);
        assertEquals(theta[18], grown[100], 0.0);
        assertEquals(theta[19], grown[101], 0.0);
        assertEquals(minWeight, grown[102], 0.0);
        assertEquals(minWeight, grown[103], 0.0);
        assertEquals(theta[20], grown[104], 0.0);
        assertEquals(theta[4], grown[12], 0.0, "centre of filter 0");
        // the index map says where each parameter went: injective, and θ is found there
        int[] map = large.embedding(small).orElseThrow();
        assertEquals(small.numParams(), map.length);
        assertEquals(small.numParams(), java.util.Arrays.stream(map).distinct().count());
        for (int i = 0; i < map.length; i++) {
            assertEquals(theta[i], grown[map[i]], 0.0, "parameter " + i + " at " + map[i]);
        }
        // no embedding into smaller or even-offset structures, nor from another family
        assertTrue(small.embed(large, grown, 1).isEmpty());
        assertTrue(new FieldsOfExperts(2, 5).embed(new FieldsOfExperts(2, 5), new double[53], 1).isPresent());
        assertTrue(new FieldsOfExperts(4, 5).embed(new TotalVariation(), new double[1], 1).isEmpty());
    }

    @Test
    void constantImagesAwayFromTheBorderCostNothing() {
        // zero-mean filters: an image that is constant on a region larger than the filter support gives
        // zero responses there, so R(x) only sees the border ring of width p
        FieldsOfExperts foe = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(foe, new Random(22));
        INDArray zero = Nd4j.zeros(DataType.DOUBLE, 10, 10);
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            assertEquals(0.0, r.value(zero), 0.0);
            INDArray g = Nd4j.create(DataType.DOUBLE, 10, 10);
            r.gradient(zero, g);
            assertEquals(0.0, norm(g), 0.0);
        }
    }

    @Test
    void defaultModelAndParameterNames() {
        FieldsOfExperts foe = new FieldsOfExperts();
        assertEquals("foe", foe.type());
        assertEquals(48, foe.filters());
        assertEquals(7, foe.size());
        assertEquals(48 * 49 + 48 + 1, foe.numParams());
        assertEquals("filter[0][0,0]", foe.paramName(0));
        assertEquals("filter[3][2,5]", foe.paramName(3 * 49 + 2 * 7 + 5));
        assertEquals("logWeight[3]", foe.paramName(48 * 49 + 3));
        assertEquals("logNu", foe.paramName(foe.numParams() - 1));
    }

    @Test
    void initialFiltersAreTheNonDcDctBasisInZigZagOrder() {
        FieldsOfExperts foe = new FieldsOfExperts();
        double[] theta = foe.initialTheta(1);
        int s = 7;
        int s2 = 49;
        assertArrayEquals(theta, foe.initialTheta(2), 0.0, "K ≤ s² − 1 uses no randomness");
        for (int k = 0; k < 48; k++) {
            for (int l = 0; l < 48; l++) {
                double g = 0;
                for (int j = 0; j < s2; j++) {
                    g += theta[k * s2 + j] * theta[l * s2 + j];
                }
                assertEquals(k == l ? 1.0 : 0.0, g, 1e-12, "Gram matrix entry " + k + "," + l);
            }
            double mean = 0;
            for (int j = 0; j < s2; j++) {
                mean += theta[k * s2 + j];
            }
            assertEquals(0.0, mean, 1e-12);
            assertEquals(FieldsOfExperts.initialLogWeight(48), theta[48 * s2 + k], 0.0);
        }
        assertEquals(Math.log(FieldsOfExperts.INITIAL_NU), theta[theta.length - 1], 1e-15);
        // zig-zag: (u, v) = (0, 1) varies along columns only, (1, 0) along rows only, then (2, 0), (1, 1), (0, 2)
        for (int a = 0; a < s; a++) {
            for (int b = 0; b < s; b++) {
                assertEquals(theta[b], theta[a * s + b], 1e-15, "filter 0 is constant down columns");
                assertEquals(theta[s2 + a * s], theta[s2 + a * s + b], 1e-15, "filter 1 is constant along rows");
            }
        }
        int[][] order = FieldsOfExperts.zigZagWithoutDc(4);
        int[][] expected = {{0, 1}, {1, 0}, {2, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}, {2, 1}, {3, 0}, {3, 1}, {2, 2}, {1, 3}, {2, 3}, {3, 2}, {3, 3}};
        assertEquals(expected.length, order.length);
        for (int i = 0; i < expected.length; i++) {
            assertArrayEquals(expected[i], order[i], "zig-zag position " + (i + 1));
        }
    }

    @Test
    void extraFiltersAreSeededUnitZeroMean() {
        FieldsOfExperts foe = new FieldsOfExperts(12, 3);
        double[] t1 = foe.initialTheta(1);
        double[] t2 = foe.initialTheta(2);
        for (int k = 8; k < 12; k++) {
            double mean = 0;
            double norm2 = 0;
            for (int j = 0; j < 9; j++) {
                mean += t1[k * 9 + j];
                norm2 += t1[k * 9 + j] * t1[k * 9 + j];
            }
            assertEquals(0.0, mean, 1e-12);
            assertEquals(1.0, norm2, 1e-12);
        }
        assertNotEquals(t1[8 * 9], t2[8 * 9], "random filters depend on the seed");
        assertEquals(t1[0], t2[0], 0.0, "DCT filters do not");
    }

    @Test
    void projectionZeroMeansFiltersAndClampsLogNu() {
        FieldsOfExperts foe = new FieldsOfExperts(2, 3);
        double[] raw = new double[foe.numParams()];
        for (int i = 0; i < 18; i++) {
            raw[i] = i;
        }
        raw[18] = 5;
        raw[19] = -7;
        raw[20] = 3;
        double[] p = foe.project(raw);
        assertEquals(4 - 4, p[4], 1e-12); // filter 0 = 0..8, mean 4
        assertEquals(9 - 13, p[9], 1e-12); // filter 1 = 9..17, mean 13
        assertEquals(5, p[18], 0.0);
        assertEquals(-7, p[19], 0.0);
        assertEquals(FieldsOfExperts.LOG_NU_MAX, p[20], 0.0);
        raw[20] = -30;
        assertEquals(FieldsOfExperts.LOG_NU_MIN, foe.project(raw)[20], 0.0);
    }

    @Test
    void flopModel() {
        FieldsOfExperts foe = new FieldsOfExperts();
        double n = 256.0 * 256;
        assertEquals(4 * 48 * 49 * n + 5 * 48 * n, foe.gradientFlops(256, 256), 0.0);
        assertEquals(4 * 48 * 49 * n + 48 * n, foe.hessianVectorFlops(256, 256), 0.0);
    }

    // ---------------------------------------------------------------------------------------------
    // bounds

    /** Largest eigenvalue of Σ_k c_k K_kᵀK_k on an h×w image by power iteration (a lower bound on F). */
    private static double powerIteration(Regularizer.Instance r, FieldsOfExperts foe, double[] theta, int h, int w) {
        // Σ c_k K_kᵀK_k = ν·∇²R at x = 0 (φ''(0) = 1/ν)
        double nu = Math.exp(theta[theta.length - 1]);
        INDArray zero = Nd4j.zeros(DataType.DOUBLE, h, w);
        INDArray v = gaussian(new Random(3), h, w);
        INDArray hv = Nd4j.create(DataType.DOUBLE, h, w);
        double lambda = 0;
        for (int it = 0; it < 300; it++) {
            v.divi(norm(v));
            r.hessianVector(zero, v, hv);
            lambda = dot(v, hv) * nu;
            v.assign(hv);
        }
        return lambda;
    }

    @Test
    void fourierBoundIsAnUpperBoundAndNearlyTight() {
        Random random = new Random(23);
        for (FieldsOfExperts foe : new FieldsOfExperts[] {new FieldsOfExperts(4, 5), new FieldsOfExperts(6, 3), new FieldsOfExperts(3, 7)}) {
            double[] theta = perturbedTheta(foe, random);
            int s = foe.size();
            int entries = foe.filters() * s * s;
            try (FieldsOfExperts.Instance r = foe.bind(theta, DataType.DOUBLE)) {
                double bound = r.fourierBound();
                // the symbol at many random frequencies
                double maxSampled = 0;
                for (int t = 0; t < 20000; t++) {
                    double w1 = 2 * Math.PI * random.nextDouble();
                    double w2 = 2 * Math.PI * random.nextDouble();
                    double f = 0;
                    for (int k = 0; k < foe.filters(); k++) {
                        double re = 0;
                        double im = 0;
                        for (int a = 0; a < s; a++) {
                            for (int b = 0; b < s; b++) {
                                double angle = w1 * a + w2 * b;
                                re += theta[(k * s + a) * s + b] * Math.cos(angle);
                                im += theta[(k * s + a) * s + b] * Math.sin(angle);
                            }
                        }
                        f += Math.exp(theta[entries + k]) * (re * re + im * im);
                    }
                    maxSampled = Math.max(maxSampled, f);
                }
                assertTrue(bound >= maxSampled, "bound " + bound + " below sampled symbol " + maxSampled);
                assertTrue(bound <= 1.12 * maxSampled, "bound " + bound + " far above sampled max " + maxSampled);
                double operator = powerIteration(r, foe, theta, 24, 24);
                assertTrue(operator <= bound, "operator norm " + operator + " exceeds the bound " + bound);
                assertTrue(operator >= 0.7 * bound, "operator norm " + operator + " far below the bound " + bound);
            }
        }
    }

    @Test
    void certifiedFlagsAndOrderOfConstants() {
        FieldsOfExperts foe = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(foe, new Random(24));
        try (FieldsOfExperts.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            assertTrue(r.convexityModulus().certified());
            assertEquals(0.0, r.convexityModulus().value(), 0.0);
            assertTrue(r.gradientLipschitz().certified());
            assertTrue(r.hessianLipschitz().certified());
            assertFalse(r.mixedLipschitz().certified(), "mixed Lipschitz constant only holds on a box");
            assertTrue(r.mixedNorm(uniform(new Random(1), 0, 1, 12, 11)).certified());
            // the brief's Young-type constants bound ours from above
            int s2 = 25;
            double nu = Math.exp(theta[theta.length - 1]);
            double young = 0;
            double young3 = 0;
            for (int k = 0; k < 4; k++) {
                double l1 = 0;
                for (int j = 0; j < s2; j++) {
                    l1 += Math.abs(theta[k * s2 + j]);
                }
                young += Math.exp(theta[100 + k]) * l1 * l1 / nu;
                young3 += Math.exp(theta[100 + k]) * l1 * l1 * l1 * FieldsOfExperts.PHI3_SUP_TIMES_NU2 / (nu * nu);
            }
            assertTrue(r.gradientLipschitz().value() <= young * (1 + 1e-12));
            assertTrue(r.hessianLipschitz().value() <= young3 * (1 + 1e-9));
        }
    }

    @Test
    void phiThirdDerivativeSupremumConstant() {
        // sup_t |φ'''(t)| ν² over a fine grid of t/ν
        double max = 0;
        for (int i = 0; i <= 200000; i++) {
            double s = i * 1e-5;
            max = Math.max(max, 3 * s * Math.pow(1 + s * s, -2.5));
        }
        assertEquals(FieldsOfExperts.PHI3_SUP_TIMES_NU2, max, 1e-9);
        assertTrue(max <= FieldsOfExperts.PHI3_SUP_TIMES_NU2 * (1 + 1e-12));
        double maxT = 0;
        for (int i = 0; i <= 200000; i++) {
            double s = i * 1e-5;
            maxT = Math.max(maxT, s * Math.pow(1 + s * s, -1.5));
        }
        assertEquals(FieldsOfExperts.T_PHI2_SUP, maxT, 1e-9);
    }

    @Test
    void hessianLipschitzHoldsOnNearbyPairs() {
        // pairs close to each other with responses near ν/2, where |φ'''| peaks
        Random random = new Random(25);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(foe, random);
        double nu = Math.exp(theta[theta.length - 1]);
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            double lh = r.hessianLipschitz().value();
            double worst = 0;
            for (int trial = 0; trial < 20; trial++) {
                INDArray x = gaussian(random, 12, 11).muli(0.3 * nu);
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
    void mixedLipschitzHoldsInsideItsBox() {
        Random random = new Random(26);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(foe, random);
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            double lj = r.mixedLipschitz().value();
            for (int trial = 0; trial < 5; trial++) {
                INDArray x = uniform(random, 0, 1, 12, 11);
                INDArray y = uniform(random, 0, 1, 12, 11);
                INDArray q = gaussian(random, 12, 11);
                double[] jx = r.mixedAdjoint(x, q);
                double[] jy = r.mixedAdjoint(y, q);
                double diff = 0;
                for (int i = 0; i < jx.length; i++) {
                    diff += (jx[i] - jy[i]) * (jx[i] - jy[i]);
                }
                assertTrue(Math.sqrt(diff) <= lj * norm(x.sub(y)) * norm(q));
            }
        }
    }

    @Test
    void mixedNormHoldsInFloatToo() {
        Random random = new Random(27);
        FieldsOfExperts foe = new FieldsOfExperts(4, 5);
        double[] theta = perturbedTheta(foe, random);
        try (Regularizer.Instance r = foe.bind(theta, DataType.FLOAT)) {
            INDArray x = uniform(random, 0, 1, 12, 11).castTo(DataType.FLOAT);
            Bound b = r.mixedNorm(x);
            for (int trial = 0; trial < 5; trial++) {
                INDArray q = gaussian(random, 12, 11).castTo(DataType.FLOAT);
                assertTrue(norm(r.mixedAdjoint(x, q)) <= b.value() * norm(q));
            }
        }
    }

    @Test
    void floatAgreesWithDoubleForHessianAndMixedAdjointOnSeveralSizes() {
        Random random = new Random(28);
        FieldsOfExperts foe = new FieldsOfExperts(5, 5);
        double[] theta = perturbedTheta(foe, random);
        try (Regularizer.Instance rd = foe.bind(theta, DataType.DOUBLE);
             Regularizer.Instance rf = foe.bind(theta, DataType.FLOAT)) {
            for (int[] size : new int[][] {{40, 33}, {9, 17}, {40, 33}}) {
                INDArray x = uniform(random, 0, 1, size[0], size[1]);
                INDArray v = gaussian(random, size[0], size[1]);
                INDArray hd = Nd4j.create(DataType.DOUBLE, size[0], size[1]);
                INDArray hf = Nd4j.create(DataType.FLOAT, size[0], size[1]);
                rd.hessianVector(x, v, hd);
                rf.hessianVector(x.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), hf);
                assertTrue(norm(hd.sub(hf.castTo(DataType.DOUBLE))) <= 1e-4 * norm(hd));
                double[] md = rd.mixedAdjoint(x, v);
                double[] mf = rf.mixedAdjoint(x.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT));
                double diff = 0;
                for (int i = 0; i < md.length; i++) {
                    diff += (md[i] - mf[i]) * (md[i] - mf[i]);
                }
                assertTrue(Math.sqrt(diff) <= 1e-4 * norm(md), "mixed adjoint float vs double: " + Math.sqrt(diff) / norm(md));
                assertEquals(directValue(foe, theta, x), rd.value(x), 1e-10 * Math.abs(rd.value(x)));
            }
        }
    }

    @Test
    void hessianVectorCacheFollowsTheValuesOfX() {
        Random random = new Random(29);
        FieldsOfExperts foe = new FieldsOfExperts(3, 5);
        double[] theta = perturbedTheta(foe, random);
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            try (Regularizer.Instance cached = foe.bind(theta, type)) {
                INDArray x = uniform(random, 0, 1, 10, 12).castTo(type);
                INDArray v = gaussian(random, 10, 12).castTo(type);
                INDArray got = Nd4j.create(type, 10, 12);
                INDArray expected = Nd4j.create(type, 10, 12);
                for (int step = 0; step < 4; step++) {
                    cached.hessianVector(x, v, got);
                    cached.gradient(x, expected); // other calls must not disturb the cache
                    try (Regularizer.Instance fresh = foe.bind(theta, type)) {
                        fresh.hessianVector(x, v, expected);
                    }
                    assertEquals(0.0, norm(got.sub(expected)), 0.0, "step " + step);
                    if (step == 1) {
                        x.putScalar(3, 7, x.getDouble(3, 7) + 0.25); // change x in place
                    } else if (step == 2) {
                        x = x.transpose().dup().transpose();          // same values, 'f'-order view
                    }
                    v = gaussian(random, 10, 12).castTo(type);
                }
            }
        }
    }

    @Test
    void derivativesOnAnImageSpanningSeveralConvolutionBands() {
        // 7×7 filters on a 300-pixel-wide image: Conv2d processes ≈27 rows per band, so 64 rows are 3 bands
        Random random = new Random(30);
        FieldsOfExperts foe = new FieldsOfExperts(3, 7);
        double[] theta = perturbedTheta(foe, random);
        int h = 64;
        int w = 300;
        try (Regularizer.Instance r = foe.bind(theta, DataType.DOUBLE)) {
            INDArray x = uniform(random, 0, 1, h, w);
            INDArray d = gaussian(random, h, w);
            INDArray g = Nd4j.create(DataType.DOUBLE, h, w);
            r.gradient(x, g);
            double step = 1e-5;
            double fd = (r.value(x.add(d.mul(step))) - r.value(x.sub(d.mul(step)))) / (2 * step);
            assertEquals(fd, dot(g, d), 1e-6 * Math.abs(fd));
            INDArray hv = Nd4j.create(DataType.DOUBLE, h, w);
            r.hessianVector(x, d, hv);
            INDArray gp = Nd4j.create(DataType.DOUBLE, h, w);
            INDArray gm = Nd4j.create(DataType.DOUBLE, h, w);
            r.gradient(x.add(d.mul(step)), gp);
            r.gradient(x.sub(d.mul(step)), gm);
            INDArray hfd = gp.sub(gm).divi(2 * step);
            assertTrue(norm(hfd.sub(hv)) <= 1e-6 * norm(hv), "relative error " + norm(hfd.sub(hv)) / norm(hv));
        }
    }
}
