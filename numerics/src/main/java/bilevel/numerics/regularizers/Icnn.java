package bilevel.numerics.regularizers;

import bilevel.numerics.conv.Conv2d;
import bilevel.numerics.conv.ConvNorms;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.same.Sum;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.api.ops.impl.transforms.same.Abs;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Log1p;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Sigmoid;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.Random;

/**
 * Input-convex neural network regularizer (type "icnn"), after Amos, Xu, Kolter, "Input convex neural networks"
 * (ICML 2017), with two convolutional layers of C channels and k×k kernels (default C = 32, k = 5):
 *
 * <pre>
 *   p₁ = W₁ x + b₁,            z₁ = σ(p₁)          (W₁ : 1 → C, any sign; b₁ ∈ ℝ^C per channel)
 *   p₂ = W₂ z₁ + V x + b₂,     z₂ = σ(p₂)          (W₂ : C → C with W₂ ≥ 0;  V : 1 → C, any sign)
 *   R_θ(x) = e^s Σ_{c,p} z₂(c, p)
 * </pre>
 * with the softplus σ(t) = log(1 + e^{βt})/β of fixed sharpness β (default {@value #DEFAULT_SHARPNESS}). No quadratic
 * term is added: R is convex, not strongly convex.
 *
 * <p><b>Activation.</b> σ'(t) = S(βt) ∈ (0, 1) with the logistic S, σ''(t) = βS(1 − S) ∈ (0, β/4],
 * σ'''(t) = β²S(1 − S)(1 − 2S). With S = ½ + d, |S(1 − S)(1 − 2S)| = 2|d|(¼ − d²) ≤ 1/(6√3) (maximum at d² = 1/12),
 * so κ₁ := sup σ' = 1, κ₂ := sup σ'' = β/4, κ₃ := sup|σ'''| = β²/(6√3). Also 0 &lt; σ(t) ≤ |t| + (log 2)/β. Values
 * are computed stably as σ(t) = (max(βt, 0) + log1p(e^{−|βt|}))/β.
 *
 * <p><b>Convexity (proof).</b> Each p₁(c, p) is affine in x, so z₁ = σ(p₁) is convex (σ convex). Each entry of W₂z₁ is
 * a combination of entries of z₁ (and zeros from the padding) with non-negative weights, hence convex; adding the affine
 * V x + b₂ keeps p₂ convex. σ is convex and non-decreasing, so σ(p₂) is convex (for λ ∈ [0, 1],
 * σ(p₂(λx + (1−λ)x')) ≤ σ(λp₂(x) + (1−λ)p₂(x')) ≤ λσ(p₂(x)) + (1−λ)σ(p₂(x'))), and R is a positive multiple of a sum of
 * convex functions. ∎ Hence {@link #project} clips W₂ at 0 — which <em>is</em> the Euclidean projection onto
 * Θ = {W₂ ≥ 0} (a product of half-lines; the other parameters are free).
 *
 * <p><b>Parameters</b> θ = [W₁ (C·k²), b₁ (C), W₂ (C·C·k²), V (C·k²), b₂ (C), s], each weight block in the
 * row-major layout of the {@link Conv2d} weight matrix. Internally W₁ and V are stacked into one 1 → 2C convolution
 * A = [W₁; V], so one forward pass gives both W₁x and Vx, and one adjoint gives W₁ᵀa + Vᵀb.
 *
 * <p><b>Derivatives</b> (E = e^s, S₁ = σ'(p₁), D₁ = σ''(p₁), g₂ = σ'(p₂), D₂ = σ''(p₂), ⊙ entrywise):
 * <ul>
 *   <li>∇R = E(W₁ᵀg₁ + Vᵀg₂), g₁ = S₁ ⊙ h₂, h₂ = W₂ᵀg₂ (backpropagation);</li>
 *   <li>∇²R v = E(W₁ᵀġ₁ + Vᵀġ₂) with ṗ₁ = W₁v, ṗ₂ = W₂(S₁ ⊙ ṗ₁) + Vv, ġ₂ = D₂ ⊙ ṗ₂,
 *       ġ₁ = D₁ ⊙ ṗ₁ ⊙ h₂ + S₁ ⊙ W₂ᵀġ₂ (forward-over-reverse); equivalently
 *       ∇²R = E[W₁ᵀ diag(D₁ ⊙ h₂) W₁ + Jᵀ diag(D₂) J] with J = ∂p₂/∂x = W₂ diag(S₁) W₁ + V;</li>
 *   <li>mixed: ⟨∇R, q⟩ = Ṙ is the derivative of R along q, computed by the tangent pass q̇₁ = W₁q, ż₁ = S₁ ⊙ q̇₁,
 *       ṗ₂ = W₂ż₁ + Vq, Ṙ = E⟨g₂, ṗ₂⟩, and differentiated in θ by reverse mode through both passes:
 *       ∂s = Ṙ; adjoints λ̇₂ = E g₂ (of ṗ₂), λ₂ = E D₂ ⊙ ṗ₂ (of p₂), λ̇₁ = S₁ ⊙ W₂ᵀλ̇₂ (of q̇₁),
 *       λ₁ = S₁ ⊙ W₂ᵀλ₂ + D₁ ⊙ q̇₁ ⊙ W₂ᵀλ̇₂ (of p₁); then ∂W₂ = G(ż₁, λ̇₂) + G(z₁, λ₂), ∂V = G(q, λ̇₂) + G(x, λ₂),
 *       ∂W₁ = G(q, λ̇₁) + G(x, λ₁), ∂b₂ = Σ_p λ₂, ∂b₁ = Σ_p λ₁, with G = {@link Conv2d#weightGradient}.</li>
 * </ul>
 *
 * <p><b>Norm quantities</b> (all certified, from {@link ConvNorms}, valid for any sign of the weights): n₁, n₂, n_V the
 * Schur bounds of W₁, W₂, V (ℓ²→ℓ²); n_J := n₂n₁ + n_V ≥ ‖J‖ (as ‖S₁‖ ≤ 1); r₁, r_V, r₂ ≥ ‖W₁‖, ‖V‖, ‖W₂‖ as maps ℓ²→ℓ∞
 * (largest output-channel ℓ² norm) and r₂ᵀ ≥ ‖W₂ᵀ‖_{2→∞}; c₂ := largest column sum ≥ ‖W₂ᵀ‖_{∞→∞} and m₂ := largest
 * row sum ≥ ‖W₂‖_{∞→∞}; r_J := r₂n₁ + r_V. Consequences for Δ = ‖x − x'‖ (primes: values at x'):
 * ‖Δp₁‖ ≤ n₁Δ, ‖Δp₁‖_∞ ≤ r₁Δ; ‖Δz₁‖ ≤ n₁Δ; ‖ΔS₁‖ ≤ κ₂n₁Δ, ‖ΔS₁‖_∞ ≤ κ₂r₁Δ; ‖ΔD₁‖ ≤ κ₃n₁Δ, ‖ΔD₁‖_∞ ≤ κ₃r₁Δ;
 * ‖Δp₂‖ ≤ n_JΔ, ‖Δp₂‖_∞ ≤ r_JΔ; ‖Δg₂‖ ≤ κ₂n_JΔ; ‖ΔD₂‖ ≤ κ₃n_JΔ, ‖ΔD₂‖_∞ ≤ κ₃r_JΔ; |g₂| ≤ 1, so ‖h₂‖_∞ ≤ c₂;
 * ‖Δh₂‖ ≤ n₂κ₂n_JΔ and ‖Δh₂‖_∞ ≤ min(r₂ᵀκ₂n_J, c₂κ₂r_J)Δ; ‖ΔJ‖ = ‖W₂ diag(ΔS₁) W₁‖ ≤ n₂n₁κ₂r₁Δ;
 * H∞ := κ₃r₁c₂ + κ₂ min(r₂ᵀκ₂n_J, c₂κ₂r_J) ≥ ‖Δ(D₁ ⊙ h₂)‖_∞/Δ. For a weight perturbation dw of a layer,
 * ‖dW‖₂ ≤ k‖dw‖ and ‖dW‖_{∞→∞}, ‖dWᵀ‖_{∞→∞} ≤ k√C‖dw‖ for the C → C layer (ConvNorms Lemma 5). A per-channel
 * parameter vector u ∈ ℝ^C broadcast over pixels satisfies ‖a ⊙ u‖ ≤ ‖a‖‖u‖_∞ ≤ ‖a‖‖u‖ and ‖a ⊙ u‖ ≤ max_c‖a_c‖·‖u‖.
 */
