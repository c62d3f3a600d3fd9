package bilevel.numerics.regularizers;

import bilevel.numerics.conv.Conv2d;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.Parallel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;

/**
 * Convex Fields of Experts (type "foe"): K learned zero-mean filters k_1 … k_K of size s×s, weights
 * e^{α_k} and a smoothed absolute value with learned smoothing ν = e^β,
 *
 * <pre>
 *   R_θ(x) = Σ_k e^{α_k} Σ_p φ_ν((k_k ⋆ x)_p),
 *   φ_ν(t) = √(t² + ν²) − ν          (potential "charbonnier", the default), or
 *   φ_ν(t) = ν log cosh(t/ν)          (potential "logcosh"),
 * </pre>
 * chosen once per model ({@link Potential}; model/config option {@code potential}). Both have the
 * asymptotes t²/(2ν) near 0 and |t| − const far away (const = ν resp. ν log 2); the parameter layout is
 * the same for both.
 * where k ⋆ x is the same-size correlation with zero extension of {@link Conv2d}:
 * (k ⋆ x)[r, c] = Σ_{a,b} k[a, b] · x̄[r + a − p, c + b − p], p = (s − 1)/2. Write K_k for x ↦ k_k ⋆ x,
 * u_k = K_k x, c_k = e^{α_k}, n = H·W.
 *
 * <h2>Parameters</h2>
 * θ = [filter entries (k = 0…K−1, row a, column b: index (k·s + a)·s + b), α_0 … α_{K−1}, β].
 * Feasible set Θ: every filter has zero mean (so R is invariant to adding a constant to x); α is free;
 * β ∈ [{@link #LOG_NU_MIN}, {@link #LOG_NU_MAX}] = [ln 10⁻⁴, ln 1], i.e. ν ∈ [10⁻⁴, 1] (for images in
 * [0, 1]: below 10⁻⁴ the Lipschitz constants explode, above 1 φ_ν is essentially quadratic on image
 * differences). The Euclidean projection subtracts each filter's mean (orthogonal projection onto a
 * subspace) and clamps β.
 *
 * <h2>Derivatives</h2>
 * Charbonnier: φ'(t) = t/√(t²+ν²) ∈ (−1, 1), φ''(t) = ν²/(t²+ν²)^{3/2} ∈ (0, 1/ν],
 * φ'''(t) = −3ν²t/(t²+ν²)^{5/2}. Log-cosh (u = t/ν): φ'(t) = tanh u ∈ (−1, 1), φ''(t) = sech²u / ν ∈ (0, 1/ν],
 * φ'''(t) = −(2/ν²) sech²u tanh u. In both cases ∂φ'_ν(t)/∂β = ν ∂φ'_ν(t)/∂ν = −t φ''(t) (Charbonnier:
 * ν·(−tν)/(t²+ν²)^{3/2} = −t·ν²/(t²+ν²)^{3/2}; log-cosh: ν·sech²(t/ν)·(−t/ν²) = −t·sech²(t/ν)/ν).
 * Log-cosh in FLOAT: gradient, curvature (HVP) and mixed adjoint all take tanh from the vectorizable rational
 * approximation {@link #tanhFloat} (max error 3.97·10⁻⁷ ≈ 3.3 float ε over all floats) and sech² = 1 − tanh², so
 * the float path is consistent with itself and within float rounding level of the exact derivatives; the value
 * (exact log cosh) and the DOUBLE path use the exact exp formulas.
 * <pre>
 *   ∇ₓR   = Σ_k c_k K_kᵀ φ'(u_k)
 *   ∇²R v = Σ_k c_k K_kᵀ (φ''(u_k) ⊙ K_k v)
 * </pre>
 * Mixed derivatives (columns of J = ∂θ∇ₓR, with S_j x = ∂(K_k x)/∂k_k[j], the image shifted by tap j with
 * zero extension, and ∂φ'_ν(t)/∂β = −t φ''(t)):
 * <pre>
 *   ∂∇ₓR/∂k_k[j] = c_k [S_jᵀ φ'(u_k) + K_kᵀ(φ''(u_k) ⊙ S_j x)]
 *   ∂∇ₓR/∂α_k   = c_k K_kᵀ φ'(u_k)
 *   ∂∇ₓR/∂β     = −Σ_k c_k K_kᵀ(u_k ⊙ φ''(u_k))
 * </pre>
 * so with z_k = K_k q, Jᵀq = [c_k ∂_w⟨φ''(u_k)⊙z_k, K_w x⟩ + c_k ∂_w⟨φ'(u_k), K_w q⟩ (two
 * {@link Conv2d#weightGradient} correlations), c_k⟨φ'(u_k), z_k⟩, −Σ_k c_k⟨u_k φ''(u_k), z_k⟩].
 *
 * <h2>Constants (see {@link Instance} for the proofs)</h2>
 * Notation: ‖k‖₁, ‖k‖₂ entry norms of a filter; F = sup_ω Σ_k c_k |k̂_k(ω)|² (k̂ the discrete-time
 * Fourier transform), bounded from above with certainty by {@link #fourierBound}; sup|φ'''| = 48/(25√5 ν²)
 * (Charbonnier) or 4/(3√3 ν²) (log-cosh), see {@link Potential#phi3SupTimesNu2()}.
 *
 * <h2>Initial parameters</h2>
 * Filters: the first K non-constant 2-D DCT-II basis functions in JPEG zig-zag order (orthonormal, zero
 * mean; for s = 7 and K = 48 this is the whole non-DC basis); when K > s² − 1 the remaining filters are
 * seeded Gaussian, made zero-mean and normalised to unit ℓ2. α_k = {@link #initialLogWeight}(K), ν =
 * {@link #INITIAL_NU}, chosen so that min ½‖x − y‖² + R_θ₀(x) is a reasonable denoiser at σ = 25/255 for
 * images in [0, 1] (see the class FieldsOfExpertsTest for how it was checked). The initial parameters do
 * not depend on the potential.
 */
public final class FieldsOfExperts implements Regularizer, LearnedStructure {

    public static final String TYPE = "foe";
    public static final int DEFAULT_FILTERS = 48;
    public static final int DEFAULT_SIZE = 7;
    /** Lower clamp of β = ln ν. */
    public static final double LOG_NU_MIN = Math.log(1e-4);
    /** Upper clamp of β = ln ν. */
    public static final double LOG_NU_MAX = 0.0;
    /**
     * Total initial weight Σ_k e^{α_k}; each filter starts at e^{α_k} = {@value #INITIAL_TOTAL_WEIGHT}/K.
     * Measured with the 48 DCT filters on Set12's cameraman at σ = 25 (FISTA, ε = 1e-2): e^α = 0.01 gave
     * 22.5 dB (over-smoothed), 0.1/48 ≈ 0.0021 gave 27.1 dB, the best of a grid of factors e^{±0.5}.
     */
    public static final double INITIAL_TOTAL_WEIGHT = 0.1;

    /** Initial α_k for K filters: log(INITIAL_TOTAL_WEIGHT / K). */
    public static double initialLogWeight(int filters) {
        return Math.log(INITIAL_TOTAL_WEIGHT / filters);
    }
    /** Initial ν. */
    public static final double INITIAL_NU = 0.01;
    /** sup_t |φ_ν'''(t)| · ν² = 3 · max_s s(1 + s²)^{−5/2} = 3 · (1/2)(4/5)^{5/2} = 48/(25√5), attained at t = ν/2. */
    public static final double PHI3_SUP_TIMES_NU2 = 48.0 / (25.0 * Math.sqrt(5.0));
    /** sup_t |t φ_ν''(t)| = max_s s(1 + s²)^{−3/2} = 2/(3√3), attained at t = ν/√2 (independent of ν). */
    public static final double T_PHI2_SUP = 2.0 / (3.0 * Math.sqrt(3.0));
    /** Box ‖x‖∞ ≤ B on which the (estimated) {@link Instance#mixedLipschitz()} is derived. */
    public static final double MIXED_LIPSCHITZ_BOX = 2.0;

    /**
     * sup_t |φ_ν'''(t)| · ν² for the log-cosh potential: with s = tanh(t/ν) ∈ (−1, 1), |φ'''|ν² = 2(1 − s²)|s|,
     * whose maximum over s ∈ [0, 1] is at 1 − 3s² = 0, s = 1/√3: 2 · (2/3) · (1/√3) = 4/(3√3).
     */
    public static final double LOGCOSH_PHI3_SUP_TIMES_NU2 = 4.0 / (3.0 * Math.sqrt(3.0));

