package bilevel.numerics.regularizers;

import bilevel.numerics.conv.Conv2d;
import bilevel.numerics.conv.ConvNorms;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.api.ops.impl.transforms.same.Abs;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Log1p;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Tanh;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;

/**
 * Convex ridge regularizer (type "crr"), after Goujon, Neumayer, Bohra, Unser, "A neural-network-based convex
 * regularizer for inverse problems" (CRR-NN, IEEE TCI 2023), with a smooth profile:
 *
 * <pre>
 *   R_θ(x) = Σ_c Σ_p ψ_c((W x)_{c,p}),      W = W_L ∘ … ∘ W_1,
 *   ψ_c(t) = α_c δ_c² log cosh(t / δ_c),    α_c = e^{a_c},  δ_c = e^{b_c},
 * </pre>
 * where W_l is a {@link Conv2d} from c_{l−1} to c_l channels (c_0 = 1, c_L = C) with k×k kernels and no
 * nonlinearity in between, so W is one linear multi-channel convolution. Default: channels 1 → 8 → 32, k = 5.
 *
 * <p><b>Parameters</b> θ = [w_1, …, w_L, a_1..a_C, b_1..b_C]; w_l holds w_l[o, i, a, b] at
 * ((o·c_{l−1} + i)·k + a)·k + b (the row-major layout of the Conv2d weight matrix).
 *
 * <p><b>Profile.</b> With u = t/δ: ψ'(t) = αδ tanh u, ψ''(t) = α sech²u ∈ (0, α], ψ'''(t) = −(2α/δ) sech²u tanh u.
 * Writing s = tanh u ∈ (−1, 1), |sech²u tanh u| = |s − s³| ≤ 2/(3√3) (maximum at s² = 1/3), hence
 * <b>sup|ψ_c'''| = L3_c := 4α_c / (3√3 δ_c)</b> and ψ_c'' is L3_c-Lipschitz. ψ_c is a smooth Huber function: ≈ α t²/2
 * for |t| ≪ δ and ≈ αδ|t| − αδ² log 2 for |t| ≫ δ. The value is evaluated stably as
 * log cosh u = |u| + log1p(e^{−2|u|}) − log 2.
 *
 * <p><b>Derivatives.</b> With y = Wx: ∇R = Wᵀψ'(y), ∇²R v = Wᵀ(ψ''(y) ⊙ Wv). For the mixed derivative let
 * x_l = W_l⋯W_1 x, q_l = W_l⋯W_1 q (x_0 = x, q_0 = q, y = x_L, z = q_L) and pair P(θ) = ⟨∇R, q⟩ = ⟨ψ'(y), z⟩:
 * <ul>
 *   <li>∂P/∂a_c = Σ_p ψ'_c(y_{c,p}) z_{c,p} (since ∂ψ'/∂a = ψ');</li>
 *   <li>∂P/∂b_c = Σ_p φ_c(y_{c,p}) z_{c,p} with φ_c(t) = ∂ψ'_c(t)/∂b_c = α_c δ_c (tanh u − u sech²u);</li>
 *   <li>∂P/∂w_l = G_l(x_{l−1}, B_l(ψ''(y) ⊙ z)) + G_l(q_{l−1}, B_l ψ'(y)), where B_l = W_{l+1}ᵀ⋯W_Lᵀ and
 *       G_l(u, r) = ∂⟨r, W_l u⟩/∂w_l is {@link Conv2d#weightGradient}: differentiating dP = ⟨ψ''(y) ⊙ z, dy⟩ + ⟨ψ'(y), dz⟩
 *       with dy = W_{>l} dW_l x_{l−1} and dz = W_{>l} dW_l q_{l−1}.</li>
 * </ul>
 *
 * <p><b>Norms.</b> β_l = {@link ConvNorms#spectralBound} (Schur test, proven there) ≥ ‖W_l‖₂, and
 * N = Π_l β_l ≥ ‖W‖₂ (submultiplicativity); N_{&lt;l} = Π_{j&lt;l} β_j, N_{&gt;l} = Π_{j&gt;l} β_j. Further certified
 * quantities: A := β(diag(α) W_L)·N_{&lt;L} ≥ ‖diag(α) W‖ and Γ := β(diag(√α) W_L)·N_{&lt;L} ≥ ‖diag(√α) W‖ (diag acts on
 * the output channels; β of a row-scaled layer by the same Schur test); G_l := (β(diag(√α) W_L)·Π_{l&lt;j&lt;L} β_j)² for
 * l &lt; L and G_L := max_c α_c, so that ‖W_{&gt;l}ᵀ diag(α) W_{&gt;l}‖ = ‖diag(√α) W_{&gt;l}‖² ≤ G_l; ρ_c := ‖w_L[c,·,·,·]‖₂, so
 * that |(W_L u)_{c,p}| ≤ ρ_c ‖u‖₂ (ConvNorms Lemma 4); Λ₃ := max_c L3_c ρ_c.
 *
 * <p><b>Feasible set and {@link #project}.</b> Θ = {θ : β_l(w_l) ≤ 1 for every layer l}, which implies the
 * certified bound N ≥ ‖W‖ is ≤ 1; a_c, b_c are free. {@code project} rescales each layer with β_l &gt; 1 by 1/β_l
 * (β_l is positively homogeneous, so the result has β_l = 1). This is a retraction onto Θ — it maps into Θ, fixes
 * Θ pointwise and is therefore idempotent — but it is <em>not</em> the Euclidean projection onto Θ (that has no
 * closed form for the Schur bound). The constants of an {@link Instance} are computed from the actual β_l of the
 * bound θ, so they stay valid for infeasible θ (finite-difference perturbations).
 */