public final class Icnn implements Regularizer, LearnedStructure {

    /** Default softplus sharpness β: the activation bends over |t| ≲ 1/β = 0.1, about the noise level of a unit filter. */
    public static final double DEFAULT_SHARPNESS = 10.0;
    /** Noise level 25/255 for which {@link #initialTheta} is tuned (images in [0, 1]). */
    public static final double INIT_NOISE_LEVEL = 25.0 / 255.0;
    /** Initial log-scale s of {@link #initialTheta}: e^s = 0.01 (see there). */
    public static final double INIT_LOG_SCALE = Math.log(0.01);

    private final int c;
    private final int k;
    private final double beta;
    private final double kappa2;
    private final double kappa3;
    private final int offW1;
    private final int offB1;
    private final int offW2;
    private final int offV;
    private final int offB2;
    private final int offS;
    private final int numParams;

    /** The default ICNN: 32 channels, 5×5 kernels, β = {@value #DEFAULT_SHARPNESS}. */
    public Icnn() {
        this(32, 5, DEFAULT_SHARPNESS);
    }

    /**
     * @param channels C ≥ 1
     * @param kernelSize odd k
     * @param sharpness softplus sharpness β &gt; 0
     */
    public Icnn(int channels, int kernelSize, double sharpness) {
        if (channels < 1) {
            throw new IllegalArgumentException("channels must be positive, got " + channels);
        }
        if (kernelSize < 1 || kernelSize % 2 == 0) {
            throw new IllegalArgumentException("kernel size must be odd and positive, got " + kernelSize);
        }
        if (!(sharpness > 0) || Double.isInfinite(sharpness)) {
            throw new IllegalArgumentException("sharpness must be positive and finite, got " + sharpness);
        }
        this.c = channels;
        this.k = kernelSize;
        this.beta = sharpness;
        this.kappa2 = sharpness / 4;
        this.kappa3 = sharpness * sharpness / (6 * Math.sqrt(3));
        int kk = k * k;
        this.offW1 = 0;
        this.offB1 = offW1 + c * kk;
        this.offW2 = offB1 + c;
        this.offV = offW2 + c * c * kk;
        this.offB2 = offV + c * kk;
        this.offS = offB2 + c;
        this.numParams = offS + 1;
    }

