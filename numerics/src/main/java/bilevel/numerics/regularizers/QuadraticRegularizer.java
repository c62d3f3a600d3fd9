package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.Random;

/**
 * Tikhonov / quadratic smoothness model (type "quadratic"):
 * <pre>
 *   R_θ(x) = ½ Σ_j w_j ‖D_j x‖²,   w_j = e^{θ_j},
 * </pre>
 * with D₁ the vertical and D₂ the horizontal forward difference with Neumann boundary
 * ((D₁x)[r, c] = x[r+1, c] − x[r, c] for r &lt; H−1 and 0 on the last row, likewise D₂ along columns),
 * and optionally D₀ = I (then θ = (θ₀, θ₁, θ₂), otherwise θ = (θ₁, θ₂)).
 *
 * <h2>Derivatives</h2>
 * ∇R = Σ_j w_j D_jᵀD_j x, ∇²R = Σ_j w_j D_jᵀD_j (independent of x), ∂∇R/∂θ_j = w_j D_jᵀD_j x, so the
 * mixed adjoint is (Jᵀq)_j = w_j ⟨D_j x, D_j q⟩.
 *
 * <h2>Constants (all certified)</h2>
 * <ul>
 * <li>‖D_j‖² ≤ 4 for j = 1, 2: ‖D_j x‖² = Σ (a − b)² over pairs of neighbours, (a − b)² ≤ 2a² + 2b²,
 *     and each pixel belongs to at most two pairs along one axis, so ‖D_j x‖² ≤ 4‖x‖². ‖D₀‖ = 1.
 *     Hence ‖D_jᵀD_j‖ ≤ c_j with c₀ = 1, c₁ = c₂ = 4.</li>
 * <li>Convexity modulus m_R = w₀ (or 0 without D₀): ∇²R = w₀I + (PSD terms), and D₁ᵀD₁ + D₂ᵀD₂ annihilates
 *     constants, so no larger modulus holds without D₀.</li>
 * <li>Gradient Lipschitz L_R = Σ_j w_j c_j ≥ ‖∇²R‖ (triangle inequality).</li>
 * <li>Hessian Lipschitz L_H = 0: ∇²R does not depend on x.</li>
 * <li>J(x) = [w_j D_jᵀD_j x]_j (columns) is linear in x, so ‖J(x) − J(x')‖₂ ≤ ‖J(x − x')‖_F =
 *     (Σ_j w_j²‖D_jᵀD_j(x − x')‖²)^{1/2} ≤ (Σ_j w_j² c_j²)^{1/2} ‖x − x'‖ =: L_J.</li>
 * <li>mixedNorm(x) = ‖J(x)‖_F = (Σ_j w_j² ‖D_jᵀD_j x‖²)^{1/2} ≥ ‖J(x)‖₂, evaluated at x.</li>
 * </ul>
 *
 * <p>The feasible set is the box θ ∈ [−25, 25]^P (keeps e^{θ} finite in FLOAT).
 */
public final class QuadraticRegularizer implements Regularizer {

    /** Bound on |θ_j|; projection clamps to [−THETA_BOX, THETA_BOX]. */
    public static final double THETA_BOX = 25.0;

    private final boolean identityTerm;

    /** @param identityTerm whether to include D₀ = I (a weighted ‖x‖² term) */
    public QuadraticRegularizer(boolean identityTerm) {
        this.identityTerm = identityTerm;
    }

    /** The model with the two difference terms only. */
    public QuadraticRegularizer() {
        this(false);
    }

    public boolean hasIdentityTerm() {
        return identityTerm;
    }

    @Override
    public String type() {
        return "quadratic";
    }

    @Override
    public int numParams() {
        return identityTerm ? 3 : 2;
    }

    @Override
    public String paramName(int i) {
        int j = identityTerm ? i : i + 1;
        return switch (j) {
            case 0 -> "log_weight_identity";
            case 1 -> "log_weight_vertical";
            case 2 -> "log_weight_horizontal";
            default -> throw new IndexOutOfBoundsException(i);
        };
    }