public final class ConvexRidge implements Regularizer, LearnedStructure {

    /** Noise level 25/255 for which {@link #initialTheta} is tuned (images in [0, 1]). */
    public static final double INIT_NOISE_LEVEL = 25.0 / 255.0;
    /** Overall strength α₀ of the initial profiles, see {@link #initialTheta}. */
    public static final double INIT_STRENGTH = 1.0;

    private static final double LOG2 = Math.log(2);
    /** sup_u |sech²u · tanh u| = 2/(3√3). */
    private static final double SECH2_TANH_MAX = 2 / (3 * Math.sqrt(3));
    /** A proven upper bound on sup_u 2u·tanh u·sech²u, see {@link Inst#mixedLipschitz(double)}: 2/e. */
    private static final double PHI_SLOPE_MAX = 2 / Math.E;

    private final int[] channels;
    private final int k;
    private final int layers;
    private final int numChannels;
    private final int[] weightOffset;
    private final int aOffset;
    private final int bOffset;
    private final int numParams;

    /** The default CRR: channels 1 → 8 → 32, 5×5 kernels. */
    public ConvexRidge() {
        this(new int[]{1, 8, 32}, 5);
    }

    /**
     * @param channels c_0 = 1, c_1, …, c_L (L ≥ 1 layers); copied
     * @param kernelSize odd kernel size k
     */
    public ConvexRidge(int[] channels, int kernelSize) {
        if (channels.length < 2 || channels[0] != 1) {
            throw new IllegalArgumentException("channels must start with 1 and have at least one layer: " + Arrays.toString(channels));
        }
        for (int c : channels) {
            if (c < 1) {
                throw new IllegalArgumentException("channel counts must be positive: " + Arrays.toString(channels));
            }
        }
        if (kernelSize < 1 || kernelSize % 2 == 0) {
            throw new IllegalArgumentException("kernel size must be odd and positive, got " + kernelSize);
        }
        this.channels = channels.clone();
        this.k = kernelSize;
        this.layers = channels.length - 1;
        this.numChannels = channels[layers];
        this.weightOffset = new int[layers + 1];
        for (int l = 0; l < layers; l++) {
            weightOffset[l + 1] = weightOffset[l] + channels[l + 1] * channels[l] * k * k;
        }
        this.aOffset = weightOffset[layers];
        this.bOffset = aOffset + numChannels;
        this.numParams = bOffset + numChannels;
    }

    @Override
    public String type() {
        return "crr";
    }

    @Override
    public int numParams() {
        return numParams;
    }

    /** Channel counts c_0..c_L (a copy). */
    public int[] channels() {
        return channels.clone();
    }

    public int kernelSize() {
        return k;
    }

