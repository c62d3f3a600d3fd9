package bilevel.numerics.primaldual;

import bilevel.numerics.conv.Conv2d;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/**
 * Learned convolution filters with learned per-filter weights (a Fields-of-Experts style analysis operator):
 * <pre>
 *   (K_θ x)_c = λ_c · (w_c ⋆ x),   c = 1..C,   λ_c = e^{ℓ_c},
 * </pre>
 * w_c a k×k filter, ⋆ the zero-padded "same" correlation of {@link Conv2d} (1 → C channels).
 * θ = (w_1, …, w_C, ℓ_1, …, ℓ_C): first C·k² filter entries (filter c at c·k² + a·k + b), then C log-weights.
 *
 * <h2>Certified constants</h2>
 * <ul>
 * <li><b>‖K‖² ≤ ‖Σ_c λ_c² (w_c ⊛ w_c)‖₁</b>, w ⊛ w the (2k−1)×(2k−1) autocorrelation. Proof: K_c = S C_c E
 *     with E the zero extension to ℤ², C_c the correlation on ℓ²(ℤ²) and S the restriction to the H×W window,
 *     so KᵀK = Σ_c Eᵀ C_cᵀ SᵀS C_c E ⪯ Eᵀ (Σ_c C_cᵀC_c) E since SᵀS ⪯ I. Σ_c C_cᵀC_c is the convolution on
 *     ℓ²(ℤ²) with r = Σ_c λ_c² (w_c ⊛ w_c), whose norm is ≤ ‖r‖₁ (Young), and ‖EᵀXE‖ ≤ ‖X‖. ∎</li>
 * <li><b>Γ² = λ_max² k² + max_c λ_c²‖w_c‖₁²</b> bounds ‖∂θ⟨v, K_θx⟩‖² / (‖x‖²‖v‖²): the filter part has entries
 *     λ_c⟨v_c, s_j x⟩ with s_j a zero-padded shift (a contraction), so its squared norm is
 *     ≤ Σ_c λ_c² k²‖v_c‖²‖x‖²; the log-weight part has entries ⟨v_c, K_c x⟩ with ‖K_c‖ ≤ λ_c‖w_c‖₁ (Young),
 *     so its squared norm is ≤ max_c λ_c²‖w_c‖₁² Σ_c‖v_c‖²‖x‖². ∎</li>
 * </ul>
 */
public final class ConvolutionFilters implements LearnedOperator {
    /** Bounds of the log-weights ℓ_c enforced by {@link #project}. */
    public static final double MIN_LOG_WEIGHT = -12;
    public static final double MAX_LOG_WEIGHT = 5;

    /** Initial weight λ_c of {@link #ConvolutionFilters(int, int)}. */
    public static final double DEFAULT_INITIAL_WEIGHT = 0.1;

    private final int channels;
    private final int kernelSize;
    private final double initialWeight;

    /** C filters of size k×k, initial weights {@value #DEFAULT_INITIAL_WEIGHT}. */
    public ConvolutionFilters(int channels, int kernelSize) {
        this(channels, kernelSize, DEFAULT_INITIAL_WEIGHT);
    }

    /**
     * @param initialWeight λ_c of {@link #initialTheta} (the scale of K at the start of a training), in
     *                      [e^MIN_LOG_WEIGHT, e^MAX_LOG_WEIGHT]
     */
    public ConvolutionFilters(int channels, int kernelSize, double initialWeight) {
        if (channels < 1 || kernelSize < 1 || kernelSize % 2 == 0) {
            throw new IllegalArgumentException("need C ≥ 1 and an odd kernel size, got " + channels + ", " + kernelSize);
        }
        if (!(Math.log(initialWeight) >= MIN_LOG_WEIGHT && Math.log(initialWeight) <= MAX_LOG_WEIGHT)) {
            throw new IllegalArgumentException("initial weight " + initialWeight + " out of range");
        }
        this.channels = channels;
        this.kernelSize = kernelSize;
        this.initialWeight = initialWeight;
    }

