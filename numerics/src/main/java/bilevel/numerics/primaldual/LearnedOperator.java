package bilevel.numerics.primaldual;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A parametric family of linear "analysis" operators K_θ : R^{H×W} → R^{C×H×W}, the coupling operator of
 * the primal–dual lower level min_x max_p ⟨K_θ x, p⟩ + G(x) − F*(p) (see {@link SaddlePointProblem}).
 *
 * <p>The family is immutable; {@link #bind} unpacks θ for one image size and data type into an
 * {@link Instance} that owns its work buffers (not thread-safe, must be closed). Images are [H, W],
 * dual variables [C, H, W], 'c' order, of the instance's data type.
 */
public interface LearnedOperator {

    /** Short type name, e.g. "filters", "tv". */
    String type();

    /** P, the number of parameters. */
    int numParams();

    /** Human-readable name of parameter i. */
    String paramName(int i);

    /** C, the number of output channels. */
    int channels();

    /** A feasible starting point θ₀ (deterministic for the seed). */
    double[] initialTheta(long seed);

    /** Euclidean projection onto the feasible set; returns a new array, {@code theta} unchanged. */
    double[] project(double[] theta);

    /**
     * L_K ≥ ‖K_θ‖₂ for images of every size: the value {@link Instance#normBound()} reports (it does not depend
     * on the image size), without binding an instance.
     */
    Bound normBound(double[] theta);

    /** Γ of {@link Instance#parameterGradientBound()} for images of every size, without binding an instance. */
    Bound parameterGradientBound(double[] theta);

    /**
     * The learned filters of θ as square arrays {@code k[row][column]} (new arrays), for reports; empty when the
     * operator has none (fixed differences).
     */
    default java.util.List<double[][]> filters(double[] theta) {
        return java.util.List.of();
    }

    /** K_θ for images of the given shape [H, W] in the given data type. */
    Instance bind(double[] theta, long[] imageShape, DataType dataType);

    /** K_θ with θ fixed, for one image size. */
    interface Instance extends AutoCloseable {

        /** A copy of θ. */
        double[] theta();

        /** The shape [C, H, W] of K x. */
        long[] dualShape();

        /** out ← K_θ x. x: [H, W]; out: contiguous [C, H, W]. Modifies only {@code out}. */
        void apply(INDArray x, INDArray out);

        /** out ← K_θᵀ v. v: [C, H, W]; out: [H, W]. Modifies only {@code out}. */
        void adjoint(INDArray v, INDArray out);

        /** L_K ≥ ‖K_θ‖₂ (certified when proven). */
        Bound normBound();

        /**
         * out[i] += scale · ∂/∂θ_i ⟨v, K_θ x⟩ for every i (the derivative of the bilinear pairing with
         * respect to the parameters). Modifies only {@code out} (and internal buffers).
         */
        void accumulateParameterGradient(INDArray x, INDArray v, double scale, double[] out);

        /** Γ with ‖∂θ⟨v, K_θ x⟩‖₂ ≤ Γ ‖x‖ ‖v‖ for all x, v (certified when proven). */
        Bound parameterGradientBound();

        @Override
        void close();
    }
}