    /**
     * For the log-cosh potential |t φ''(t)| = g(|t|/ν) with g(u) = u sech²u (independent of ν); g' = sech²u
     * (1 − 2u tanh u), and u tanh u is strictly increasing on [0, ∞) from 0 to ∞, so g increases up to the
     * unique root u* of 2u tanh u = 1 and decreases after it. u* (≈ 0.7717) by Newton's method to full
     * double precision.
     */
    public static final double LOGCOSH_T_PHI2_PEAK = logCoshPeak();

    private static final double LN2 = Math.log(2.0);

    /** sup_t |t φ''(t)| = g(u*) ≈ 0.4477 for the log-cosh potential (see {@link #LOGCOSH_T_PHI2_PEAK}). */
    public static final double LOGCOSH_T_PHI2_SUP = LOGCOSH_T_PHI2_PEAK * sech2(LOGCOSH_T_PHI2_PEAK);

    private static double logCoshPeak() {
        double u = 0.77;
        for (int i = 0; i < 60; i++) {
            double th = Math.tanh(u);
            u -= (2 * u * th - 1) / (2 * th + 2 * u * (1 - th * th));
        }
        return u;
    }

    /**
     * The penalty φ_ν of the model (option {@code potential}). Both are even, convex, C^∞, with
     * φ(0) = φ'(0) = 0, 0 < φ'' ≤ φ''(0) = 1/ν, |φ'| < 1.
     */
    public enum Potential {
        /** φ_ν(t) = √(t² + ν²) − ν (the default). */
        CHARBONNIER("charbonnier"),
        /** φ_ν(t) = ν log cosh(t/ν). */
        LOGCOSH("logcosh");

        private final String key;

        Potential(String key) {
            this.key = key;
        }

        /** The name used in options and model files. */
        public String key() {
            return key;
        }

        /**
         * The potential named {@code key} (exact match).
         *
         * @throws IllegalArgumentException with a one-line message listing the known names
         */
        public static Potential parse(String key) {
            for (Potential p : values()) {
                if (p.key.equals(key)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("unknown potential '" + key + "' (known: charbonnier, logcosh)");
        }

        /** sup_t |φ_ν'''(t)| · ν² (independent of ν). */
        public double phi3SupTimesNu2() {
            return this == CHARBONNIER ? PHI3_SUP_TIMES_NU2 : LOGCOSH_PHI3_SUP_TIMES_NU2;
        }

        /** sup_t |t φ_ν''(t)| (independent of ν). */
        public double tPhi2Sup() {
            return this == CHARBONNIER ? T_PHI2_SUP : LOGCOSH_T_PHI2_SUP;
        }

        /** The |t|/ν at which |t φ_ν''(t)| is largest; |tφ''| increases in |t| before and decreases after it. */
        double tPhi2PeakOverNu() {
            return this == CHARBONNIER ? 1.0 / Math.sqrt(2.0) : LOGCOSH_T_PHI2_PEAK;
        }

        /** φ_ν(t), evaluated without cancellation for small |t| and without overflow for large |t|. */
        public double value(double t, double nu) {
            if (this == CHARBONNIER) {
                return t * t / (Math.sqrt(t * t + nu * nu) + nu);
            }
            return nu * logCosh(t / nu);
        }

        /** φ_ν'(t). */
        public double first(double t, double nu) {
            return this == CHARBONNIER ? t / Math.sqrt(t * t + nu * nu) : tanh(t / nu);
        }

        /** φ_ν''(t). */
        public double second(double t, double nu) {
            if (this == CHARBONNIER) {
                double r = 1.0 / Math.sqrt(t * t + nu * nu);
                return nu * nu * r * r * r;
            }
            return sech2(t / nu) / nu;
        }
    }

    /**
     * log cosh u without overflow or cancellation: for |u| ≥ 1/2, |u| + log1p(e^{−2|u|}) − log 2; below,
     * log1p(cosh|u| − 1) with cosh a − 1 = (e^a − 1)²/(2e^a) from expm1 (relative accuracy near 0, where
     * log cosh u ≈ u²/2).
     */
    static double logCosh(double u) {
        double a = Math.abs(u);
        if (a < 0.5) {
            double e = Math.expm1(a);
            return Math.log1p(e * e / (2 * (1 + e)));
        }
        return a + Math.log1p(Math.exp(-2 * a)) - LN2;
    }

    /**
     * tanh u = sign(u)(1 − 2/(e^{2|u|} + 1)) with one exp; e^{2|u|} = ∞ for large |u| gives exactly ±1 (no
     * NaN). Absolute error a few ulps of 1 (relative accuracy is lost only where |tanh u| is tiny, and there
     * the absolute error is still a few 2⁻⁵³).
     */
    static double tanh(double u) {
        double e = Math.exp(2 * Math.abs(u));
        return Math.copySign(1 - 2 / (e + 1), u);
    }

    /** Clamp of the argument of {@link #tanhFloat}: the value at ±9 rounds to ±1 in float, so beyond it the result is ±1. */
    static final float TANH_FLOAT_CLAMP = 9f;
    /**
     * Measured max |{@link #tanhFloat}(u) − tanh u| over every float u, rounded up (3.9687·10⁻⁷ at u ≈ 5.857, see
     * {@link #tanhFloat}); 6.7 ulps of [1/2, 1) (2⁻²⁴) or 3.3 float machine epsilons ε = 2⁻²³ ≈ 1.19·10⁻⁷.
     */
    static final double TANH_FLOAT_MAX_ERROR = 3.97e-7;

    private static final float TANH_A1 = 4.89352455891786e-03f;
    private static final float TANH_A3 = 6.37261928875436e-04f;
    private static final float TANH_A5 = 1.48572235717979e-05f;
    private static final float TANH_A7 = 5.12229709037114e-08f;
    private static final float TANH_A9 = -8.60467152213735e-11f;
    private static final float TANH_A11 = 2.00018790482477e-13f;
    private static final float TANH_A13 = -2.76076847742355e-16f;
    private static final float TANH_B0 = 4.89352518554385e-03f;
    private static final float TANH_B2 = 2.26843463243900e-03f;
    private static final float TANH_B4 = 1.18534705686654e-04f;
    private static final float TANH_B6 = 1.19825839466702e-06f;

    /**
     * tanh u in float arithmetic with only ×, +, ÷, min and max, so that C2 vectorizes the loops of the float
     * kernels (Math.exp is a scalar call: 18–25 ns per response against about 1 ns here). With
     * v = clamp(u, ±{@value #TANH_FLOAT_CLAMP}) and w = v²,
     * <pre>
     *   tanh u ≈ clamp( v·(P(w)/Q(w)), ±1 ),
     *   P(w) = a₁ + a₃w + a₅w² + a₇w³ + a₉w⁴ + a₁₁w⁵ + a₁₃w⁶,   Q(w) = b₀ + b₂w + b₄w² + b₆w³,
     * </pre>
     * a [13/6] rational minimax fit of tanh (the coefficients of Eigen's {@code ptanh_float}, also used by XLA
     * and ONNX Runtime's MLAS), evaluated by Horner's rule in float. Exactly odd (tanhFloat(−u) = −tanhFloat(u)
     * bit for bit, −0 ↦ −0) and |result| ≤ 1 by construction, so the float curvature 1 − tanh² is never negative;
     * ±∞ ↦ ±1, NaN ↦ NaN. Accuracy, measured once against Math.tanh (within 2.5 ulps in double) on every one of
     * the 2³¹ − 2²³ non-negative finite floats (a one-off 8-minute loop, not a unit test; the unit test checks
     * 10⁶ grid points): max |error| = 3.9687·10⁻⁷ at u ≈ 5.857, where rounding in P and Q dominates (the fit
     * alone, evaluated in double, is within 2.6·10⁻⁸ on [−20, 20]) — {@link #TANH_FLOAT_MAX_ERROR}. This is float
     * rounding level (ε = 2⁻²³ ≈ 1.19·10⁻⁷): float results differ from the exact function by a few ulps, as any
     * float evaluation does, and the double kernels keep the exact formula.
     */
    static float tanhFloat(float u) {
        float v = Math.max(-TANH_FLOAT_CLAMP, Math.min(TANH_FLOAT_CLAMP, u));
        float w = v * v;
        float p = (((((TANH_A13 * w + TANH_A11) * w + TANH_A9) * w + TANH_A7) * w + TANH_A5) * w + TANH_A3) * w + TANH_A1;
        float q = ((TANH_B6 * w + TANH_B4) * w + TANH_B2) * w + TANH_B0;
        return Math.max(-1f, Math.min(1f, v * (p / q)));
    }

    /** sech²u = 4m/(1 + m)², m = e^{−2|u|} ∈ (0, 1] (underflows to 0 for large |u|, never overflows). */
    static double sech2(double u) {
        double m = Math.exp(-2 * Math.abs(u));
        double d = 1 + m;
        return 4 * m / (d * d);
    }

    private final int filters;
    private final int size;
    private final Potential potential;

    /** The default model: 48 filters of size 7×7, Charbonnier potential. */
    public FieldsOfExperts() {
        this(DEFAULT_FILTERS, DEFAULT_SIZE);
    }

    /**
     * Charbonnier potential.
     *
     * @param filters K ≥ 1
     * @param size    s, odd and ≥ 1
     */
    public FieldsOfExperts(int filters, int size) {
        this(filters, size, Potential.CHARBONNIER);
    }

    /**
     * @param filters   K ≥ 1
     * @param size      s, odd and ≥ 1
     * @param potential the penalty φ_ν (non-null)
     */
    public FieldsOfExperts(int filters, int size, Potential potential) {
        this.potential = java.util.Objects.requireNonNull(potential, "potential");
        if (filters < 1) {
            throw new IllegalArgumentException("need at least one filter, got " + filters);
        }
        if (size < 1 || size % 2 == 0) {
            throw new IllegalArgumentException("filter size must be odd and positive, got " + size);
        }
        this.filters = filters;
        this.size = size;
    }

    public int filters() {
        return filters;
    }

    public int size() {
        return size;
    }

    /** The penalty φ_ν. */
    public Potential potential() {
        return potential;
    }

    private int filterEntries() {
        return filters * size * size;
    }

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public int numParams() {
        return filterEntries() + filters + 1;
    }

    /** The K filters k_k (s×s each), as stored in θ. */
    @Override
    public java.util.List<double[][]> filters(double[] theta) {
        java.util.List<double[][]> out = new java.util.ArrayList<>();
        for (int k = 0; k < filters; k++) {
            double[][] f = new double[size][size];
            for (int a = 0; a < size; a++) {
                for (int b = 0; b < size; b++) {
                    f[a][b] = theta[(k * size + a) * size + b];
                }
            }
            out.add(f);
        }
        return out;
    }

    /**
     * One profile: the shared potential φ_ν(t) (ν = e^β from θ) on t ∈ [−0.5, 0.5], 101 points, named after
     * the potential and ν.
     */
    @Override
    public java.util.List<Profile> profiles(double[] theta) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        double nu = Math.exp(theta[numParams() - 1]);
        int n = 101;
        double[] t = new double[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            t[i] = -0.5 + i / (double) (n - 1);
            v[i] = potential.value(t[i], nu);
        }
        return java.util.List.of(new Profile(String.format(java.util.Locale.ROOT, "potential φ_ν (%s, ν = %.3g)",
                potential.key(), nu), t, v));
    }