    /** θ_j = log(0.5) + 0.1·N(0, 1) (seeded): a moderate smoothing weight; identity weight log(0.01) + noise. */
    @Override
    public double[] initialTheta(long seed) {
        Random random = new Random(seed);
        double[] theta = new double[numParams()];
        for (int i = 0; i < theta.length; i++) {
            double base = (identityTerm && i == 0) ? Math.log(0.01) : Math.log(0.5);
            theta[i] = base + 0.1 * random.nextGaussian();
        }
        return project(theta);
    }

    @Override
    public double[] project(double[] theta) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        double[] p = new double[theta.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.max(-THETA_BOX, Math.min(THETA_BOX, theta[i]));
        }
        return p;
    }

    /** Per difference: D x (1 flop/pixel), scale (1), Dᵀ (2), plus the identity term (2). */
    @Override
    public double gradientFlops(long height, long width) {
        double n = (double) height * width;
        return 2 * 4 * n + (identityTerm ? 2 * n : 0);
    }

    @Override
    public double hessianVectorFlops(long height, long width) {
        return gradientFlops(height, width);
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        return new QuadraticInstance(theta.clone(), dataType);
    }

    /** The bound instance; buffers are (re)allocated lazily per image size. */
    private final class QuadraticInstance implements Instance {
        private final double[] theta;
        private final DataType dataType;
        private final double w0;   // 0 without the identity term
        private final double w1;
        private final double w2;
        private Workspace ws;

        QuadraticInstance(double[] theta, DataType dataType) {
            this.theta = theta;
            this.dataType = dataType;
            int o = identityTerm ? 1 : 0;
            this.w0 = identityTerm ? Math.exp(theta[0]) : 0.0;
            this.w1 = Math.exp(theta[o]);
            this.w2 = Math.exp(theta[o + 1]);
        }

        private Workspace workspace(INDArray x) {
            if (x.rank() != 2) {
                throw new IllegalArgumentException("expected an [H, W] image, got shape " + Arrays.toString(x.shape()));
            }
            if (ws == null || ws.height != x.size(0) || ws.width != x.size(1)) {
                if (ws != null) {
                    ws.close();
                }
                ws = new Workspace(x.size(0), x.size(1), dataType);
            }
            return ws;
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public double value(INDArray x) {
            Workspace w = workspace(x);
            w.differences(x, w.dv, w.dh);
            double s = w1 * w.normSqVertical() + w2 * w.normSqHorizontal();
            if (identityTerm) {
                s += w0 * VectorOps.dot(w.image, w.image);
            }
            return 0.5 * s;
        }

        @Override
        public void gradient(INDArray x, INDArray out) {
            applyHessian(x, out);
        }

        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            applyHessian(v, out);
        }

        /** out ← (w₀I + w₁D₁ᵀD₁ + w₂D₂ᵀD₂) v. */
        private void applyHessian(INDArray v, INDArray out) {
            Workspace w = workspace(v);
            w.differences(v, w.dv, w.dh);
            w.accumulator.assign(w.image).muli(w0);
            w.addAdjoints(w1, w.dv, w2, w.dh);
            out.assign(w.accumulator);
        }

        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace w = workspace(x);
            w.differences(q, w.dvSecond, w.dhSecond);
            double identityPair = identityTerm ? VectorOps.dot(x, q) : 0;
            w.differences(x, w.dv, w.dh);
            double vertical = w.hasVertical() ? w1 * VectorOps.dot(w.dv, w.dvSecond) : 0;
            double horizontal = w.hasHorizontal() ? w2 * VectorOps.dot(w.dh, w.dhSecond) : 0;
            return identityTerm ? new double[]{w0 * identityPair, vertical, horizontal}
                    : new double[]{vertical, horizontal};
        }

        @Override
        public Bound convexityModulus() {
            return Bound.certified(w0);
        }

        @Override
        public Bound gradientLipschitz() {
            return Bound.certified(w0 + 4 * w1 + 4 * w2);
        }

        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(0.0);
        }

        @Override
        public Bound mixedLipschitz() {
            return Bound.certified(Math.sqrt(w0 * w0 + 16 * w1 * w1 + 16 * w2 * w2));
        }

        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace w = workspace(x);
            w.differences(x, w.dv, w.dh);
            double s = identityTerm ? w0 * w0 * VectorOps.dot(w.image, w.image) : 0;
            w.accumulator.assign(0);
            w.addAdjoints(1, w.dv, 0, w.dh);
            s += w1 * w1 * VectorOps.dot(w.accumulator, w.accumulator);
            w.accumulator.assign(0);
            w.addAdjoints(0, w.dv, 1, w.dh);
            s += w2 * w2 * VectorOps.dot(w.accumulator, w.accumulator);
            return Bound.certified(Math.sqrt(s));
        }

        @Override
        public void close() {
            if (ws != null) {
                ws.close();
                ws = null;
            }
        }
    }

    /**
     * Buffers for one image size: a copy of the input (so the difference views are precomputed), an
     * accumulator with precomputed views, and two pairs of difference arrays.
     */
    private static final class Workspace implements AutoCloseable {
        final long height;
        final long width;
        final INDArray image;        // [H, W] copy of the current input
        final INDArray accumulator;  // [H, W]
        final INDArray dv;           // [H−1, W] vertical differences (null when H = 1)
        final INDArray dh;           // [H, W−1] horizontal differences (null when W = 1)
        final INDArray dvSecond;
        final INDArray dhSecond;
        private final INDArray imageBelow, imageAbove, imageRight, imageLeft;
        private final INDArray accBelow, accAbove, accRight, accLeft;

        Workspace(long height, long width, DataType dataType) {
            this.height = height;
            this.width = width;
            image = Nd4j.create(dataType, height, width);
            accumulator = Nd4j.create(dataType, height, width);
            if (height > 1) {
                dv = Nd4j.create(dataType, height - 1, width);
                dvSecond = Nd4j.create(dataType, height - 1, width);
                imageBelow = image.get(NDArrayIndex.interval(1, height), NDArrayIndex.all());
                imageAbove = image.get(NDArrayIndex.interval(0, height - 1), NDArrayIndex.all());
                accBelow = accumulator.get(NDArrayIndex.interval(1, height), NDArrayIndex.all());
                accAbove = accumulator.get(NDArrayIndex.interval(0, height - 1), NDArrayIndex.all());
            } else {
                dv = dvSecond = imageBelow = imageAbove = accBelow = accAbove = null;
            }
            if (width > 1) {
                dh = Nd4j.create(dataType, height, width - 1);
                dhSecond = Nd4j.create(dataType, height, width - 1);
                imageRight = image.get(NDArrayIndex.all(), NDArrayIndex.interval(1, width));
                imageLeft = image.get(NDArrayIndex.all(), NDArrayIndex.interval(0, width - 1));
                accRight = accumulator.get(NDArrayIndex.all(), NDArrayIndex.interval(1, width));
                accLeft = accumulator.get(NDArrayIndex.all(), NDArrayIndex.interval(0, width - 1));
            } else {
                dh = dhSecond = imageRight = imageLeft = accRight = accLeft = null;
            }
        }

        boolean hasVertical() {
            return dv != null;
        }

        boolean hasHorizontal() {
            return dh != null;
        }

        /** image ← x; vertical ← D₁x; horizontal ← D₂x (restricted to the pairs that exist). */
        void differences(INDArray x, INDArray vertical, INDArray horizontal) {
            image.assign(x);
            if (vertical != null) {
                vertical.assign(imageBelow).subi(imageAbove);
            }
            if (horizontal != null) {
                horizontal.assign(imageRight).subi(imageLeft);
            }
        }

        /** accumulator += a·D₁ᵀ vertical + b·D₂ᵀ horizontal. Scales the difference arrays in place. */
        void addAdjoints(double a, INDArray vertical, double b, INDArray horizontal) {
            if (vertical != null && a != 0) {
                vertical.muli(a);
                accBelow.addi(vertical);
                accAbove.subi(vertical);
            }
            if (horizontal != null && b != 0) {
                horizontal.muli(b);
                accRight.addi(horizontal);
                accLeft.subi(horizontal);
            }
        }

        double normSqVertical() {
            return dv == null ? 0 : VectorOps.dot(dv, dv);
        }

        double normSqHorizontal() {
            return dh == null ? 0 : VectorOps.dot(dh, dh);
        }

        @Override
        public void close() {
            image.close();
            accumulator.close();
            if (dv != null) {
                dv.close();
                dvSecond.close();
            }
            if (dh != null) {
                dh.close();
                dhSecond.close();
            }
        }
    }
}