    @Override
    public String type() {
        return "icnn";
    }

    @Override
    public int numParams() {
        return numParams;
    }

    public int channels() {
        return c;
    }

    public int kernelSize() {
        return k;
    }

    public double sharpness() {
        return beta;
    }

    /** Index of the first entry of W₂ in θ (its C·C·k² entries are the constrained ones). */
    public int w2Offset() {
        return offW2;
    }

    /** The first layer's filters W₁[c] (k×k each). */
    @Override
    public java.util.List<double[][]> filters(double[] theta) {
        java.util.List<double[][]> out = new java.util.ArrayList<>();
        for (int o = 0; o < c; o++) {
            double[][] f = new double[k][k];
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    f[a][b] = theta[offW1 + (o * k + a) * k + b];
                }
            }
            out.add(f);
        }
        return out;
    }

    @Override
    public String paramName(int i) {
        if (i < 0 || i >= numParams) {
            throw new IndexOutOfBoundsException(i);
        }
        int kk = k * k;
        if (i == offS) {
            return "s";
        }
        if (i >= offB2) {
            return "b2[" + (i - offB2) + "]";
        }
        if (i >= offV) {
            int r = i - offV;
            return "V[" + r / kk + "," + (r % kk) / k + "," + r % k + "]";
        }
        if (i >= offW2) {
            int r = i - offW2;
            return "W2[" + r / (c * kk) + "," + (r / kk) % c + "," + (r % kk) / k + "," + r % k + "]";
        }
        if (i >= offB1) {
            return "b1[" + (i - offB1) + "]";
        }
        return "W1[" + i / kk + "," + (i % kk) / k + "," + i % k + "]";
    }

    /**
     * A feasible start behaving like a smoothed total variation over random zero-mean filters:
     * <ul>
     *   <li>W₁: channels in pairs (h_j, −h_j) with h_j i.i.d. N(0, 1) taps made zero-mean and scaled to ‖h_j‖₂ = 1
     *       (an odd last channel gets its own such filter), so σ(h⋆x) + σ(−h⋆x) ≈ |h⋆x| smoothed over |h⋆x| ≲ 1/β,
     *       and responses to noise of level σ = 25/255 have standard deviation σ ≈ 1/β;</li>
     *   <li>b₁ = 0, V = 0, b₂ = 0;</li>
     *   <li>W₂: centre tap 1 on the diagonal (o = i) plus i.i.d. Uniform(0, 10⁻³) on every tap (non-negative);</li>
     *   <li>s = log 0.01 ({@link #INIT_LOG_SCALE}; the best of e^s ∈ {0.0025, 0.005, 0.01, 0.02} for gradient descent on
     *       ½‖x − y‖² + R on a piecewise-constant test image at σ = 25/255, which it takes from rms error 0.098 to
     *       about 0.074; see IcnnTest).</li>
     * </ul>
     */
    @Override
    public double[] initialTheta(long seed) {
        Random random = new Random(seed);
        double[] theta = new double[numParams];
        int kk = k * k;
        double[] h = new double[kk];
        for (int o = 0; o < c; o++) {
            if (o % 2 == 0) {
                double mean = 0;
                for (int j = 0; j < kk; j++) {
                    h[j] = random.nextGaussian();
                    mean += h[j];
                }
                mean /= kk;
                double norm = 0;
                for (int j = 0; j < kk; j++) {
                    h[j] -= mean;
                    norm += h[j] * h[j];
                }
                norm = Math.sqrt(norm);
                for (int j = 0; j < kk; j++) {
                    h[j] = norm > 0 ? h[j] / norm : 0;
                }
            }
            double sign = o % 2 == 0 ? 1 : -1;
            for (int j = 0; j < kk; j++) {
                theta[offW1 + o * kk + j] = sign * h[j];
            }
        }
        int centre = (k / 2) * k + k / 2;
        for (int o = 0; o < c; o++) {
            for (int i = 0; i < c; i++) {
                for (int j = 0; j < kk; j++) {
                    theta[offW2 + (o * c + i) * kk + j] = 1e-3 * random.nextDouble();
                }
            }
            theta[offW2 + (o * c + o) * kk + centre] += 1.0;
        }
        theta[offS] = INIT_LOG_SCALE;
        return theta;
    }

    /** Clips W₂ at 0 (the Euclidean projection onto Θ = {W₂ ≥ 0}); other entries unchanged. */
    @Override
    public double[] project(double[] theta) {
        checkLength(theta);
        double[] p = theta.clone();
        for (int i = offW2; i < offV; i++) {
            if (p[i] < 0) {
                p[i] = 0;
            }
        }
        return p;
    }

    private void checkLength(double[] theta) {
        if (theta.length != numParams) {
            throw new IllegalArgumentException("expected " + numParams + " parameters, got " + theta.length);
        }
    }

    private double convA(double n, boolean adjoint) {
        return 2.0 * 2 * c * k * k * n + (adjoint ? (double) k * k * n : 0);
    }

    private double convB(double n, boolean adjoint) {
        return 2.0 * c * c * k * k * n + (adjoint ? (double) c * k * k * n : 0);
    }

    /**
     * GEMM flops (2 per multiply-add) of A x, W₂z₁, W₂ᵀg₂, Aᵀ[g₁; g₂], col2im additions, and about 20 flops per
     * hidden unit for the activations and their derivatives (transcendentals counted as one flop).
     */
    @Override
    public double gradientFlops(long height, long width) {
        double n = (double) height * width;
        return convA(n, false) + convB(n, false) + convB(n, true) + convA(n, true) + 20.0 * c * n;
    }

    /** As {@link #gradientFlops} plus the tangent pass (A v, W₂ż₁, W₂ᵀġ₂) and about 10 more flops per hidden unit. */
    @Override
    public double hessianVectorFlops(long height, long width) {
        double n = (double) height * width;
        return 2 * convA(n, false) + 2 * convB(n, false) + 2 * convB(n, true) + convA(n, true) + 30.0 * c * n;
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
        private final INDArray weightsA;   // [2C, k²] = [W₁; V]
        private final INDArray weightsB;   // [C, C·k²] = W₂
        private final INDArray bias1;      // [C, 1]
        private final INDArray bias2;      // [C, 1]
        private final double scale;        // E = e^s
        private final boolean w2NonNegative;
        private final double n1, n2, nV, nJ, r1, rV, r2, r2t, c2, m2, rJ, hInf, maxAbsB1;
        private Workspace ws;

        private Inst(double[] theta, DataType dataType) {
            this.theta = theta;
            this.dataType = dataType;
            int kk = k * k;
            double[] a = new double[2 * c * kk];
            System.arraycopy(theta, offW1, a, 0, c * kk);
            System.arraycopy(theta, offV, a, c * kk, c * kk);
            this.weightsA = Nd4j.create(a, new long[]{2L * c, kk}, dataType);
            this.weightsB = Nd4j.create(Arrays.copyOfRange(theta, offW2, offV), new long[]{c, (long) c * kk}, dataType);
            this.bias1 = Nd4j.create(Arrays.copyOfRange(theta, offB1, offB1 + c), new long[]{c, 1}, dataType);
            this.bias2 = Nd4j.create(Arrays.copyOfRange(theta, offB2, offB2 + c), new long[]{c, 1}, dataType);
            this.scale = Math.exp(theta[offS]);
            boolean nonNeg = true;
            for (int i = offW2; i < offV; i++) {
                nonNeg &= theta[i] >= 0;
            }
            this.w2NonNegative = nonNeg;
            n1 = ConvNorms.spectralBound(theta, offW1, c, 1, k);
            n2 = ConvNorms.spectralBound(theta, offW2, c, c, k);
            nV = ConvNorms.spectralBound(theta, offV, c, 1, k);
            nJ = n2 * n1 + nV;
            r1 = ConvNorms.maxOutputChannelL2(theta, offW1, c, 1, k);
            rV = ConvNorms.maxOutputChannelL2(theta, offV, c, 1, k);
            r2 = ConvNorms.maxOutputChannelL2(theta, offW2, c, c, k);
            r2t = ConvNorms.maxInputChannelL2(theta, offW2, c, c, k);
            c2 = ConvNorms.maxColumnSum(theta, offW2, c, c, k);
            m2 = ConvNorms.maxRowSum(theta, offW2, c, c, k);
            rJ = r2 * n1 + rV;
            hInf = kappa3 * r1 * c2 + kappa2 * Math.min(r2t * kappa2 * nJ, c2 * kappa2 * rJ);
            double mb = 0;
            for (int i = offB1; i < offB1 + c; i++) {
                mb = Math.max(mb, Math.abs(theta[i]));
            }
            maxAbsB1 = mb;
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

        /** out ← σ(p) (entrywise; out and p are [C, n] and distinct; s.tmp is scratch). */
        private void softplus(Workspace s, INDArray p, INDArray out) {
            s.tmp.assign(p).muli(beta);
            Nd4j.exec(new Abs(s.tmp, out));
            out.muli(-1.0);
            Nd4j.exec(new Exp(out, out));
            Nd4j.exec(new Log1p(out, out));
            Nd4j.exec(new RectifiedLinear(s.tmp, s.tmp, 0.0));
            out.addi(s.tmp).muli(1.0 / beta);
        }

        /** out ← σ'(p) = S(βp). */
        private void softplusDerivative(Workspace s, INDArray p, INDArray out) {
            s.tmp.assign(p).muli(beta);
            Nd4j.exec(new Sigmoid(s.tmp, out));
        }

        /** out ← σ''(p) = β S(1 − S) from S = σ'(p). */
        private void softplusSecond(INDArray sig, INDArray out) {
            out.assign(sig).rsubi(1.0).muli(sig).muli(beta);
        }

        /**
         * Forward pass at x: pre = A x, p₁ (+b₁), z₁, p₂; S₁, g₂ = σ'(p₂); with {@code second} also D₁ and D₂.
         */
        private void forward(Workspace s, INDArray x, boolean second) {
            s.convA.forward(weightsA, x, s.pre);
            s.p1.addiColumnVector(bias1);
            softplus(s, s.p1, s.z1m);
            s.convB.forward(weightsB, s.z1, s.p2);
            s.p2m.addi(s.vx).addiColumnVector(bias2);
            softplusDerivative(s, s.p1, s.s1);
            softplusDerivative(s, s.p2m, s.g2m);
            if (second) {
                softplusSecond(s.s1, s.d1);
                softplusSecond(s.g2m, s.d2);
            }
        }

        /** After {@link #forward}: h₂ = W₂ᵀg₂, stacked ← [S₁ ⊙ h₂; g₂], image ← Aᵀ stacked (without the factor E). */
        private void backward(Workspace s) {
            s.convB.adjoint(weightsB, s.g2, s.h2);
            s.stackTop.assign(s.s1).muli(s.h2m);
            s.stackBottom.assign(s.g2m);
            s.convA.adjoint(weightsA, s.stack, s.image);
        }

        @Override
        public double value(INDArray x) {
            Workspace s = workspace(x);
            forward(s, x, false);
            softplus(s, s.p2m, s.t1);
            Nd4j.exec(new Sum(s.t1, s.channelSums, 1));
            double v = 0;
            for (int i = 0; i < c; i++) {
                v += s.channelSums.getDouble(i);
            }
            return scale * v;
        }

        /** out ← ∇R(x) by backpropagation. Modifies only {@code out} (and this instance's buffers). */
        @Override
        public void gradient(INDArray x, INDArray out) {
            Workspace s = workspace(x);
            forward(s, x, false);
            backward(s);
            s.image.muli(scale);
            out.assign(s.image2d);
        }

        /** out ← ∇²R(x) v by forward-over-reverse (class doc). Modifies only {@code out} (and this instance's buffers). */
        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            Workspace s = workspace(x);
            forward(s, x, true);
            s.convB.adjoint(weightsB, s.g2, s.h2);
            // tangent: ṗ₁ = W₁v, Vv ; ż₁ = S₁ ⊙ ṗ₁ ; ṗ₂ = W₂ż₁ + Vv ; ġ₂ = D₂ ⊙ ṗ₂ ; ḣ₂ = W₂ᵀġ₂
            s.convA.forward(weightsA, v, s.tpre);
            s.tz1m.assign(s.s1).muli(s.tp1);
            s.convB.forward(weightsB, s.tz1, s.tp2);
            s.tp2m.addi(s.tvx).muli(s.d2);
            s.convB.adjoint(weightsB, s.tp2, s.th2);
            // ġ₁ = D₁ ⊙ ṗ₁ ⊙ h₂ + S₁ ⊙ ḣ₂
            s.stackTop.assign(s.d1).muli(s.tp1).muli(s.h2m);
            s.t1.assign(s.s1).muli(s.th2m);
            s.stackTop.addi(s.t1);
            s.stackBottom.assign(s.tp2m);
            s.convA.adjoint(weightsA, s.stack, s.image);
            s.image.muli(scale);
            out.assign(s.image2d);
        }

        /** (∂θ∇R(x))ᵀq by reverse mode over the tangent pass along q (class doc). Modifies only this instance's buffers. */
        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace s = workspace(x);
            forward(s, x, true);
            double[] out = new double[numParams];
            // tangent along q: q̇₁ = W₁q (tp1), Vq (tvx), ż₁ = S₁ ⊙ q̇₁ (tz1), ṗ₂ = W₂ż₁ + Vq (tp2)
            s.convA.forward(weightsA, q, s.tpre);
            s.tz1m.assign(s.s1).muli(s.tp1);
            s.convB.forward(weightsB, s.tz1, s.tp2);
            s.tp2m.addi(s.tvx);
            // ∂s = Ṙ = E⟨g₂, ṗ₂⟩
            s.t1.assign(s.g2m).muli(s.tp2m);
            out[offS] = scale * sumAll(s, s.t1);
            // λ̇₂ = E g₂ (in h2 buffer's partner lg2dot), λ₂ = E D₂ ⊙ ṗ₂
            s.lambdaDot2m.assign(s.g2m).muli(scale);
            s.lambda2m.assign(s.d2).muli(s.tp2m).muli(scale);
            Nd4j.exec(new Sum(s.lambda2m, s.channelSums, 1));
            for (int i = 0; i < c; i++) {
                out[offB2 + i] = s.channelSums.getDouble(i);
            }
            // ∂W₂ = G(ż₁, λ̇₂) + G(z₁, λ₂)
            s.convB.weightGradient(s.tz1, s.lambdaDot2, s.gradB, 0.0);
            s.convB.weightGradient(s.z1, s.lambda2, s.gradB, 1.0);
            // W₂ᵀλ̇₂ (th2), W₂ᵀλ₂ (h2)
            s.convB.adjoint(weightsB, s.lambdaDot2, s.th2);
            s.convB.adjoint(weightsB, s.lambda2, s.h2);
            // λ₁ = S₁ ⊙ W₂ᵀλ₂ + D₁ ⊙ q̇₁ ⊙ W₂ᵀλ̇₂ (top of stack), λ̇₁ = S₁ ⊙ W₂ᵀλ̇₂ (top of tstack)
            s.stackTop.assign(s.s1).muli(s.h2m);
            s.t1.assign(s.d1).muli(s.tp1).muli(s.th2m);
            s.stackTop.addi(s.t1);
            s.stackBottom.assign(s.lambda2m);
            s.tstackTop.assign(s.s1).muli(s.th2m);
            s.tstackBottom.assign(s.lambdaDot2m);
            Nd4j.exec(new Sum(s.stackTop, s.channelSums, 1));
            for (int i = 0; i < c; i++) {
                out[offB1 + i] = s.channelSums.getDouble(i);
            }
            // [∂W₁; ∂V] = G(x, [λ₁; λ₂]) + G(q, [λ̇₁; λ̇₂])
            s.convA.weightGradient(x, s.stack, s.gradA, 0.0);
            s.convA.weightGradient(q, s.tstack, s.gradA, 1.0);
            int kk = k * k;
            for (int o = 0; o < c; o++) {
                for (int j = 0; j < kk; j++) {
                    out[offW1 + o * kk + j] = s.gradA.getDouble(o, j);
                    out[offV + o * kk + j] = s.gradA.getDouble(c + o, j);
                }
            }
            long lenB = s.gradB.length();
            for (long j = 0; j < lenB; j++) {
                out[offW2 + (int) j] = s.gradB.getDouble(j);
            }
            return out;
        }

        private double sumAll(Workspace s, INDArray a) {
            Nd4j.exec(new Sum(a, s.channelSums, 1));
            double v = 0;
            for (int i = 0; i < c; i++) {
                v += s.channelSums.getDouble(i);
            }
            return v;
        }

        /**
         * Certified 0 when W₂ ≥ 0 (convexity proof in the class doc; the Hessian E[W₁ᵀdiag(D₁ ⊙ h₂)W₁ + JᵀD₂J] is then
         * PSD because h₂ = W₂ᵀg₂ ≥ 0). For an infeasible θ with a negative W₂ entry R need not be convex: estimated 0.
         */
        @Override
        public Bound convexityModulus() {
            return w2NonNegative ? Bound.certified(0) : Bound.estimated(0);
        }

        /**
         * Certified E κ₂ (n₁² c₂ + n_J²): ‖∇²R‖ ≤ E(‖W₁‖²‖D₁ ⊙ h₂‖_∞ + ‖J‖²‖D₂‖_∞) with ‖D₁ ⊙ h₂‖_∞ ≤ κ₂c₂ and
         * ‖D₂‖_∞ ≤ κ₂ (holds for any sign of W₂).
         */
        @Override
        public Bound gradientLipschitz() {
            return Bound.certified(scale * kappa2 * (n1 * n1 * c2 + nJ * nJ));
        }

        /**
         * Certified E(n₁²H∞ + 2κ₂²n_J n₂n₁r₁ + κ₃n_J²r_J). With ∇²R = E[W₁ᵀ diag(D₁ ⊙ h₂) W₁ + Jᵀ D₂ J]:
         * ‖W₁ᵀ diag(Δ(D₁ ⊙ h₂)) W₁‖ ≤ n₁² H∞ Δ and
         * JᵀD₂J − J'ᵀD₂'J' = ΔJᵀD₂J + J'ᵀ(ΔD₂)J + J'ᵀD₂'ΔJ with ‖ΔJ‖ ≤ n₂n₁κ₂r₁Δ, ‖ΔD₂‖ ≤ κ₃r_JΔ,
         * ‖J‖, ‖J'‖ ≤ n_J, ‖D₂‖ ≤ κ₂ (notation in the class doc).
         */
        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(scale * (n1 * n1 * hInf + 2 * kappa2 * kappa2 * nJ * n2 * n1 * r1 + kappa3 * nJ * nJ * rJ));
        }

        /**
         * Certified +∞: the W₁, W₂ and V columns are not globally Lipschitz in x. E.g. the V column contains
         * Jᵀ(D₂ ⊙ dV x), whose x-derivative contains Jᵀ diag(σ'''(p₂) ⊙ dV x) ∂p₂/∂x; p₂(c, p) and (dV x)(c, p) are
         * independent linear functionals of x (for generic dV), so σ'''(p₂) ≠ 0 can be held while dV x grows. Use
         * {@link #mixedLipschitz(double)}.
         */
        @Override
        public Bound mixedLipschitz() {
            return mixedLipschitz(Double.POSITIVE_INFINITY);
        }

        /**
         * Certified L_J(ρ): ‖∂θ∇R(x) − ∂θ∇R(x')‖₂ ≤ L_J(ρ)‖x − x'‖ for ‖x‖, ‖x'‖ ≤ ρ. Column blocks combined as
         * √(Σ_B L_B²) (‖Ju‖ ≤ Σ_B‖J_B‖‖u_B‖ ≤ (Σ_B‖J_B‖²)^{1/2}‖u‖). Each block's difference is split by
         * f g − f'g' = (Δf) g + f' (Δg) and bounded with the table in the class doc, always putting the ℓ∞ norm on the
         * factor that is not a difference (so no √(H·W) appears); ‖x‖ ≤ ρ, ‖dW x‖ ≤ kρ‖dw‖, and
         * ‖z₁‖_∞ ≤ Z∞ := r₁ρ + max|b₁| + (log 2)/β.
         * <ul>
         *   <li>s: J_s = ∇R, so L_s = {@link #gradientLipschitz()}.</li>
         *   <li>b₂: J u = E Jᵀ(D₂ ⊙ u) ⇒ L = E(n₁²κ₂²c₂ + n_J²κ₃) [ΔJᵀy = W₁ᵀ(ΔS₁ ⊙ W₂ᵀy) ≤ n₁‖ΔS₁‖‖W₂ᵀy‖_∞].</li>
         *   <li>b₁: J u = E[W₁ᵀ(D₁ ⊙ h₂ ⊙ u) + Jᵀ(D₂ ⊙ W₂(S₁ ⊙ u))] ⇒
         *       L = E[n₁(κ₃n₁c₂ + κ₂²n₂n_J) + n₁²κ₂²c₂m₂ + n_J²κ₃m₂ + n_Jκ₂²n₂n₁].</li>
         *   <li>V: J dV = E[dVᵀg₂ + Jᵀ(D₂ ⊙ dV x)] ⇒ L = E k[2κ₂n_J + ρ(n₂n₁κ₂²r₁ + n_Jκ₃r_J)].</li>
         *   <li>W₁: J dW = E[dWᵀg₁ + W₁ᵀ(D₁ ⊙ h₂ ⊙ dW x) + Jᵀ(D₂ ⊙ W₂(S₁ ⊙ dW x))] ⇒
         *       L = E k[κ₂n₁c₂ + κ₂n₂n_J + κ₂n₁c₂ + κ₂n₂n_J + ρ(n₁H∞ + n₂²n₁κ₂²r₁ + n_Jκ₃r_Jn₂ + n_Jκ₂²n₂r₁)]
         *       (‖Δg₁‖ ≤ κ₂n₁c₂ + n₂κ₂n_J).</li>
         *   <li>W₂: J dW = E[W₁ᵀ(S₁ ⊙ dWᵀg₂) + Jᵀ(D₂ ⊙ dW z₁)] ⇒
         *       L = E[kn₁κ₂(n₁√C + n_J) + k√C Z∞(n₁²κ₂²c₂ + n_J²κ₃) + kκ₂n_Jn₁] (‖dWᵀg₂‖_∞ ≤ k√C‖dw‖ as |g₂| ≤ 1).</li>
         * </ul>
         *
         * @param radius ρ ≥ 0 (may be +∞)
         */
        @Override
        public Bound mixedLipschitz(double radius) {
            double e = scale;
            double sqrtC = Math.sqrt(c);
            double ls = gradientLipschitz().value();
            double lb2 = e * (n1 * n1 * kappa2 * kappa2 * c2 + nJ * nJ * kappa3);
            double lb1 = e * (n1 * (kappa3 * n1 * c2 + kappa2 * kappa2 * n2 * nJ) + n1 * n1 * kappa2 * kappa2 * c2 * m2
                    + nJ * nJ * kappa3 * m2 + nJ * kappa2 * kappa2 * n2 * n1);
            double lv = e * k * (2 * kappa2 * nJ + times(radius, n2 * n1 * kappa2 * kappa2 * r1 + nJ * kappa3 * rJ));
            double lw1 = e * k * (2 * kappa2 * n1 * c2 + 2 * kappa2 * n2 * nJ
                    + times(radius, n1 * hInf + n2 * n2 * n1 * kappa2 * kappa2 * r1 + nJ * kappa3 * rJ * n2 + nJ * kappa2 * kappa2 * n2 * r1));
            double zInf = times(radius, r1) + maxAbsB1 + Math.log(2) / beta;
            double lw2 = e * (k * n1 * kappa2 * (n1 * sqrtC + nJ) + k * sqrtC * zInf * (n1 * n1 * kappa2 * kappa2 * c2 + nJ * nJ * kappa3)
                    + k * kappa2 * nJ * n1);
            double sum = ls * ls + lb2 * lb2 + lb1 * lb1 + lv * lv + lw1 * lw1 + lw2 * lw2;
            return Bound.certified(Math.sqrt(sum));
        }

        /** radius·coefficient with 0·∞ = 0. */
        private double times(double radius, double coefficient) {
            return coefficient == 0 ? 0 : radius * coefficient;
        }

        /**
         * Certified bound on ‖∂θ∇R(x)‖₂: √(Σ_B ‖J_B‖²) over the column blocks, with (values at x, notation of the class
         * doc) ‖J_s‖ = ‖∇R(x)‖; ‖J_{b₂}‖ ≤ E n_J max_c‖D₂,c‖; ‖J_{b₁}‖ ≤ E(n₁ max_c‖(D₁ ⊙ h₂)_c‖ + n_Jκ₂n₂ max_c‖S₁,c‖);
         * ‖J_V‖ ≤ E k(‖g₂‖ + n_Jκ₂‖x‖); ‖J_{W₁}‖ ≤ E k(‖g₁‖ + (n₁‖D₁ ⊙ h₂‖_∞ + n_Jκ₂n₂)‖x‖);
         * ‖J_{W₂}‖ ≤ E k(n₁‖g₂‖ + n_Jκ₂‖z₁‖) — from the block formulas of {@link #mixedLipschitz(double)}.
         * Allocates a few scalars (not a hot path).
         */
        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace s = workspace(x);
            forward(s, x, true);
            backward(s);
            double e = scale;
            double gradNorm = e * s.image.norm2Number().doubleValue();
            double maxD2 = maxChannelNorm(s, s.d2);
            s.t1.assign(s.d1).muli(s.h2m);
            double maxD1h2 = maxChannelNorm(s, s.t1);
            double supD1h2 = s.t1.amaxNumber().doubleValue();
            double maxS1 = maxChannelNorm(s, s.s1);
            double g1 = s.stackTop.norm2Number().doubleValue();
            double g2 = s.g2.norm2Number().doubleValue();
            double xn = x.norm2Number().doubleValue();
            double z1 = s.z1.norm2Number().doubleValue();
            double jb2 = e * nJ * maxD2;
            double jb1 = e * (n1 * maxD1h2 + nJ * kappa2 * n2 * maxS1);
            double jv = e * k * (g2 + nJ * kappa2 * xn);
            double jw1 = e * k * (g1 + (n1 * supD1h2 + nJ * kappa2 * n2) * xn);
            double jw2 = e * k * (n1 * g2 + nJ * kappa2 * z1);
            return Bound.certified(Math.sqrt(gradNorm * gradNorm + jb2 * jb2 + jb1 * jb1 + jv * jv + jw1 * jw1 + jw2 * jw2));
        }

        /** max_c ‖a_c‖₂ for a [C, n] array a (overwrites s.tmp). */
        private double maxChannelNorm(Workspace s, INDArray a) {
            s.tmp.assign(a).muli(a);
            Nd4j.exec(new Sum(s.tmp, s.channelSums, 1));
            double m = 0;
            for (int i = 0; i < c; i++) {
                m = Math.max(m, s.channelSums.getDouble(i));
            }
            return Math.sqrt(m);
        }

        @Override
        public void close() {
            if (ws != null) {
                ws.close();
                ws = null;
            }
            weightsA.close();
            weightsB.close();
            bias1.close();
            bias2.close();
        }

        /**
         * Buffers for one image size. Arrays passed to Conv2d as inputs/outputs are whole contiguous arrays; the
         * "…m" fields are their [C, H·W] reshaped views, and p1/vx, tp1/tvx, stackTop/stackBottom… are the two halves
         * of the stacked [2C, H·W] arrays.
         */
        private final class Workspace implements AutoCloseable {
            final int height;
            final int width;
            final Conv2d convA, convB;
            final INDArray pre, tpre, stack, tstack;               // [2C, H, W]
            final INDArray p1, vx, tp1, tvx, stackTop, stackBottom, tstackTop, tstackBottom; // [C, n] views
            final INDArray z1, p2, g2, h2, tz1, tp2, th2, lambda2, lambdaDot2; // [C, H, W]
            final INDArray z1m, p2m, g2m, h2m, tz1m, tp2m, th2m, lambda2m, lambdaDot2m; // [C, n] views
            final INDArray s1, d1, d2, t1, tmp;                     // [C, n]
            final INDArray image, image2d;
            final INDArray gradA, gradB, channelSums;

            Workspace(int height, int width) {
                this.height = height;
                this.width = width;
                long n = (long) height * width;
                int kk = k * k;
                convA = new Conv2d(1, 2 * c, k, height, width, dataType);
                convB = new Conv2d(c, c, k, height, width, dataType);
                pre = Nd4j.create(dataType, 2L * c, height, width);
                tpre = Nd4j.create(dataType, 2L * c, height, width);
                stack = Nd4j.create(dataType, 2L * c, height, width);
                tstack = Nd4j.create(dataType, 2L * c, height, width);
                INDArray[] h = halves(pre, n);
                p1 = h[0];
                vx = h[1];
                h = halves(tpre, n);
                tp1 = h[0];
                tvx = h[1];
                h = halves(stack, n);
                stackTop = h[0];
                stackBottom = h[1];
                h = halves(tstack, n);
                tstackTop = h[0];
                tstackBottom = h[1];
                z1 = Nd4j.create(dataType, c, height, width);
                p2 = Nd4j.create(dataType, c, height, width);
                g2 = Nd4j.create(dataType, c, height, width);
                h2 = Nd4j.create(dataType, c, height, width);
                tz1 = Nd4j.create(dataType, c, height, width);
                tp2 = Nd4j.create(dataType, c, height, width);
                th2 = Nd4j.create(dataType, c, height, width);
                lambda2 = Nd4j.create(dataType, c, height, width);
                lambdaDot2 = Nd4j.create(dataType, c, height, width);
                z1m = z1.reshape('c', c, n);
                p2m = p2.reshape('c', c, n);
                g2m = g2.reshape('c', c, n);
                h2m = h2.reshape('c', c, n);
                tz1m = tz1.reshape('c', c, n);
                tp2m = tp2.reshape('c', c, n);
                th2m = th2.reshape('c', c, n);
                lambda2m = lambda2.reshape('c', c, n);
                lambdaDot2m = lambdaDot2.reshape('c', c, n);
                s1 = Nd4j.create(dataType, c, n);
                d1 = Nd4j.create(dataType, c, n);
                d2 = Nd4j.create(dataType, c, n);
                t1 = Nd4j.create(dataType, c, n);
                tmp = Nd4j.create(dataType, c, n);
                image = Nd4j.create(dataType, 1, height, width);
                image2d = image.reshape('c', height, width);
                gradA = Nd4j.create(dataType, 2L * c, kk);
                gradB = Nd4j.create(dataType, c, (long) c * kk);
                channelSums = Nd4j.create(dataType, c);
            }

            private INDArray[] halves(INDArray stacked, long n) {
                INDArray m = stacked.reshape('c', 2L * c, n);
                return new INDArray[]{
                        m.get(NDArrayIndex.interval(0, c), NDArrayIndex.all()),
                        m.get(NDArrayIndex.interval(c, 2 * c), NDArrayIndex.all())};
            }

            @Override
            public void close() {
                convA.close();
                convB.close();
                for (INDArray a : new INDArray[]{pre, tpre, stack, tstack, z1, p2, g2, h2, tz1, tp2, th2, lambda2,
                        lambdaDot2, s1, d1, d2, t1, tmp, image, gradA, gradB, channelSums}) {
                    a.close();
                }
            }
        }
    }
}