    @Override
    public String paramName(int i) {
        int s2 = size * size;
        if (i < 0 || i >= numParams()) {
            throw new IndexOutOfBoundsException("parameter " + i + " of " + numParams());
        }
        if (i < filterEntries()) {
            int k = i / s2;
            int j = i % s2;
            return "filter[" + k + "][" + (j / size) + "," + (j % size) + "]";
        }
        if (i < filterEntries() + filters) {
            return "logWeight[" + (i - filterEntries()) + "]";
        }
        return "logNu";
    }

    /**
     * Zig-zag order (JPEG convention) of the s×s DCT frequencies (u = vertical, v = horizontal), without
     * (0, 0): returns pairs {u, v}.
     */
    static int[][] zigZagWithoutDc(int s) {
        int[][] order = new int[s * s - 1][];
        int n = 0;
        for (int d = 1; d <= 2 * (s - 1); d++) {
            int lo = Math.max(0, d - (s - 1));
            int hi = Math.min(d, s - 1);
            if (d % 2 == 1) {
                for (int u = lo; u <= hi; u++) {
                    order[n++] = new int[] {u, d - u};
                }
            } else {
                for (int u = hi; u >= lo; u--) {
                    order[n++] = new int[] {u, d - u};
                }
            }
        }
        return order;
    }

    @Override
    public double[] initialTheta(long seed) {
        int s = size;
        int s2 = s * s;
        double[] theta = new double[numParams()];
        int[][] order = zigZagWithoutDc(s);
        Random random = new Random(seed);
        for (int k = 0; k < filters; k++) {
            int base = k * s2;
            if (k < order.length) {
                int u = order[k][0];
                int v = order[k][1];
                double cu = Math.sqrt((u == 0 ? 1.0 : 2.0) / s);
                double cv = Math.sqrt((v == 0 ? 1.0 : 2.0) / s);
                for (int a = 0; a < s; a++) {
                    for (int b = 0; b < s; b++) {
                        theta[base + a * s + b] = cu * cv * Math.cos(Math.PI * (2 * a + 1) * u / (2.0 * s))
                                * Math.cos(Math.PI * (2 * b + 1) * v / (2.0 * s));
                    }
                }
            } else {
                double mean = 0;
                for (int j = 0; j < s2; j++) {
                    theta[base + j] = random.nextGaussian();
                    mean += theta[base + j];
                }
                mean /= s2;
                double norm2 = 0;
                for (int j = 0; j < s2; j++) {
                    theta[base + j] -= mean;
                    norm2 += theta[base + j] * theta[base + j];
                }
                double scale = norm2 > 0 ? 1.0 / Math.sqrt(norm2) : 0.0;
                for (int j = 0; j < s2; j++) {
                    theta[base + j] *= scale;
                }
            }
        }
        for (int k = 0; k < filters; k++) {
            theta[filterEntries() + k] = initialLogWeight(filters);
        }
        theta[numParams() - 1] = Math.log(INITIAL_NU);
        return project(theta);
    }

    /**
     * Embeds a smaller FoE (K' ≤ K filters of size s' ≤ s, s − s' even; any potential, ν shared) into this one:
     * every filter of {@code from} is zero-padded to s×s around its centre, which leaves every response
     * k ⋆ x unchanged (same-size correlation with zero extension, centre p = (s − 1)/2), and keeps its weight
     * α_k; β (log ν) is copied. With K' = K the embedded model is the same regularizer as {@code from}
     * (value, gradient and Hessian), only with more parameters. Filters K'…K−1 are this family's
     * initial filters for {@code seed} (see {@link #initialTheta}) with the smallest weight of the copied ones,
     * so with K' < K the regularizer changes by that much. Empty for another family or a larger model. The copied
     * entries are copied bit for bit, so {@code theta} must be feasible for {@code from} (its filters zero-mean).
     */
    @Override
    public java.util.Optional<double[]> embed(Regularizer from, double[] theta, long seed) {
        java.util.Optional<int[]> map = embedding(from);
        if (map.isEmpty()) {
            return java.util.Optional.empty();
        }
        FieldsOfExperts small = (FieldsOfExperts) from;
        if (theta.length != small.numParams()) {
            throw new IllegalArgumentException("expected " + small.numParams() + " parameters, got " + theta.length);
        }
        int[] to = map.get();
        double[] out = initialTheta(seed);
        // padding taps of the copied filters: zero
        for (int k = 0; k < small.filters; k++) {
            java.util.Arrays.fill(out, k * size * size, (k + 1) * size * size, 0.0);
        }
        for (int i = 0; i < theta.length; i++) {
            out[to[i]] = theta[i];
        }
        double minLogWeight = Double.POSITIVE_INFINITY;
        for (int k = 0; k < small.filters; k++) {
            minLogWeight = Math.min(minLogWeight, theta[small.filterEntries() + k]);
        }
        for (int k = small.filters; k < filters; k++) {
            out[filterEntries() + k] = minLogWeight;
        }
        // a zero-mean filter padded with zeros is zero mean: copied as is (bit for bit), only β is clamped
        out[numParams() - 1] = Math.min(LOG_NU_MAX, Math.max(LOG_NU_MIN, out[numParams() - 1]));
        return java.util.Optional.of(out);
    }

