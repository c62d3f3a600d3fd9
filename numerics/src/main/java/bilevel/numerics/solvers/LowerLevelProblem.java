package bilevel.numerics.solvers;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The lower-level (reconstruction) problem of the bilevel scheme for one measurement y:
 *
 * <pre>
 *   h(x) = ½‖A x − y‖² + R_θ(x) + (μ/2)‖x‖²,
 *   ∇h(x) = Aᵀ(A x − y) + ∇R_θ(x) + μ x,
 *   ∇²h(x) v = AᵀA v + ∇²R_θ(x) v + μ v.
 * </pre>
 *
 * <p>h is μ_h-strongly convex with μ_h = λ_min(AᵀA) + m_R + μ ({@link #strongConvexity()}): each of the
 * three terms minus its share of (μ_h/2)‖·‖² is convex, by definition of {@link LinearOperator#gramLowerBound()}
 * and {@link Regularizer.Instance#convexityModulus()}. Its gradient is L_h-Lipschitz with
 * L_h = ‖A‖² + L_R + μ ({@link #smoothness()}) by the triangle inequality. The construction fails when
 * μ_h is not positive, since then neither the solution nor the hypergradient is well defined.
 *
 * <p>The problem holds two work buffers (one in the range of A, one image) and allocates no ND4J
 * memory per call, provided A and R do not. It does <b>not</b> own A, y or the regularizer instance:
 * {@link #close()} releases only its own buffers. Not thread-safe.
 */
public final class LowerLevelProblem implements AutoCloseable {
    private final LinearOperator forward;
    private final INDArray data;
    private final long[] imageShape;
    private final Regularizer.Instance regularizer;
    private final double mu;
    private final DataType dataType;
    private final INDArray rangeBuffer;
    private final INDArray imageBuffer;

    /**
     * For operators whose range has the image's shape (denoising, blur, inpainting by masking): the image
     * shape is taken from {@code data}.
     */
    public LowerLevelProblem(LinearOperator forward, INDArray data, Regularizer.Instance regularizer, double mu) {
        this(forward, data, data.shape(), regularizer, mu);
    }

    /**
     * @param forward     the forward operator A
     * @param data        the measurement y, of shape A.rangeShape(imageShape); its data type is the problem's
     * @param imageShape  [H, W]
     * @param regularizer R_θ, bound to the same data type as {@code data}
     * @param mu          μ ≥ 0, the weight of the extra Tikhonov term (μ/2)‖x‖²
     */
    public LowerLevelProblem(LinearOperator forward, INDArray data, long[] imageShape, Regularizer.Instance regularizer,
                             double mu) {
        if (!(mu >= 0) || Double.isInfinite(mu)) {
            throw new IllegalArgumentException("mu must be finite and non-negative, got " + mu);
        }
        long[] range = forward.rangeShape(imageShape);
        if (!Arrays.equals(range, data.shape())) {
            throw new IllegalArgumentException("data has shape " + Arrays.toString(data.shape()) + " but A maps "
                    + Arrays.toString(imageShape) + " to " + Arrays.toString(range));
        }
        this.forward = forward;
        this.data = data;
        this.imageShape = imageShape.clone();
        this.regularizer = regularizer;
        this.mu = mu;
        this.dataType = data.dataType();
        double strong = strongConvexity().value();
        if (!(strong > 0)) {
            throw new IllegalArgumentException("lower level is not strongly convex: λ_min(AᵀA) + m_R + μ = " + strong);
        }
        this.rangeBuffer = Nd4j.create(dataType, range);
        this.imageBuffer = Nd4j.create(dataType, imageShape);
    }

    public LinearOperator forward() { return forward; }

    /** The measurement y (the live array; do not modify while the problem is in use). */
    public INDArray data() { return data; }

    public long[] imageShape() { return imageShape.clone(); }

    public Regularizer.Instance regularizer() { return regularizer; }

    public double mu() { return mu; }

    public DataType dataType() { return dataType; }

    /** A new zero image of the problem's shape and data type (the caller owns and closes it). */
    public INDArray newImage() {
        return Nd4j.create(dataType, imageShape);
    }

    /** h(x). Modifies nothing but internal buffers. */
    public double value(INDArray x) {
        forward.apply(x, rangeBuffer);
        rangeBuffer.subi(data);
        double fidelity = 0.5 * VectorOps.dot(rangeBuffer, rangeBuffer);
        return fidelity + regularizer.value(x) + 0.5 * mu * VectorOps.dot(x, x);
    }

    /** out ← ∇h(x) = Aᵀ(Ax − y) + ∇R_θ(x) + μx. Modifies only {@code out} (which must not alias x). */
    public void gradient(INDArray x, INDArray out) {
        forward.apply(x, rangeBuffer);
        rangeBuffer.subi(data);
        forward.adjoint(rangeBuffer, out);
        regularizer.gradient(x, imageBuffer);
        VectorOps.axpy(1.0, imageBuffer, out);
        if (mu != 0) {
            VectorOps.axpy(mu, x, out);
        }
    }

    /** out ← ∇²h(x) v = AᵀAv + ∇²R_θ(x)v + μv. Modifies only {@code out} (which must not alias x or v). */
    public void hessianVector(INDArray x, INDArray v, INDArray out) {
        forward.apply(v, rangeBuffer);
        forward.adjoint(rangeBuffer, out);
        regularizer.hessianVector(x, v, imageBuffer);
        VectorOps.axpy(1.0, imageBuffer, out);
        if (mu != 0) {
            VectorOps.axpy(mu, v, out);
        }
    }

    /**
     * μ_h = λ_min(AᵀA) + m_R + μ, a lower bound on the strong-convexity modulus of h (so ∇²h ⪰ μ_h I).
     * Certified iff m_R is (gramLowerBound is certified by contract, μ is exact).
     */
    public Bound strongConvexity() {
        return Bound.certified(forward.gramLowerBound()).plus(regularizer.convexityModulus()).plus(Bound.certified(mu));
    }

    /**
     * L_h = ‖A‖² + L_R + μ, an upper bound on the Lipschitz constant of ∇h. Certified iff both ‖A‖ and
     * L_R are.
     */
    public Bound smoothness() {
        Bound a = forward.normBound();
        return a.times(a).plus(regularizer.gradientLipschitz()).plus(Bound.certified(mu));
    }

    @Override
    public void close() {
        rangeBuffer.close();
        imageBuffer.close();
    }
}