    /** The first layer's filters w₁[o, 0] (s×s each). */
    @Override
    public java.util.List<double[][]> filters(double[] theta) {
        java.util.List<double[][]> out = new java.util.ArrayList<>();
        for (int o = 0; o < channels[1]; o++) {
            double[][] f = new double[k][k];
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    f[a][b] = theta[weightOffset[0] + (o * channels[0] * k + a) * k + b];
                }
            }
            out.add(f);
        }
        return out;
    }

    /** The learned activations ψ_c'(t) = e^{a_c} δ_c tanh(t/δ_c) of the output channels, on t ∈ [−0.5, 0.5]. */
    @Override
    public java.util.List<Profile> profiles(double[] theta) {
        java.util.List<Profile> out = new java.util.ArrayList<>();
        int n = 101;
        int outChannels = channels[channels.length - 1];
        for (int c = 0; c < outChannels; c++) {
            double scale = Math.exp(theta[aOffset + c]);
            double delta = Math.exp(theta[bOffset + c]);
            double[] t = new double[n];
            double[] v = new double[n];
            for (int i = 0; i < n; i++) {
                t[i] = -0.5 + i / (double) (n - 1);
                v[i] = scale * delta * Math.tanh(t[i] / delta);
            }
            out.add(new Profile("activation ψ'_" + c, t, v));
        }
        return out;
    }

    @Override
    public String paramName(int i) {
        if (i < 0 || i >= numParams) {
            throw new IndexOutOfBoundsException(i);
        }
        if (i >= bOffset) {
            return "b[" + (i - bOffset) + "]";
        }
        if (i >= aOffset) {
            return "a[" + (i - aOffset) + "]";
        }
        int l = 0;
        while (i >= weightOffset[l + 1]) {
            l++;
        }
        int r = i - weightOffset[l];
        int b = r % k;
        r /= k;
        int a = r % k;
        r /= k;
        int in = r % channels[l];
        int o = r / channels[l];
        return "w" + (l + 1) + "[" + o + "," + in + "," + a + "," + b + "]";
    }

    /**
     * A feasible start that denoises images in [0, 1] at noise level σ = 25/255:
     * <ul>
     *   <li>weights: i.i.d. N(0, 1), the first layer's kernels made zero-mean (so W annihilates constants and the
     *       regularizer does not pull the image towards 0), then each layer rescaled to β_l = 1;</li>
     *   <li>with h_c the composite kernel of output channel c (the k_eff×k_eff kernel of W on ℤ², k_eff = L(k−1)+1),
     *       so that the response of channel c to white noise of level σ has standard deviation σ‖h_c‖₂:
     *       <b>δ_c = σ‖h_c‖₂</b> (the profile turns from quadratic to linear at the noise level of its response) and
     *       <b>α_c = α₀ / (C‖h_c‖₂²)</b> with α₀ = {@value #INIT_STRENGTH} (the quadratic part ½Σ_c α_c‖h_c ⋆ n‖² of R on pure
     *       noise n then has expectation α₀·σ²·HW/2, balancing the data term ½‖n‖²);</li>
     *   <li>a_c = log α_c, b_c = log δ_c.</li>
     * </ul>
     */
    @Override
    public double[] initialTheta(long seed) {
        Random random = new Random(seed);
        double[] theta = new double[numParams];
        for (int i = 0; i < aOffset; i++) {
            theta[i] = random.nextGaussian();
        }
        int kk = k * k;
        for (int o = 0; o < channels[1]; o++) {
            double mean = 0;
            for (int j = 0; j < kk; j++) {
                mean += theta[o * kk + j];
            }
            mean /= kk;
            for (int j = 0; j < kk; j++) {
                theta[o * kk + j] -= mean;
            }
        }
        theta = project(theta);
        double[] h2 = compositeKernelSquaredNorms(theta);
        for (int c = 0; c < numChannels; c++) {
            double hn2 = Math.max(h2[c], 1e-12);
            theta[aOffset + c] = Math.log(INIT_STRENGTH / (numChannels * hn2));
            theta[bOffset + c] = Math.log(INIT_NOISE_LEVEL * Math.sqrt(hn2));
        }
        return theta;
    }

    /**
     * ‖h_c‖₂² for the composite kernel h_c of W on ℤ² (without boundary effects): composing correlations with kernels
     * u and w gives a correlation with the full convolution (u ∗ w)[A] = Σ_{a+a'=A} u[a] w[a'].
     */
    double[] compositeKernelSquaredNorms(double[] theta) {
        // h[c] : composite kernel from the input to channel c of the current layer, size s×s
        int s = 1;
        double[][] h = {{1.0}};
        for (int l = 0; l < layers; l++) {
            int cin = channels[l];
            int cout = channels[l + 1];
            int ns = s + k - 1;
            double[][] nh = new double[cout][ns * ns];
            for (int o = 0; o < cout; o++) {
                for (int i = 0; i < cin; i++) {
                    int base = weightOffset[l] + (o * cin + i) * k * k;
                    for (int a = 0; a < k; a++) {
                        for (int b = 0; b < k; b++) {
                            double w = theta[base + a * k + b];
                            if (w == 0) {
                                continue;
                            }
                            for (int r = 0; r < s; r++) {
                                for (int c = 0; c < s; c++) {
                                    nh[o][(r + a) * ns + c + b] += w * h[i][r * s + c];
                                }
                            }
                        }
                    }
                }
            }
            h = nh;
            s = ns;
        }
        double[] norms = new double[numChannels];
        for (int c = 0; c < numChannels; c++) {
            double sum = 0;
            for (double v : h[c]) {
                sum += v * v;
            }
            norms[c] = sum;
        }
        return norms;
    }

    /** β_l for every layer (ConvNorms Lemma 2). */
    double[] layerBounds(double[] theta) {
        double[] beta = new double[layers];
        for (int l = 0; l < layers; l++) {
            beta[l] = ConvNorms.spectralBound(theta, weightOffset[l], channels[l + 1], channels[l], k);
        }
        return beta;
    }

    /** Rescales every layer with β_l &gt; 1 to β_l = 1 (a retraction onto Θ, not the Euclidean projection; see class doc). */
    @Override
    public double[] project(double[] theta) {
        checkLength(theta);
        double[] p = theta.clone();
        double[] beta = layerBounds(theta);
        for (int l = 0; l < layers; l++) {
            if (beta[l] > 1) {
                double f = 1 / beta[l];
                for (int i = weightOffset[l]; i < weightOffset[l + 1]; i++) {
                    p[i] *= f;
                }
            }
        }
        return p;
    }

    private void checkLength(double[] theta) {
        if (theta.length != numParams) {
            throw new IllegalArgumentException("expected " + numParams + " parameters, got " + theta.length);
        }
    }

    /** GEMM flops of one forward pass through all layers on n pixels. */
    private double forwardFlops(double n) {
        double f = 0;
        for (int l = 0; l < layers; l++) {
            f += 2.0 * channels[l + 1] * channels[l] * k * k * n;
        }
        return f;
    }

    /** GEMM flops plus col2im additions of one adjoint pass through all layers on n pixels. */
    private double adjointFlops(double n) {
        double f = 0;
        for (int l = 0; l < layers; l++) {
            f += 2.0 * channels[l + 1] * channels[l] * k * k * n + (double) channels[l] * k * k * n;
        }
        return f;
    }

    /**
     * Forward and adjoint GEMMs (2 flops per multiply-add), col2im additions, and 3 flops per response for ψ'
     * (scale, tanh counted as one, scale).
     */
    @Override
    public double gradientFlops(long height, long width) {
        double n = (double) height * width;
        return forwardFlops(n) + adjointFlops(n) + 3.0 * numChannels * n;
    }

    /** Two forward passes (x and v), one adjoint pass, and 6 flops per response for ψ''(y) ⊙ Wv. */
    @Override
    public double hessianVectorFlops(long height, long width) {
        double n = (double) height * width;
        return 2 * forwardFlops(n) + adjointFlops(n) + 6.0 * numChannels * n;
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        checkLength(theta);
        return new Inst(theta.clone(), dataType);
    }

    /**
     * A bound instance. Besides the {@link Regularizer.Instance} methods it offers {@link #mixedLipschitz(double)},
     * the mixed Lipschitz constant on a ball (the global one is infinite, see {@link #mixedLipschitz()}).
     */
    public final class Inst implements Instance {
        private final double[] theta;
        private final DataType dataType;
        private final INDArray[] weights;     // weights[l] : [c_{l+1}, c_l·k²]
        private final INDArray invDelta;      // [C, 1] : 1/δ_c
        private final INDArray deltaCol;      // [C, 1] : δ_c
        private final INDArray alphaCol;      // [C, 1] : α_c
        private final INDArray alphaDelta;    // [C, 1] : α_c δ_c
        private final INDArray alphaDelta2;   // [C, 1] : α_c δ_c²
        private final double[] beta;          // β_l
        private final double normW;           // N
        private final double[] normBefore;    // N_{<l} (index l = 0..L-1 for layer l+1)
        private final double[] normAfter;     // N_{>l}
        private final double boundAlphaW;     // A ≥ ‖diag(α) W‖
        private final double boundSqrtAlphaW; // Γ ≥ ‖diag(√α) W‖
        private final double[] tailGram;      // G_l ≥ ‖W_{>l}ᵀ diag(α) W_{>l}‖
        private final double lambda3;         // Λ₃ = max_c L3_c ρ_c
        private final double alphaMax;
        private Workspace ws;

        private Inst(double[] theta, DataType dataType) {
            this.theta = theta;
            this.dataType = dataType;
            int kk = k * k;
            this.weights = new INDArray[layers];
            for (int l = 0; l < layers; l++) {
                double[] w = Arrays.copyOfRange(theta, weightOffset[l], weightOffset[l + 1]);
                weights[l] = Nd4j.create(w, new long[]{channels[l + 1], (long) channels[l] * kk}, dataType);
            }
            double[] alpha = new double[numChannels];
            double[] sqrtAlpha = new double[numChannels];
            double[] dl = new double[numChannels];
            double[] id = new double[numChannels];
            double[] ad = new double[numChannels];
            double[] ad2 = new double[numChannels];
            double am = 0;
            for (int c = 0; c < numChannels; c++) {
                alpha[c] = Math.exp(theta[aOffset + c]);
                double delta = Math.exp(theta[bOffset + c]);
                sqrtAlpha[c] = Math.sqrt(alpha[c]);
                dl[c] = delta;
                id[c] = 1 / delta;
                ad[c] = alpha[c] * delta;
                ad2[c] = alpha[c] * delta * delta;
                am = Math.max(am, alpha[c]);
            }
            this.alphaMax = am;
            long[] col = {numChannels, 1};
            this.invDelta = Nd4j.create(id, col, dataType);
            this.deltaCol = Nd4j.create(dl, col, dataType);
            this.alphaCol = Nd4j.create(alpha, col, dataType);
            this.alphaDelta = Nd4j.create(ad, col, dataType);
            this.alphaDelta2 = Nd4j.create(ad2, col, dataType);

            this.beta = layerBounds(theta);
            this.normBefore = new double[layers];
            this.normAfter = new double[layers];
            double prod = 1;
            for (int l = 0; l < layers; l++) {
                normBefore[l] = prod;
                prod *= beta[l];
            }
            this.normW = prod;
            prod = 1;
            for (int l = layers - 1; l >= 0; l--) {
                normAfter[l] = prod;
                prod *= beta[l];
            }
            int last = layers - 1;
            int cLast = channels[last];
            double betaAlphaLast = ConvNorms.spectralBound(theta, weightOffset[last], numChannels, cLast, k, alpha);
            double betaSqrtAlphaLast = ConvNorms.spectralBound(theta, weightOffset[last], numChannels, cLast, k, sqrtAlpha);
            this.boundAlphaW = betaAlphaLast * normBefore[last];
            this.boundSqrtAlphaW = betaSqrtAlphaLast * normBefore[last];
            this.tailGram = new double[layers];
            for (int l = 0; l < layers; l++) {
                if (l == last) {
                    tailGram[l] = am;
                } else {
                    double g = betaSqrtAlphaLast;
                    for (int j = l + 1; j < last; j++) {
                        g *= beta[j];
                    }
                    tailGram[l] = g * g;
                }
            }
            double[] rho = ConvNorms.outputChannelL2(theta, weightOffset[last], numChannels, cLast, k);
            double l3 = 0;
            for (int c = 0; c < numChannels; c++) {
                l3 = Math.max(l3, 2 * SECH2_TANH_MAX * alpha[c] * id[c] * rho[c]);
            }
            this.lambda3 = l3;
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        private Workspace workspace(INDArray x) {
            if (x.rank() != 2) {
                throw new IllegalArgumentException("expected an [H, W] image, got shape " + Arrays.toString(x.shape()));
            }
            int h = (int) x.size(0);
            int w = (int) x.size(1);
            if (ws == null || ws.height != h || ws.width != w) {
                if (ws != null) {
                    ws.close();
                }
                ws = new Workspace(h, w);
            }
            return ws;
        }

        /** fwd[l] ← W_l ⋯ W_1 x for l = 1..L (fwd[0] is unused; x is read directly). */
        private void forward(Workspace s, INDArray x, INDArray[] fwd) {
            INDArray cur = x;
            for (int l = 0; l < layers; l++) {
                s.conv[l].forward(weights[l], cur, fwd[l + 1]);
                cur = fwd[l + 1];
            }
        }

        /** s.image ← W_1ᵀ ⋯ W_Lᵀ r (r has C channels and is not modified; uses s.back as scratch). */
        private void backward(Workspace s, INDArray r) {
            INDArray cur = r;
            for (int l = layers - 1; l >= 0; l--) {
                INDArray dst = l == 0 ? s.image : s.back[l];
                s.conv[l].adjoint(weights[l], cur, dst);
                cur = dst;
            }
        }

        /** s.u ← y/δ (per channel), s.t ← tanh(y/δ), for y = s.fwd[L]. */
        private void scaledTanh(Workspace s) {
            s.u.assign(s.fwd[layers]);
            s.u2.muliColumnVector(invDelta);
            Nd4j.exec(new Tanh(s.u, s.t));
        }

        /** s.p1 ← ψ'(y) = αδ tanh(y/δ); requires {@link #scaledTanh}. */
        private void firstDerivative(Workspace s) {
            s.p1.assign(s.t);
            s.p12.muliColumnVector(alphaDelta);
        }

        /** s.p2 ← ψ''(y) = α(1 − tanh²(y/δ)); requires {@link #scaledTanh}. */
        private void secondDerivative(Workspace s) {
            s.p2.assign(s.t).muli(s.t).rsubi(1.0);
            s.p22.muliColumnVector(alphaCol);
        }

        @Override
        public double value(INDArray x) {
            Workspace s = workspace(x);
            forward(s, x, s.fwd);
            scaledTanh(s);
            // log cosh u = |u| + log1p(exp(−2|u|)) − log 2
            Nd4j.exec(new Abs(s.u, s.p1));
            s.p2.assign(s.p1).muli(-2.0);
            Nd4j.exec(new Exp(s.p2, s.p2));
            Nd4j.exec(new Log1p(s.p2, s.p2));
            s.p1.addi(s.p2).subi(LOG2);
            s.p12.muliColumnVector(alphaDelta2);
            Nd4j.exec(new Sum(s.p12, s.channelSums, 1));
            double v = 0;
            for (int c = 0; c < numChannels; c++) {
                v += s.channelSums.getDouble(c);
            }
            return v;
        }

        /** out ← Wᵀψ'(Wx). Modifies only {@code out} (and this instance's buffers). */
        @Override
        public void gradient(INDArray x, INDArray out) {
            Workspace s = workspace(x);
            forward(s, x, s.fwd);
            scaledTanh(s);
            firstDerivative(s);
            backward(s, s.p1);
            out.assign(s.image2d);
        }

        /** out ← Wᵀ(ψ''(Wx) ⊙ Wv). Modifies only {@code out} (and this instance's buffers). */
        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            Workspace s = workspace(x);
            forward(s, x, s.fwd);
            scaledTanh(s);
            secondDerivative(s);
            forward(s, v, s.tan);
            s.p2.muli(s.tan[layers]);
            backward(s, s.p2);
            out.assign(s.image2d);
        }

        /** See the class documentation for the formulas. Modifies nothing but this instance's buffers. */
        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace s = workspace(x);
            forward(s, x, s.fwd);
            forward(s, q, s.tan);
            INDArray z = s.tan[layers];
            scaledTanh(s);
            firstDerivative(s);
            secondDerivative(s);
            double[] out = new double[numParams];
            // a_c : Σ_p ψ'_c z
            s.r.assign(s.p1).muli(z);
            Nd4j.exec(new Sum(s.r2, s.channelSums, 1));
            for (int c = 0; c < numChannels; c++) {
                out[aOffset + c] = s.channelSums.getDouble(c);
            }
            // b_c : Σ_p αδ (tanh u − u sech²u) z, with α sech²u = ψ''
            s.r.assign(s.u).muli(s.p2);
            s.r2.muliColumnVector(deltaCol);
            s.r.rsubi(s.p1).muli(z);
            Nd4j.exec(new Sum(s.r2, s.channelSums, 1));
            for (int c = 0; c < numChannels; c++) {
                out[bOffset + c] = s.channelSums.getDouble(c);
            }
            // weights: G_l(x_{l−1}, B_l(ψ'' ⊙ z)) + G_l(q_{l−1}, B_l ψ')
            s.r.assign(s.p2).muli(z);
            weightPass(s, s.r, x, s.fwd, 0.0);
            weightPass(s, s.p1, q, s.tan, 1.0);
            for (int l = 0; l < layers; l++) {
                INDArray g = s.weightGrad[l];
                int off = weightOffset[l];
                long len = g.length();
                for (long j = 0; j < len; j++) {
                    out[off + (int) j] = g.getDouble(j);
                }
            }
            return out;
        }

        /**
         * weightGrad[l] ← weightGrad[l]·betaAcc + G_l(in_{l−1}, B_l r) for all l, where in_0 = input and
         * in_l = acts[l]. r (C channels) is not modified.
         */
        private void weightPass(Workspace s, INDArray r, INDArray input, INDArray[] acts, double betaAcc) {
            INDArray cur = r;
            for (int l = layers - 1; l >= 0; l--) {
                INDArray in = l == 0 ? input : acts[l];
                s.conv[l].weightGradient(in, cur, s.weightGrad[l], betaAcc);
                if (l > 0) {
                    s.conv[l].adjoint(weights[l], cur, s.back[l]);
                    cur = s.back[l];
                }
            }
        }

        /** Certified 0: ∇²R = Wᵀ diag(ψ''(Wx)) W ⪰ 0 because ψ'' &gt; 0. */
        @Override
        public Bound convexityModulus() {
            return Bound.certified(0);
        }

        /**
         * Certified Γ² ≥ ‖diag(√α) W‖²: since 0 ≼ diag(ψ''(y)) ≼ diag(α) (per output channel),
         * 0 ≼ ∇²R ≼ Wᵀ diag(α) W and ‖Wᵀ diag(α) W‖ = ‖diag(√α) W‖² ≤ β(diag(√α) W_L)² N_{&lt;L}² ≤ max_c α_c · N².
         */
        @Override
        public Bound gradientLipschitz() {
            return Bound.certified(boundSqrtAlphaW * boundSqrtAlphaW);
        }

        /**
         * Certified N²·Λ₃·N_{&lt;L}: ∇²R(x) − ∇²R(x') = Wᵀ diag(ψ''(y) − ψ''(y')) W, so its norm is at most
         * ‖W‖² max_{c,p} |ψ_c''(y_{c,p}) − ψ_c''(y'_{c,p})| ≤ N² max_{c,p} L3_c |Δy_{c,p}|, and
         * |Δy_{c,p}| = |(W_L Δx_{L−1})_{c,p}| ≤ ρ_c ‖Δx_{L−1}‖₂ ≤ ρ_c N_{&lt;L} ‖x − x'‖ (ConvNorms Lemma 4), with
         * L3_c = 4α_c/(3√3 δ_c) = sup|ψ_c'''| (class doc).
         */
        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(normW * normW * lambda3 * normBefore[layers - 1]);
        }

        /**
         * Certified +∞: no finite global constant exists. The weight columns contain the term
         * Wᵀ diag(ψ''(Wx)) W_{&gt;l} dW_l x_{l−1}, whose x-derivative contains diag(ψ'''(y) ⊙ W_{&gt;l} dW_l x_{l−1}) W; a
         * response y_{c,p} and the entry (W_{&gt;l} dW_l x_{l−1})_{c,p} are (generically) linearly independent functions of
         * x, so one can hold y_{c,p} where ψ''' ≠ 0 while the other grows without bound. Use
         * {@link #mixedLipschitz(double)} for images in a ball.
         */
        @Override
        public Bound mixedLipschitz() {
            return mixedLipschitz(Double.POSITIVE_INFINITY);
        }

        /**
         * Certified L_J(ρ) with ‖∂θ∇R(x) − ∂θ∇R(x')‖₂ ≤ L_J(ρ)‖x − x'‖ for all ‖x‖, ‖x'‖ ≤ ρ.
         *
         * <p>The column blocks (a, b, w_1..w_L) are bounded separately and combined as √(Σ L_B²): for
         * J = [J_1 … J_m], ‖Ju‖ ≤ Σ_B ‖J_B‖‖u_B‖ ≤ (Σ_B ‖J_B‖²)^{1/2} ‖u‖. Write Δ = ‖x − x'‖, y' = Wx', x'_l = W_l⋯W_1 x'.
         * <ul>
         *   <li>a: J_a(x)u = Wᵀ(u ⊙ ψ'(y)) (u_c broadcast over channel c), so ‖(J_a(x) − J_a(x'))u‖ ≤
         *       N ‖u ⊙ (ψ'(y) − ψ'(y'))‖ ≤ N ‖u‖ ‖diag(α)(y − y')‖ ≤ N·A·Δ‖u‖ (|ψ_c''| ≤ α_c, ‖u ⊙ v‖ ≤ ‖u‖_∞‖v‖).
         *       <b>L_a = N·A.</b></li>
         *   <li>b: J_b(x)u = Wᵀ(u ⊙ φ(y)) with φ_c'(t) = α_c g(t/δ_c), g(u) = 2u tanh u sech²u. Since
         *       sinh u/cosh²u ≤ 1/2 (⇔ (sinh u − 1)² ≥ 0) and |u|/cosh u ≤ 2|u|e^{−|u|} ≤ 2/e, |g| ≤ 2/e, so φ_c is
         *       (2/e)α_c-Lipschitz. <b>L_b = (2/e)·N·A.</b> (Also sup|tanh u − u sech²u| = 1, its derivative being g ≥ 0 on u ≥ 0.)</li>
         *   <li>w_l: J_{w_l}(x)dw = W_{&lt;l}ᵀ dW_lᵀ W_{&gt;l}ᵀ ψ'(y) + Wᵀ diag(ψ''(y)) W_{&gt;l} dW_l x_{l−1}, with ‖dW_l‖ ≤ k‖dw‖
         *       (ConvNorms Lemma 5). The difference splits into
         *       W_{&lt;l}ᵀ dW_lᵀ W_{&gt;l}ᵀ(ψ'(y) − ψ'(y')) [≤ N_{&lt;l} k N_{&gt;l} A Δ],
         *       Wᵀ diag(ψ''(y)) W_{&gt;l} dW_l (x_{l−1} − x'_{l−1}) [≤ N_{&lt;l} G_l k N_{&lt;l} Δ, using
         *       ‖W_{&gt;l}ᵀ diag(ψ'') W_{&gt;l}‖ ≤ ‖W_{&gt;l}ᵀ diag(α) W_{&gt;l}‖ ≤ G_l], and
         *       Wᵀ diag(ψ''(y) − ψ''(y')) W_{&gt;l} dW_l x'_{l−1} [≤ N·Λ₃N_{&lt;L}Δ·N_{&gt;l} k N_{&lt;l} ρ, see {@link #hessianLipschitz()}].
         *       <b>L_{w_l} = k(N_{&lt;l}N_{&gt;l}A + N_{&lt;l}²G_l + N N_{&gt;l} N_{&lt;l} Λ₃ N_{&lt;L} ρ).</b></li>
         * </ul>
         *
         * @param radius ρ ≥ 0 (may be +∞, giving +∞ unless the ρ-coefficient vanishes)
         */
        @Override
        public Bound mixedLipschitz(double radius) {
            double la = normW * boundAlphaW;
            double lb = PHI_SLOPE_MAX * normW * boundAlphaW;
            double sum = la * la + lb * lb;
            int last = layers - 1;
            for (int l = 0; l < layers; l++) {
                double c0 = k * (normBefore[l] * normAfter[l] * boundAlphaW + normBefore[l] * normBefore[l] * tailGram[l]);
                double c1 = k * normW * normAfter[l] * normBefore[l] * lambda3 * normBefore[last];
                double lw = c1 == 0 ? c0 : c0 + c1 * radius;
                sum += lw * lw;
            }
            return Bound.certified(Math.sqrt(sum));
        }

        /**
         * Certified bound on ‖∂θ∇R(x)‖₂, combining column blocks as in {@link #mixedLipschitz(double)}:
         * ‖J_a‖ ≤ N max_c ‖ψ_c'(y_c)‖₂, ‖J_b‖ ≤ N max_c ‖φ_c(y_c)‖₂ and, for the first form of J_{w_l} there,
         * ‖J_{w_l}‖ ≤ k N_{&lt;l}(‖r_l‖ + G_l ‖x_{l−1}‖) with r_l = W_{&gt;l}ᵀψ'(y) (norms evaluated exactly at x).
         * Allocates a few scalars (not a hot path).
         */
        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace s = workspace(x);
            forward(s, x, s.fwd);
            scaledTanh(s);
            firstDerivative(s);
            secondDerivative(s);
            double maxPsi1 = maxChannelNorm(s, s.p1);
            s.r.assign(s.u).muli(s.p2);
            s.r2.muliColumnVector(deltaCol);
            s.r.rsubi(s.p1);
            double maxPhi = maxChannelNorm(s, s.r);
            double sum = Math.pow(normW * maxPsi1, 2) + Math.pow(normW * maxPhi, 2);
            INDArray cur = s.p1;
            for (int l = layers - 1; l >= 0; l--) {
                double rNorm = cur.norm2Number().doubleValue();
                double xNorm = (l == 0 ? x : s.fwd[l]).norm2Number().doubleValue();
                double jw = k * normBefore[l] * (rNorm + tailGram[l] * xNorm);
                sum += jw * jw;
                if (l > 0) {
                    s.conv[l].adjoint(weights[l], cur, s.back[l]);
                    cur = s.back[l];
                }
            }
            return Bound.certified(Math.sqrt(sum));
        }

        /** max_c ‖a_c‖₂ for a C-channel buffer a (overwrites s.sq). */
        private double maxChannelNorm(Workspace s, INDArray a) {
            s.sq.assign(a).muli(a);
            Nd4j.exec(new Sum(s.sq2, s.channelSums, 1));
            double m = 0;
            for (int c = 0; c < numChannels; c++) {
                m = Math.max(m, s.channelSums.getDouble(c));
            }
            return Math.sqrt(m);
        }

        @Override
        public void close() {
            if (ws != null) {
                ws.close();
                ws = null;
            }
            for (INDArray w : weights) {
                w.close();
            }
            invDelta.close();
            deltaCol.close();
            alphaCol.close();
            alphaDelta.close();
            alphaDelta2.close();
        }

        /** Buffers for one image size. */
        private final class Workspace implements AutoCloseable {
            final int height;
            final int width;
            final Conv2d[] conv;         // forward and weightGradient
            final INDArray[] fwd;        // fwd[l] : [c_l, H, W], l = 1..L
            final INDArray[] tan;        // tangent activations
            final INDArray[] back;       // back[l] : [c_l, H, W], l = 1..L−1
            final INDArray[] weightGrad; // [c_{l+1}, c_l k²]
            final INDArray image;        // [1, H, W]
            final INDArray image2d;      // [H, W] view
            final INDArray u, t, p1, p2, r, sq;      // [C, H, W]
            final INDArray u2, p12, p22, r2, sq2;    // [C, H·W] views
            final INDArray channelSums;  // [C]

            Workspace(int height, int width) {
                this.height = height;
                this.width = width;
                long n = (long) height * width;
                conv = new Conv2d[layers];
                fwd = new INDArray[layers + 1];
                tan = new INDArray[layers + 1];
                back = new INDArray[layers];
                weightGrad = new INDArray[layers];
                for (int l = 0; l < layers; l++) {
                    conv[l] = new Conv2d(channels[l], channels[l + 1], k, height, width, dataType);
                    fwd[l + 1] = Nd4j.create(dataType, channels[l + 1], height, width);
                    tan[l + 1] = Nd4j.create(dataType, channels[l + 1], height, width);
                    if (l > 0) {
                        back[l] = Nd4j.create(dataType, channels[l], height, width);
                    }
                    weightGrad[l] = Nd4j.create(dataType, channels[l + 1], (long) channels[l] * k * k);
                }
                image = Nd4j.create(dataType, 1, height, width);
                image2d = image.reshape('c', height, width);
                u = Nd4j.create(dataType, numChannels, height, width);
                t = Nd4j.create(dataType, numChannels, height, width);
                p1 = Nd4j.create(dataType, numChannels, height, width);
                p2 = Nd4j.create(dataType, numChannels, height, width);
                r = Nd4j.create(dataType, numChannels, height, width);
                sq = Nd4j.create(dataType, numChannels, height, width);
                u2 = u.reshape('c', numChannels, n);
                p12 = p1.reshape('c', numChannels, n);
                p22 = p2.reshape('c', numChannels, n);
                r2 = r.reshape('c', numChannels, n);
                sq2 = sq.reshape('c', numChannels, n);
                channelSums = Nd4j.create(dataType, numChannels);
            }

            @Override
            public void close() {
                for (int l = 0; l < layers; l++) {
                    conv[l].close();
                    fwd[l + 1].close();
                    tan[l + 1].close();
                    if (back[l] != null) {
                        back[l].close();
                    }
                    weightGrad[l].close();
                }
                image.close();
                u.close();
                t.close();
                p1.close();
                p2.close();
                r.close();
                sq.close();
                channelSums.close();
            }
        }
    }
}