    /** Filter k's tap (a, b) of {@code from} goes to tap (a + p, b + p) of filter k, p = (s − s')/2; α_k to α_k; β to β. */
    @Override
    public java.util.Optional<int[]> embedding(Regularizer from) {
        if (!(from instanceof FieldsOfExperts small) || small.filters > filters || small.size > size
                || (size - small.size) % 2 != 0) {
            return java.util.Optional.empty();
        }
        int s = size;
        int t = small.size;
        int pad = (s - t) / 2;
        int[] map = new int[small.numParams()];
        for (int k = 0; k < small.filters; k++) {
            for (int a = 0; a < t; a++) {
                for (int b = 0; b < t; b++) {
                    map[(k * t + a) * t + b] = (k * s + a + pad) * s + b + pad;
                }
            }
            map[small.filterEntries() + k] = filterEntries() + k;
        }
        map[small.numParams() - 1] = numParams() - 1;
        return java.util.Optional.of(map);
    }

    @Override
    public double[] project(double[] theta) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        double[] out = theta.clone();
        int s2 = size * size;
        for (int k = 0; k < filters; k++) {
            double mean = 0;
            for (int j = 0; j < s2; j++) {
                mean += out[k * s2 + j];
            }
            mean /= s2;
            for (int j = 0; j < s2; j++) {
                out[k * s2 + j] -= mean;
            }
        }
        int last = numParams() - 1;
        out[last] = Math.min(LOG_NU_MAX, Math.max(LOG_NU_MIN, out[last]));
        return out;
    }

    /**
     * Forward and adjoint correlation (2·K·s²·n each) plus φ' per response: Charbonnier 5 (×, +, √, ÷, ×c_k),
     * log-cosh 6 (|t|·2/ν, exp, +1, ÷, 1 − ·, ×c_k, the exp counted as one operation: the double kernel; the float
     * kernel's rational tanh takes about 17, see {@link #tanhFloat}, but the model is the same for both types).
     */
    @Override
    public double gradientFlops(long height, long width) {
        double n = (double) height * width;
        return 4.0 * filters * size * size * n + (potential == Potential.CHARBONNIER ? 5.0 : 6.0) * filters * n;
    }

    /**
     * With the curvature cached for x (the usual case: many products at one x, see
     * {@link Instance#hessianVector}): one forward and one adjoint correlation plus one product per response.
     * A change of x adds a forward correlation and 7 FLOPs per response (t² + ν², √, ÷, three ×).
     */
    @Override
    public double hessianVectorFlops(long height, long width) {
        double n = (double) height * width;
        return 4.0 * filters * size * size * n + filters * n;
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        return new Instance(theta, dataType);
    }

    /**
     * A certified upper bound on F = sup_ω f(ω), f(ω) = Σ_k c_k |k̂_k(ω)|², for s×s filters stored as in θ.
     *
     * <p>f is a real, non-negative trigonometric polynomial f(ω) = Σ_d A[d] cos(ω·d) with
     * A = Σ_k c_k (k_k ⋆ k_k) (the weighted autocorrelation, |d_i| ≤ s − 1), so of degree n = s − 1 in each
     * variable. It is evaluated on an M×M grid, δ = 2π/M, M = 64·max(1, s − 1). For fixed ω₂, f(·, ω₂) is a
     * trigonometric polynomial of degree ≤ n, so Bernstein's inequality gives |∂₁f| ≤ n‖f‖∞, and likewise
     * |∂₂f| ≤ n‖f‖∞. Every ω is within δ/2 of a grid point g in each coordinate, so
     * f(ω) ≤ f(g) + nδ‖f‖∞, hence ‖f‖∞ ≤ max_g f(g) / (1 − nδ) (here nδ ≤ 2π/64 ≈ 0.098). Also
     * f ≤ Σ_d |A[d]|. The smaller of the two is returned, inflated by 10⁻⁹ relative for rounding of the
     * double-precision evaluation (a few hundred terms per grid value).
     *
     * @param filterEntries K·s² filter entries
     * @param weights       c_k ≥ 0
     */
    static double fourierBound(double[] filterEntries, double[] weights, int s) {
        int kCount = weights.length;
        int s2 = s * s;
        int m = 2 * s - 1;
        double[] auto = new double[m * m]; // A[d1 + s − 1][d2 + s − 1]
        for (int k = 0; k < kCount; k++) {
            int base = k * s2;
            for (int d1 = -(s - 1); d1 <= s - 1; d1++) {
                for (int d2 = -(s - 1); d2 <= s - 1; d2++) {
                    double sum = 0;
                    for (int a = Math.max(0, -d1); a < Math.min(s, s - d1); a++) {
                        for (int b = Math.max(0, -d2); b < Math.min(s, s - d2); b++) {
                            sum += filterEntries[base + a * s + b] * filterEntries[base + (a + d1) * s + b + d2];
                        }
                    }
                    auto[(d1 + s - 1) * m + d2 + s - 1] += weights[k] * sum;
                }
            }
        }
        double absSum = 0;
        for (double v : auto) {
            absSum += Math.abs(v);
        }
        int degree = s - 1;
        if (degree == 0) {
            return auto[0] * (1 + 1e-9);
        }
        int grid = 64 * degree;
        double delta = 2 * Math.PI / grid;
        // C[w1][d2] = Σ_{d1} A cos(w1 d1), S[w1][d2] = Σ_{d1} A sin(w1 d1)
        double[] cosT = new double[grid * m];
        double[] sinT = new double[grid * m];
        for (int g = 0; g < grid; g++) {
            for (int d = 0; d < m; d++) {
                double angle = g * delta * (d - (s - 1));
                cosT[g * m + d] = Math.cos(angle);
                sinT[g * m + d] = Math.sin(angle);
            }
        }
        double[] cT = new double[m];
        double[] sT = new double[m];
        double max = 0;
        for (int g1 = 0; g1 < grid; g1++) {
            for (int d2 = 0; d2 < m; d2++) {
                double cs = 0;
                double sn = 0;
                for (int d1 = 0; d1 < m; d1++) {
                    double av = auto[d1 * m + d2];
                    cs += av * cosT[g1 * m + d1];
                    sn += av * sinT[g1 * m + d1];
                }
                cT[d2] = cs;
                sT[d2] = sn;
            }
            for (int g2 = 0; g2 < grid; g2++) {
                double f = 0;
                int row = g2 * m;
                for (int d2 = 0; d2 < m; d2++) {
                    // cos(w1 d1 + w2 d2) = cos(w1 d1)cos(w2 d2) − sin(w1 d1)sin(w2 d2)
                    f += cT[d2] * cosT[row + d2] - sT[d2] * sinT[row + d2];
                }
                max = Math.max(max, f);
            }
        }
        double gridBound = max / (1 - degree * delta);
        return Math.min(gridBound, absSum) * (1 + 1e-9);
    }