    public int kernelSize() {
        return kernelSize;
    }

    @Override
    public String type() {
        return "filters";
    }

    @Override
    public int numParams() {
        return channels * kernelSize * kernelSize + channels;
    }

    @Override
    public String paramName(int i) {
        int kk = kernelSize * kernelSize;
        if (i < channels * kk) {
            int c = i / kk;
            int j = i % kk;
            return "w[" + c + "][" + j / kernelSize + "," + j % kernelSize + "]";
        }
        return "log_weight[" + (i - channels * kk) + "]";
    }

    @Override
    public int channels() {
        return channels;
    }

    /** Zero-mean Gaussian filters of unit ℓ2 norm and the initial weight λ_c (deterministic for the seed). */
    @Override
    public double[] initialTheta(long seed) {
        Random r = new Random(seed);
        int kk = kernelSize * kernelSize;
        double[] theta = new double[numParams()];
        for (int c = 0; c < channels; c++) {
            double mean = 0;
            for (int j = 0; j < kk; j++) {
                theta[c * kk + j] = r.nextGaussian();
                mean += theta[c * kk + j] / kk;
            }
            double n2 = 0;
            for (int j = 0; j < kk; j++) {
                theta[c * kk + j] -= kk > 1 ? mean : 0;
                n2 += theta[c * kk + j] * theta[c * kk + j];
            }
            double n = Math.sqrt(n2);
            for (int j = 0; j < kk; j++) {
                theta[c * kk + j] /= n > 0 ? n : 1;
            }
            theta[channels * kk + c] = Math.log(initialWeight);
        }
        return theta;
    }

    /** Filters are unconstrained; log-weights are clamped to [MIN_LOG_WEIGHT, MAX_LOG_WEIGHT]. */
    @Override
    public double[] project(double[] theta) {
        double[] t = theta.clone();
        for (int i = channels * kernelSize * kernelSize; i < t.length; i++) {
            t[i] = Math.max(MIN_LOG_WEIGHT, Math.min(MAX_LOG_WEIGHT, t[i]));
        }
        return t;
    }

    /** √‖Σ_c (λ_c w_c) ⊛ (λ_c w_c)‖₁ (proof in the class comment; independent of the image size). */
    @Override
    public Bound normBound(double[] theta) {
        checkLength(theta);
        return Bound.certified(Math.sqrt(autocorrelationL1(effective(theta))));
    }

    /** √(λ_max² k² + max_c λ_c²‖w_c‖₁²) (proof in the class comment; independent of the image size). */
    @Override
    public Bound parameterGradientBound(double[] theta) {
        checkLength(theta);
        return Bound.certified(gamma(theta, effective(theta)));
    }