    /**
     * R_θ bound to fixed parameters. Work buffers (a {@link Conv2d} 1 → K, a [K, H, W] curvature cache,
     * per-thread scratch, and two [K, H, W] response arrays once value or a mixed term is asked for) are
     * allocated for the first image size seen and reallocated if it changes. The gradient and
     * Hessian-vector products run through {@link Conv2d#sandwich} and never store the responses.
     *
     * <h2>Proofs of the constants</h2>
     * Facts used: (i) ‖K_k‖ ≤ ‖k_k‖₁ (Young's inequality; truncating to the H×W window only lowers the
     * norm). (ii) |(K_k d)_p| ≤ ‖k_k‖₂‖d‖₂ (Cauchy–Schwarz on one window). (iii) Σ_k c_k‖K_k y‖² ≤ F‖y‖²:
     * embed y by zeros in a torus large enough that no wrap-around occurs, where K_k = P C_k E with C_k
     * circulant, E the embedding and P the restriction to the window; Σ c_k‖P C_k E y‖² ≤
     * ⟨Ey, Σ c_k C_kᵀC_k Ey⟩ ≤ max over torus frequencies of Σ c_k|k̂_k|² · ‖y‖² ≤ F‖y‖². (iv) If
     * M = Σ_k c_k K_kᵀ D_k K_k with diagonal D_k, then |⟨y, My⟩| ≤ max_k‖D_k‖ Σ c_k‖K_k y‖², so
     * ‖M‖ ≤ max_k‖D_k‖·F, and also ‖M‖ ≤ Σ_k c_k‖D_k‖‖k_k‖₁².
     * <p>The proofs below use only these properties of φ = φ_ν, which hold for both potentials: φ convex;
     * 0 < φ'' ≤ 1/ν; |φ'| < 1 with φ' increasing in |t| (odd) and φ'' decreasing in |t| (even); |tφ''(t)|
     * unimodal in |t| with peak at |t| = ν·{@link Potential#tPhi2PeakOverNu()}; sup|φ'''| =
     * {@link Potential#phi3SupTimesNu2()}/ν²; |d(tφ''(t))/dt| ≤ 1/ν. For log-cosh (u = t/ν): log cosh is
     * convex as φ'' = sech²u/ν > 0; sech² ≤ 1 with maximum at 0 and decreasing in |u|; tanh is increasing;
     * unimodality and sup|φ'''| are proven at {@link #LOGCOSH_T_PHI2_PEAK} and
     * {@link #LOGCOSH_PHI3_SUP_TIMES_NU2}; and d(tφ''(t))/dt = sech²u(1 − 2u tanh u)/ν: where 2u tanh u ≤ 1
     * its modulus is ≤ sech²u/ν ≤ 1/ν, elsewhere it is ≤ 2|u|sech²u·|tanh u|/ν ≤ 2·{@link #LOGCOSH_T_PHI2_SUP}/ν
     * ≈ 0.895/ν. For Charbonnier these are stated in the items.
     * <ul>
     *   <li>convexityModulus = 0, certified: φ_ν is convex and R is a sum of convex functions of linear maps.</li>
     *   <li>gradientLipschitz = min(Σ c_k‖k_k‖₁², F)/ν, certified: ∇²R = M with D_k = diag φ''(u_k),
     *       0 ≤ φ'' ≤ 1/ν, then (iv).</li>
     *   <li>hessianLipschitz = sup|φ'''| · min(Σ c_k‖k_k‖₂‖k_k‖₁², max_k‖k_k‖₂ · F), certified:
     *       ∇²R(x) − ∇²R(x') = M with D_k = diag(φ''(u_k) − φ''(u'_k)), and by the mean value theorem and (ii)
     *       ‖D_k‖ ≤ sup|φ'''| max_p|(K_k(x − x'))_p| ≤ sup|φ'''|‖k_k‖₂‖x − x'‖; then (iv). (This is at most
     *       the cruder Σ c_k‖k_k‖₁³ sup|φ'''|.)</li>
     *   <li>mixedNorm(x), certified: ‖J‖₂ ≤ ‖J‖_F with the columns listed in the class comment.
     *       α column: ‖c_k K_kᵀφ'(u_k)‖ ≤ c_k‖k_k‖₁‖φ'(u_k)‖. β column: ≤ min(Σ c_k‖k_k‖₁‖u_kφ''(u_k)‖,
     *       √(F Σ c_k‖u_kφ''(u_k)‖²)) (the second by (iii) applied to the adjoint of y ↦ (√c_k K_k y)_k).
     *       Filter columns of filter k (Minkowski over j): Σ_j‖col_{kj}‖² ≤ c_k²(s‖φ'(u_k)‖ +
     *       ‖k_k‖₁√Q_k)², using Σ_j‖S_jᵀy‖² ≤ s²‖y‖² and Σ_j‖φ''(u_k) ⊙ S_j x‖² = Σ_p φ''(u_kp)² ·
     *       Σ_j (S_j x)_p² = Q_k, the inner sum being the s×s window sum of x² (zero extended). The
     *       norms are evaluated at the computed responses û_k with a rigorous rounding margin:
     *       |û − u| ≤ Δ_k = 2(s² + 2)·u_mach·‖k_k‖₁‖x‖∞ (dot product of length s² in any summation order
     *       plus rounding of the filter to the working type), and each pointwise factor is replaced by its
     *       maximum over [|û| − Δ, |û| + Δ] (φ' increasing and φ'' decreasing in |t|; |tφ''| increasing up to
     *       its peak, ν/√2 for Charbonnier, then decreasing). Sums are accumulated in double and the result inflated by 10⁻⁶ relative.</li>
     *   <li>mixedLipschitz(), <b>estimated</b>, because it is proven only on a box (mixedLipschitz(ρ) is the
     *       certified version on the ball of radius ρ, which lies in the box B = ρ): no finite global constant
     *       exists. A filter column contains c_k K_kᵀ(φ''(K_k x) ⊙ S_j x); for x = C·1 + (a ramp of small
     *       slope) the interior responses K_k x do not depend on C (zero-mean filters) and can sit at
     *       |t| = ν/2 where |φ'''| is largest, while S_j x ≈ C, so the derivative φ'''(u) ⊙ K_k d ⊙ S_j x grows
     *       without bound in C. On the box ‖x‖∞, ‖x'‖∞ ≤ B = {@link #MIXED_LIPSCHITZ_BOX} (images in [0, 1] with
     *       overshoot), with d = x − x', the column differences satisfy: α_k: ‖c_k K_kᵀ(φ'(u_k) − φ'(u'_k))‖ ≤
     *       c_k‖k_k‖₁²‖d‖/ν; β: ≤ Σ_k c_k‖k_k‖₁²‖d‖/ν because |d(tφ''(t))/dt| ≤ 1/ν (Charbonnier:
     *       = |1 − 2t²/ν²|(1 + t²/ν²)^{−5/2}/ν ≤ 1/ν; log-cosh: above); filter (k, j): writing φ''(u)⊙S_j x − φ''(u')⊙S_j x' = φ''(u)⊙S_j d + (φ''(u) − φ''(u'))⊙S_j x'
     *       and ‖a ⊙ b‖₂ ≤ ‖a‖₂‖b‖∞, ≤ c_k‖k_k‖₁(2/ν + sup|φ'''|‖k_k‖₁B)‖d‖ (one 1/ν from S_jᵀ(φ'(u) − φ'(u')),
     *       one from φ''(u)⊙S_j d, and ‖φ''(u) − φ''(u')‖₂ ≤ sup|φ'''|‖k_k‖₁‖d‖ with ‖S_j x'‖∞ ≤ B). The
     *       value is the Frobenius combination √(Σ over columns of their squares).</li>
     * </ul>
     */
    public final class Instance implements Regularizer.Instance {
        private final double[] theta;
        private final DataType dataType;
        private final boolean isDouble;
        private final boolean logcosh;      // potential == LOGCOSH
        private final double nu;
        private final double[] weight;      // c_k = e^{α_k}
        private final double[] l1;          // ‖k_k‖₁
        private final double[] l2;          // ‖k_k‖₂
        private final double[] filterEntries;
        private final INDArray weights;     // [K, s²] in dataType
        private double fourier = Double.NaN; // lazily computed F bound
        private Workspace workspace;

        private Instance(double[] theta, DataType dataType) {
            if (theta.length != numParams()) {
                throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
            }
            if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
                throw new IllegalArgumentException("only FLOAT and DOUBLE are supported, got " + dataType);
            }
            this.theta = theta.clone();
            this.dataType = dataType;
            this.isDouble = dataType == DataType.DOUBLE;
            this.logcosh = potential == Potential.LOGCOSH;
            int s2 = size * size;
            this.filterEntries = Arrays.copyOf(theta, filterEntries());
            this.weight = new double[filters];
            this.l1 = new double[filters];
            this.l2 = new double[filters];
            for (int k = 0; k < filters; k++) {
                weight[k] = Math.exp(theta[filterEntries() + k]);
                double a1 = 0;
                double a2 = 0;
                for (int j = 0; j < s2; j++) {
                    double w = filterEntries[k * s2 + j];
                    a1 += Math.abs(w);
                    a2 += w * w;
                }
                l1[k] = a1;
                l2[k] = Math.sqrt(a2);
            }
            this.nu = Math.exp(theta[numParams() - 1]);
            if (isDouble) {
                this.weights = Nd4j.create(filterEntries, new long[] {filters, s2}, DataType.DOUBLE);
            } else {
                float[] f = new float[filterEntries.length];
                for (int i = 0; i < f.length; i++) {
                    f[i] = (float) filterEntries[i];
                }
                this.weights = Nd4j.create(f, new long[] {filters, s2}, DataType.FLOAT);
            }
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        /** ν = e^β. */
        public double nu() {
            return nu;
        }

        // -----------------------------------------------------------------------------------------
        // evaluation

        @Override
        public double value(INDArray x) {
            Workspace ws = workspace(x);
            ws.conv.forward(weights, x, ws.u());
            double[] partial = new double[Parallel.threads()];
            Parallel.forRange(filters, 1, (chunk, from, to) -> partial[chunk] = isDouble
                    ? valueDouble(ws, from, to) : valueFloat(ws, from, to));
            double sum = 0;
            for (double v : partial) {
                sum += v;
            }
            return sum;
        }

        /**
         * out ← Σ_k c_k K_kᵀ φ'(K_k x), computed band by band ({@link Conv2d#sandwich}) so the responses
         * are never stored. x is not modified.
         */
        @Override
        public void gradient(INDArray x, INDArray out) {
            Workspace ws = workspace(x);
            ws.conv.sandwich(weights, x, ws.firstDerivativeMap, out);
        }