    /** The filters w_c (without their weights λ_c). */
    @Override
    public java.util.List<double[][]> filters(double[] theta) {
        checkLength(theta);
        java.util.List<double[][]> out = new java.util.ArrayList<>();
        int k = kernelSize;
        for (int c = 0; c < channels; c++) {
            double[][] f = new double[k][k];
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    f[a][b] = theta[c * k * k + a * k + b];
                }
            }
            out.add(f);
        }
        return out;
    }

    private void checkLength(double[] theta) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
    }

    /** λ_c w_c, row-major [C, k²]. */
    private double[] effective(double[] theta) {
        int kk = kernelSize * kernelSize;
        double[] e = new double[channels * kk];
        for (int c = 0; c < channels; c++) {
            double lambda = Math.exp(theta[channels * kk + c]);
            for (int j = 0; j < kk; j++) {
                e[c * kk + j] = lambda * theta[c * kk + j];
            }
        }
        return e;
    }

    private double gamma(double[] theta, double[] effective) {
        int kk = kernelSize * kernelSize;
        double lambdaMax = 0;
        double maxL1 = 0;
        for (int c = 0; c < channels; c++) {
            lambdaMax = Math.max(lambdaMax, Math.exp(theta[channels * kk + c]));
            double l1 = 0;
            for (int j = 0; j < kk; j++) {
                l1 += Math.abs(effective[c * kk + j]);
            }
            maxL1 = Math.max(maxL1, l1);
        }
        return Math.sqrt(lambdaMax * lambdaMax * kk + maxL1 * maxL1);
    }

    /** ‖Σ_c e_c ⊛ e_c‖₁ for the effective filters e. */
    private double autocorrelationL1(double[] effective) {
        int k = kernelSize;
        int kk = k * k;
        int span = 2 * k - 1;
        double[] r = new double[span * span];
        for (int c = 0; c < channels; c++) {
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    double wab = effective[c * kk + a * k + b];
                    for (int a2 = 0; a2 < k; a2++) {
                        for (int b2 = 0; b2 < k; b2++) {
                            r[(a2 - a + k - 1) * span + (b2 - b + k - 1)] += wab * effective[c * kk + a2 * k + b2];
                        }
                    }
                }
            }
        }
        double s = 0;
        for (double v : r) {
            s += Math.abs(v);
        }
        return s;
    }

    @Override
    public Instance bind(double[] theta, long[] imageShape, DataType dataType) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        return new FiltersInstance(theta.clone(), imageShape, dataType);
    }

    private final class FiltersInstance implements Instance {
        private final double[] theta;
        private final long[] dualShape;
        private final Conv2d conv;
        private final INDArray weights;         // [C, k²], effective λ_c w_c
        private final INDArray weightGradient;  // [C, k²]
        private final double[] effective;       // λ_c w_c, row-major
        private final double[] lambda;
        private final Bound norm;
        private final Bound gamma;

        FiltersInstance(double[] theta, long[] imageShape, DataType dataType) {
            this.theta = theta;
            int h = (int) imageShape[0];
            int w = (int) imageShape[1];
            int kk = kernelSize * kernelSize;
            this.dualShape = new long[]{channels, h, w};
            this.lambda = new double[channels];
            this.effective = effective(theta);
            for (int c = 0; c < channels; c++) {
                lambda[c] = Math.exp(theta[channels * kk + c]);
            }
            this.conv = new Conv2d(1, channels, kernelSize, h, w, dataType);
            try (INDArray w64 = Nd4j.create(effective, new long[]{channels, kk}, DataType.DOUBLE)) {
                this.weights = w64.castTo(dataType).dup('c');
            }
            this.weightGradient = Nd4j.create(dataType, channels, kk);
            this.norm = Bound.certified(Math.sqrt(autocorrelationL1(effective)));
            this.gamma = Bound.certified(gamma(theta, effective));
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public long[] dualShape() {
            return dualShape.clone();
        }

        @Override
        public void apply(INDArray x, INDArray out) {
            conv.forward(weights, x, out);
        }

        @Override
        public void adjoint(INDArray v, INDArray out) {
            conv.adjoint(weights, v, out);
        }

        @Override
        public Bound normBound() {
            return norm;
        }

        /**
         * With G = ∂/∂W_eff ⟨v, Conv_{W_eff} x⟩ ({@link Conv2d#weightGradient}) and W_eff,c = λ_c w_c:
         * ∂/∂w_c = λ_c G_c and ∂/∂ℓ_c = ⟨W_eff,c, G_c⟩ (chain rule).
         */
        @Override
        public void accumulateParameterGradient(INDArray x, INDArray v, double scale, double[] out) {
            conv.weightGradient(x, v, weightGradient, 0.0);
            double[] g = weightGradient.data().asDouble();
            int kk = kernelSize * kernelSize;
            for (int c = 0; c < channels; c++) {
                double dl = 0;
                for (int j = 0; j < kk; j++) {
                    double gj = g[c * kk + j];
                    out[c * kk + j] += scale * lambda[c] * gj;
                    dl += effective[c * kk + j] * gj;
                }
                out[channels * kk + c] += scale * dl;
            }
        }

        @Override
        public Bound parameterGradientBound() {
            return gamma;
        }

        @Override
        public void close() {
            conv.close();
            weights.close();
            weightGradient.close();
        }
    }
}