        /**
         * out ← Σ_k c_k K_kᵀ(φ''(K_k x) ⊙ K_k v). x and v are not modified.
         *
         * <p>The curvature c_k φ''(K_k x) is cached together with a copy of x's values: a call with an x of
         * the same contents (e.g. every product of a conjugate-gradient solve) costs one forward and one
         * adjoint correlation and a product; any change of x's values recomputes it.
         */
        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            Workspace ws = workspace(x);
            if (!ws.curvatureIsFor(x)) {
                ws.conv.forward(weights, x, ws.curvature);
                Parallel.forRange(filters, 1, (chunk, from, to) -> {
                    if (isDouble) {
                        curvatureDouble(ws, chunk, from, to);
                    } else {
                        curvatureFloat(ws, chunk, from, to);
                    }
                });
                ws.curvatureValid = true;
            }
            ws.conv.sandwich(weights, v, ws.curvatureMap, out);
        }

        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace ws = workspace(x);
            int n = ws.n;
            int s2 = size * size;
            ws.conv.forward(weights, x, ws.u());
            ws.conv.forward(weights, q, ws.z());
            double[] result = new double[numParams()];
            double[] u = ws.heapA();
            double[] z = ws.heapB();
            double nu2 = nu * nu;
            float invNuF = (float) (1.0 / nu);
            double dBeta = 0;
            for (int k = 0; k < filters; k++) {
                ws.readChannel(ws.u(), k, u);
                ws.readChannel(ws.z(), k, z);
                double ck = weight[k];
                double dAlpha = 0;
                double dB = 0;
                for (int i = 0; i < n; i++) {
                    double t = u[i];
                    double d1;
                    double d2;
                    if (logcosh && !isDouble) {
                        // float: the same tanh as the float gradient and curvature kernels, sech² = 1 − tanh²
                        double th = tanhFloat((float) t * invNuF);
                        d1 = th;
                        d2 = (1 - th) * (1 + th) / nu;
                    } else if (logcosh) {
                        // m = e^{−2|t|/ν}: tanh = (1 − m)/(1 + m), sech² = 4m/(1 + m)²
                        double m = Math.exp(-2 * Math.abs(t) / nu);
                        double inv = 1.0 / (1 + m);
                        d1 = Math.copySign((1 - m) * inv, t);
                        d2 = 4 * m * inv * inv / nu;
                    } else {
                        double r = 1.0 / Math.sqrt(t * t + nu2);
                        d1 = t * r;
                        d2 = nu2 * r * r * r;
                    }
                    dAlpha += d1 * z[i];
                    dB -= t * d2 * z[i];
                    u[i] = ck * d1;         // paired with q in the filter gradient
                    z[i] = ck * d2 * z[i];  // paired with x
                }
                result[filterEntries() + k] = ck * dAlpha;
                dBeta += ck * dB;
                ws.writeChannel(u, ws.u(), k);
                ws.writeChannel(z, ws.z(), k);
            }
            result[numParams() - 1] = dBeta;
            try (INDArray gradW = Nd4j.create(dataType, filters, s2)) {
                ws.conv.weightGradient(x, ws.z(), gradW, 0.0);
                ws.conv.weightGradient(q, ws.u(), gradW, 1.0);
                double[] g = gradW.data().asDouble(); // converts from the working type; gradW is contiguous
                System.arraycopy(g, 0, result, 0, filterEntries());
            }
            return result;
        }

        // -----------------------------------------------------------------------------------------
        // constants

        /** The certified bound F ≥ sup_ω Σ_k c_k|k̂_k(ω)|² of {@link FieldsOfExperts#fourierBound} (cached). */
        public double fourierBound() {
            if (Double.isNaN(fourier)) {
                fourier = FieldsOfExperts.fourierBound(filterEntries, weight, size);
            }
            return fourier;
        }

        @Override
        public Bound convexityModulus() {
            return Bound.certified(0.0);
        }

        @Override
        public Bound gradientLipschitz() {
            double young = 0;
            for (int k = 0; k < filters; k++) {
                young += weight[k] * l1[k] * l1[k];
            }
            return Bound.certified(Math.min(young, fourierBound()) / nu);
        }

        @Override
        public Bound hessianLipschitz() {
            double young = 0;
            double maxL2 = 0;
            for (int k = 0; k < filters; k++) {
                young += weight[k] * l2[k] * l1[k] * l1[k];
                maxL2 = Math.max(maxL2, l2[k]);
            }
            double phi3 = potential.phi3SupTimesNu2() / (nu * nu);
            return Bound.certified(phi3 * Math.min(young, maxL2 * fourierBound()) * (1 + 1e-12));
        }

        /** Estimated: the box bound below with B = {@link #MIXED_LIPSCHITZ_BOX} (images in [0, 1] with overshoot). */
        @Override
        public Bound mixedLipschitz() {
            return Bound.estimated(mixedLipschitzOnBox(MIXED_LIPSCHITZ_BOX));
        }

        /**
         * Certified on the ball ‖x‖₂, ‖x'‖₂ ≤ ρ: the box bound holds with B = ρ because ‖x‖∞ ≤ ‖x‖₂ (and
         * ‖S_j x'‖∞ ≤ ‖x'‖∞), which is all its proof uses of the box (see the class documentation).
         */
        @Override
        public Bound mixedLipschitz(double radius) {
            if (!(radius >= 0) || Double.isInfinite(radius)) {
                return Bound.certified(Double.POSITIVE_INFINITY);
            }
            return Bound.certified(mixedLipschitzOnBox(radius) * (1 + 1e-12));
        }

        private double mixedLipschitzOnBox(double box) {
            int s2 = size * size;
            double phi3 = potential.phi3SupTimesNu2() / (nu * nu);
            double sumSq = 0;
            double beta = 0;
            for (int k = 0; k < filters; k++) {
                double alpha = weight[k] * l1[k] * l1[k] / nu;
                sumSq += alpha * alpha;
                beta += alpha;
                double filter = weight[k] * l1[k] * (2 / nu + phi3 * l1[k] * box);
                sumSq += s2 * filter * filter;
            }
            sumSq += beta * beta;
            return Math.sqrt(sumSq);
        }

        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace ws = workspace(x);
            int n = ws.n;
            int h = ws.height;
            int w = ws.width;
            ws.conv.forward(weights, x, ws.u());
            double[] xs = ws.heapB();
            double xInf = 0;
            // x² and ‖x‖∞
            try (INDArray xd = Nd4j.create(DataType.DOUBLE, new long[] {h, w}, 'c')) {
                xd.assign(x);
                double[] xv = xd.data().asDouble();
                for (int i = 0; i < n; i++) {
                    xInf = Math.max(xInf, Math.abs(xv[i]));
                    xs[i] = xv[i] * xv[i];
                }
            }
            double[] window = windowSums(xs, h, w, size);
            double unit = isDouble ? 0x1p-53 : 0x1p-24;
            double[] u = ws.heapA();
            double nu2 = nu * nu;
            double tPeak = nu * potential.tPhi2PeakOverNu();
            double[] hNorm2 = new double[filters];
            double alphaSq = 0;
            double filterSq = 0;
            double betaYoung = 0;
            double betaFourier = 0;
            int s = size;
            for (int k = 0; k < filters; k++) {
                ws.readChannel(ws.u(), k, u);
                double margin = 2.0 * (s * s + 2) * unit * l1[k] * xInf;
                double p1 = 0;   // bound on ‖φ'(u_k)‖²
                double q = 0;    // bound on Σ_p φ''(u_kp)² · window_p
                double hk = 0;   // bound on ‖u_k φ''(u_k)‖²
                for (int i = 0; i < n; i++) {
                    double a = Math.abs(u[i]);
                    double lo = Math.max(0, a - margin);
                    double hi = a + margin;
                    double tm = Math.min(hi, Math.max(lo, tPeak));
                    double d1;
                    double d2;
                    double th;
                    if (logcosh) {
                        // Math.tanh: within 2.5 ulps, also relatively for tiny arguments
                        d1 = Math.min(1.0, Math.tanh(hi / nu));
                        d2 = sech2(lo / nu) / nu;
                        th = tm * sech2(tm / nu) / nu;
                    } else {
                        d1 = Math.min(1.0, hi / Math.sqrt(hi * hi + nu2));
                        double rLo = 1.0 / Math.sqrt(lo * lo + nu2);
                        d2 = nu2 * rLo * rLo * rLo;
                        double rm = 1.0 / Math.sqrt(tm * tm + nu2);
                        th = tm * nu2 * rm * rm * rm;
                    }
                    p1 += d1 * d1;
                    q += d2 * d2 * window[i];
                    hk += th * th;
                }
                hNorm2[k] = hk;
                double ck = weight[k];
                alphaSq += ck * ck * l1[k] * l1[k] * p1;
                double f = ck * (s * Math.sqrt(p1) + l1[k] * Math.sqrt(q));
                filterSq += f * f;
                betaYoung += ck * l1[k] * Math.sqrt(hk);
                betaFourier += ck * hk;
            }
            double beta = Math.min(betaYoung, Math.sqrt(fourierBound() * betaFourier));
            double frob = Math.sqrt(alphaSq + beta * beta + filterSq);
            return Bound.certified(frob * (1 + 1e-6));
        }

        @Override
        public void close() {
            weights.close();
            if (workspace != null) {
                workspace.close();
                workspace = null;
            }
        }

        // -----------------------------------------------------------------------------------------
        // pointwise kernels on the [K, n] responses (channels [from, to)), blocks of BLOCK elements

        private double valueFloat(Workspace ws, int from, int to) {
            return valueFloatImpl(ws, ws.u().data().asNioFloat(), from, to);
        }

        private double valueFloatImpl(Workspace ws, FloatBuffer ub, int from, int to) {
            int n = ws.n;
            double nuD = nu;
            double nu2 = nu * nu;
            double invNu = 1.0 / nu;
            double total = 0;
            float[] block = new float[Math.min(n, Workspace.BLOCK)];
            for (int k = from; k < to; k++) {
                double sum = 0;
                for (int s0 = 0; s0 < n; s0 += block.length) {
                    int len = Math.min(block.length, n - s0);
                    ub.get((int) ws.u().offset() + k * n + s0, block, 0, len);
                    if (logcosh) {
                        for (int i = 0; i < len; i++) {
                            sum += logCosh(block[i] * invNu);
                        }
                    } else {
                        for (int i = 0; i < len; i++) {
                            double t = block[i];
                            sum += t * t / (Math.sqrt(t * t + nu2) + nuD);
                        }
                    }
                }
                total += weight[k] * (logcosh ? nu * sum : sum);
            }
            return total;
        }

        private double valueDouble(Workspace ws, int from, int to) {
            DoubleBuffer ub = ws.u().data().asNioDouble();
            int n = ws.n;
            double nu2 = nu * nu;
            double invNu = 1.0 / nu;
            double total = 0;
            double[] block = new double[Math.min(n, Workspace.BLOCK)];
            for (int k = from; k < to; k++) {
                double sum = 0;
                for (int s0 = 0; s0 < n; s0 += block.length) {
                    int len = Math.min(block.length, n - s0);
                    ub.get((int) ws.u().offset() + k * n + s0, block, 0, len);
                    if (logcosh) {
                        for (int i = 0; i < len; i++) {
                            sum += logCosh(block[i] * invNu);
                        }
                    } else {
                        for (int i = 0; i < len; i++) {
                            double t = block[i];
                            sum += t * t / (Math.sqrt(t * t + nu2) + nu);
                        }
                    }
                }
                total += weight[k] * (logcosh ? nu * sum : sum);
            }
            return total;
        }

        /** The band map of the gradient: responses of channel k ← c_k φ'(responses), channels split over threads. */
        private void firstDerivativeBand(Workspace ws, INDArray resp, int rows) {
            int length = rows * ws.width;
            int offset = (int) resp.offset();
            Parallel.forRange(filters, 1, (chunk, from, to) -> {
                if (isDouble) {
                    DoubleBuffer rb = resp.data().asNioDouble();
                    double[] block = ws.scratchD[chunk];
                    double nu2 = nu * nu;
                    double twoOverNu = 2.0 / nu;
                    for (int k = from; k < to; k++) {
                        double ck = weight[k];
                        double twoCk = 2 * ck;
                        for (int s0 = 0; s0 < length; s0 += block.length) {
                            int len = Math.min(block.length, length - s0);
                            int at = offset + k * length + s0;
                            rb.get(at, block, 0, len);
                            if (logcosh) {
                                // c_k tanh(t/ν) = sign(t) c_k (1 − 2/(e^{2|t|/ν} + 1)); e = ∞ gives ±c_k
                                for (int i = 0; i < len; i++) {
                                    double t = block[i];
                                    double e = Math.exp(Math.abs(t) * twoOverNu);
                                    block[i] = Math.copySign(ck - twoCk / (e + 1), t);
                                }
                            } else {
                                for (int i = 0; i < len; i++) {
                                    double t = block[i];
                                    block[i] = ck * t / Math.sqrt(t * t + nu2);
                                }
                            }
                            rb.put(at, block, 0, len);
                        }
                    }
                } else {
                    FloatBuffer rb = resp.data().asNioFloat();
                    float[] block = ws.scratchF[chunk];
                    float nu2 = (float) (nu * nu);
                    float invNu = (float) (1.0 / nu);
                    for (int k = from; k < to; k++) {
                        float ck = (float) weight[k];
                        for (int s0 = 0; s0 < length; s0 += block.length) {
                            int len = Math.min(block.length, length - s0);
                            int at = offset + k * length + s0;
                            rb.get(at, block, 0, len);
                            if (logcosh) {
                                // c_k tanh(t/ν) with the vectorizable float tanh (error ≤ 4·10⁻⁷, see tanhFloat)
                                for (int i = 0; i < len; i++) {
                                    block[i] = ck * tanhFloat(block[i] * invNu);
                                }
                            } else {
                                for (int i = 0; i < len; i++) {
                                    float t = block[i];
                                    block[i] = ck * t / (float) Math.sqrt(t * t + nu2);
                                }
                            }
                            rb.put(at, block, 0, len);
                        }
                    }
                }
            });
        }

        /** The band map of the Hessian-vector product: responses of channel k ⊙= cached curvature_k on the band. */
        private void curvatureBand(Workspace ws, INDArray resp, int firstRow, int rows) {
            int length = rows * ws.width;
            int offset = (int) resp.offset();
            int curvatureStart = ws.curvatureOffset + firstRow * ws.width;
            Parallel.forRange(filters, 1, (chunk, from, to) -> {
                if (isDouble) {
                    DoubleBuffer rb = resp.data().asNioDouble();
                    DoubleBuffer cb = ws.curvature.data().asNioDouble();
                    double[] br = ws.scratchD[chunk];
                    double[] bc = ws.scratchD2[chunk];
                    for (int k = from; k < to; k++) {
                        for (int s0 = 0; s0 < length; s0 += br.length) {
                            int len = Math.min(br.length, length - s0);
                            int at = offset + k * length + s0;
                            rb.get(at, br, 0, len);
                            cb.get(curvatureStart + k * ws.n + s0, bc, 0, len);
                            for (int i = 0; i < len; i++) {
                                br[i] *= bc[i];
                            }
                            rb.put(at, br, 0, len);
                        }
                    }
                } else {
                    FloatBuffer rb = resp.data().asNioFloat();
                    FloatBuffer cb = ws.curvature.data().asNioFloat();
                    float[] br = ws.scratchF[chunk];
                    float[] bc = ws.scratchF2[chunk];
                    for (int k = from; k < to; k++) {
                        for (int s0 = 0; s0 < length; s0 += br.length) {
                            int len = Math.min(br.length, length - s0);
                            int at = offset + k * length + s0;
                            rb.get(at, br, 0, len);
                            cb.get(curvatureStart + k * ws.n + s0, bc, 0, len);
                            for (int i = 0; i < len; i++) {
                                br[i] *= bc[i];
                            }
                            rb.put(at, br, 0, len);
                        }
                    }
                }
            });
        }

        /** curvature_k ← c_k φ''(curvature_k) (the responses K_k x are replaced) for k in [from, to). */
        private void curvatureFloat(Workspace ws, int chunk, int from, int to) {
            FloatBuffer cb = ws.curvature.data().asNioFloat();
            float[] block = ws.scratchF[chunk];
            int n = ws.n;
            float nu2 = (float) (nu * nu);
            float invNu = (float) (1.0 / nu);
            for (int k = from; k < to; k++) {
                float ckNu2 = (float) (weight[k] * nu * nu);
                for (int s0 = 0; s0 < n; s0 += block.length) {
                    int len = Math.min(block.length, n - s0);
                    int at = ws.curvatureOffset + k * n + s0;
                    cb.get(at, block, 0, len);
                    if (logcosh) {
                        // c_k sech²(t/ν)/ν = (c_k/ν)(1 − th)(1 + th), th = tanhFloat(t/ν) ∈ [−1, 1]: ≥ 0, and
                        // consistent with the float gradient (absolute error ≤ 2·4·10⁻⁷ in sech²)
                        float ckOverNu = (float) (weight[k] / nu);
                        for (int i = 0; i < len; i++) {
                            float th = tanhFloat(block[i] * invNu);
                            block[i] = ckOverNu * ((1 - th) * (1 + th));
                        }
                    } else {
                        for (int i = 0; i < len; i++) {
                            float t = block[i];
                            float r = 1f / (float) Math.sqrt(t * t + nu2);
                            block[i] = ckNu2 * r * r * r;
                        }
                    }
                    cb.put(at, block, 0, len);
                }
            }
        }

        private void curvatureDouble(Workspace ws, int chunk, int from, int to) {
            DoubleBuffer cb = ws.curvature.data().asNioDouble();
            double[] block = ws.scratchD[chunk];
            int n = ws.n;
            double nu2 = nu * nu;
            double minusTwoOverNu = -2.0 / nu;
            for (int k = from; k < to; k++) {
                double ckNu2 = weight[k] * nu2;
                for (int s0 = 0; s0 < n; s0 += block.length) {
                    int len = Math.min(block.length, n - s0);
                    int at = ws.curvatureOffset + k * n + s0;
                    cb.get(at, block, 0, len);
                    if (logcosh) {
                        double scale = 4 * weight[k] / nu;
                        for (int i = 0; i < len; i++) {
                            double m = Math.exp(Math.abs(block[i]) * minusTwoOverNu);
                            double d = 1 + m;
                            block[i] = scale * m / (d * d);
                        }
                    } else {
                        for (int i = 0; i < len; i++) {
                            double t = block[i];
                            double r = 1.0 / Math.sqrt(t * t + nu2);
                            block[i] = ckNu2 * r * r * r;
                        }
                    }
                    cb.put(at, block, 0, len);
                }
            }
        }

        private Workspace workspace(INDArray x) {
            if (x.rank() != 2) {
                throw new IllegalArgumentException("expected an image [H, W], got shape " + Arrays.toString(x.shape()));
            }
            int h = (int) x.size(0);
            int w = (int) x.size(1);
            if (workspace == null || workspace.height != h || workspace.width != w) {
                if (workspace != null) {
                    workspace.close();
                }
                workspace = new Workspace(h, w);
            }
            return workspace;
        }

        /** Buffers for one image size. */
        private final class Workspace implements AutoCloseable {
            static final int BLOCK = 4096;
            final int height;
            final int width;
            final int n;
            final Conv2d conv;
            private INDArray u; // [K, H, W] responses K_k x, lazily allocated (value, mixed terms)
            private INDArray z; // [K, H, W] responses K_k q, lazily allocated (mixed adjoint)
            final INDArray curvature; // [K, H, W] c_k φ''(K_k x̃) for the cached x̃
            final int curvatureOffset;
            boolean curvatureValid;
            private float[] cachedXF;
            private float[] newXF;
            private double[] cachedXD;
            private double[] newXD;
            private INDArray imageStage;
            final Conv2d.BandMap firstDerivativeMap;
            final Conv2d.BandMap curvatureMap;
            final float[][] scratchF;
            final float[][] scratchF2;
            final double[][] scratchD;
            final double[][] scratchD2;
            private double[] heapA;
            private double[] heapB;
            private float[] heapF;

            Workspace(int height, int width) {
                this.height = height;
                this.width = width;
                this.n = height * width;
                this.conv = new Conv2d(1, filters, size, height, width, dataType);
                this.curvature = Nd4j.create(dataType, filters, height, width);
                this.curvatureOffset = (int) curvature.offset();
                this.firstDerivativeMap = (resp, firstRow, rows) -> firstDerivativeBand(this, resp, rows);
                this.curvatureMap = (resp, firstRow, rows) -> curvatureBand(this, resp, firstRow, rows);
                int threads = Parallel.threads();
                int block = Math.min(n, BLOCK);
                if (isDouble) {
                    scratchD = new double[threads][block];
                    scratchD2 = new double[threads][block];
                    scratchF = null;
                    scratchF2 = null;
                } else {
                    scratchF = new float[threads][block];
                    scratchF2 = new float[threads][block];
                    scratchD = null;
                    scratchD2 = null;
                }
            }

            /**
             * True if {@link #curvature} holds c_k φ''(K_k x) for an image with exactly the values of x;
             * otherwise invalidates it and remembers x's values for the computation that follows.
             */
            boolean curvatureIsFor(INDArray x) {
                INDArray src = x;
                if (x.dataType() != dataType || x.ordering() != 'c' || x.stride(1) != 1 || x.stride(0) != width) {
                    if (imageStage == null) {
                        imageStage = Nd4j.create(dataType, height, width);
                    }
                    imageStage.assign(x);
                    src = imageStage;
                }
                int at = (int) src.offset();
                boolean same;
                if (isDouble) {
                    if (newXD == null) {
                        newXD = new double[n];
                        cachedXD = new double[n];
                    }
                    src.data().asNioDouble().get(at, newXD, 0, n);
                    same = curvatureValid && Arrays.equals(newXD, cachedXD);
                    double[] t = cachedXD;
                    cachedXD = newXD;
                    newXD = t;
                } else {
                    if (newXF == null) {
                        newXF = new float[n];
                        cachedXF = new float[n];
                    }
                    src.data().asNioFloat().get(at, newXF, 0, n);
                    same = curvatureValid && Arrays.equals(newXF, cachedXF);
                    float[] t = cachedXF;
                    cachedXF = newXF;
                    newXF = t;
                }
                if (!same) {
                    curvatureValid = false;
                }
                return same;
            }

            INDArray u() {
                if (u == null) {
                    u = Nd4j.create(dataType, filters, height, width);
                }
                return u;
            }

            INDArray z() {
                if (z == null) {
                    z = Nd4j.create(dataType, filters, height, width);
                }
                return z;
            }

            double[] heapA() {
                if (heapA == null) {
                    heapA = new double[n];
                }
                return heapA;
            }

            double[] heapB() {
                if (heapB == null) {
                    heapB = new double[n];
                }
                return heapB;
            }

            /** dst ← channel k of a [K, H, W] work array. */
            void readChannel(INDArray a, int k, double[] dst) {
                int at = (int) a.offset() + k * n;
                if (isDouble) {
                    a.data().asNioDouble().get(at, dst, 0, n);
                } else {
                    if (heapF == null) {
                        heapF = new float[n];
                    }
                    a.data().asNioFloat().get(at, heapF, 0, n);
                    for (int i = 0; i < n; i++) {
                        dst[i] = heapF[i];
                    }
                }
            }

            /** channel k of a [K, H, W] work array ← src (rounded to the working type). */
            void writeChannel(double[] src, INDArray a, int k) {
                int at = (int) a.offset() + k * n;
                if (isDouble) {
                    a.data().asNioDouble().put(at, src, 0, n);
                } else {
                    if (heapF == null) {
                        heapF = new float[n];
                    }
                    for (int i = 0; i < n; i++) {
                        heapF[i] = (float) src[i];
                    }
                    a.data().asNioFloat().put(at, heapF, 0, n);
                }
            }

            @Override
            public void close() {
                conv.close();
                if (u != null) {
                    u.close();
                }
                if (z != null) {
                    z.close();
                }
                curvature.close();
                if (imageStage != null) {
                    imageStage.close();
                }
            }
        }
    }

    /**
     * Σ over the s×s window centred at each pixel of v (zero extension): out[r, c] = Σ_{|i|,|j| ≤ p}
     * v[r + i, c + j]. Separable, in double.
     */
    static double[] windowSums(double[] v, int h, int w, int s) {
        int p = (s - 1) / 2;
        double[] rows = new double[h * w];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                double sum = 0;
                for (int j = Math.max(0, c - p); j <= Math.min(w - 1, c + p); j++) {
                    sum += v[r * w + j];
                }
                rows[r * w + c] = sum;
            }
        }
        double[] out = new double[h * w];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                double sum = 0;
                for (int i = Math.max(0, r - p); i <= Math.min(h - 1, r + p); i++) {
                    sum += rows[i * w + c];
                }
                out[r * w + c] = sum;
            }
        }
        return out;
    }
}
