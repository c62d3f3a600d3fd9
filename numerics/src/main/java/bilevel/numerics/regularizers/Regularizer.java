package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A parametric family of convex regularizers R_θ : R^{H×W} → R, θ ∈ Θ ⊂ R^P.
 *
 * <p>The family is immutable and thread-safe. Binding parameters with {@link #bind(double[], DataType)}
 * gives an {@link Instance} that unpacks θ once (filters, weights) and owns preallocated work buffers;
 * an instance is <b>not</b> thread-safe and must be {@link Instance#close() closed}.
 *
 * <p>Images are rank-2 arrays [H, W] ('c' order) of the instance's data type. Output arrays are
 * supplied by the caller, have the shape of {@code x}, and must not alias any input.
 */
public interface Regularizer {

    /** Short type name used in model files and configs, e.g. "tv", "foe", "crr", "icnn". */
    String type();

    /** P, the number of parameters. */
    int numParams();

    /** Human-readable name of parameter i (for logs, reports and finite-difference test messages). */
    String paramName(int i);

    /** A sensible, feasible starting point θ₀ (deterministic for the given seed). */
    double[] initialTheta(long seed);

    /** Euclidean projection of θ onto the feasible set Θ; returns a new array, {@code theta} is unchanged. */
    double[] project(double[] theta);

    /**
     * Warm start from a smaller member of the same family: θ of this regularizer that contains the model
     * {@code (from, theta)} (for example smaller filters zero-padded, fewer filters), so that a training can
     * continue from a trained model with more capacity. Empty when this family cannot hold {@code from}.
     * {@code theta} is not modified; the result is feasible.
     *
     * @param from  the smaller regularizer (its type and structure)
     * @param theta parameters of {@code from} (length {@code from.numParams()})
     * @param seed  seed for any parameters that {@code from} does not have
     */
    default java.util.Optional<double[]> embed(Regularizer from, double[] theta, long seed) {
        return java.util.Optional.empty();
    }

    /**
     * Where {@link #embed} puts each parameter of {@code from}: index i of {@code from}'s θ goes to index
     * {@code map[i]} of this θ (injective; the other entries of this θ are new). Empty exactly when
     * {@link #embed} is. Lets per-parameter state (e.g. Adam's moments) follow θ into the larger model.
     */
    default java.util.Optional<int[]> embedding(Regularizer from) {
        return java.util.Optional.empty();
    }

    /**
     * Floating-point operations of one {@link Instance#gradient} on an H×W image (multiply and add
     * counted separately), for benchmark reports; NaN when not modelled.
     */
    default double gradientFlops(long height, long width) {
        return Double.NaN;
    }

    /** Floating-point operations of one {@link Instance#hessianVector} on an H×W image; NaN when not modelled. */
    default double hessianVectorFlops(long height, long width) {
        return Double.NaN;
    }

    /** Unpacks θ (which must be feasible) for repeated evaluations in the given data type. */
    Instance bind(double[] theta, DataType dataType);

    /**
     * R_θ with θ fixed. All derivatives are with respect to x unless stated; "mixed" means ∂θ∇ₓR.
     */
    interface Instance extends AutoCloseable {

        /** The parameters this instance was bound to (a copy). */
        double[] theta();

        /** R_θ(x). */
        double value(INDArray x);

        /** out ← ∇ₓR_θ(x). Modifies only {@code out}. */
        void gradient(INDArray x, INDArray out);

        /** out ← ∇²ₓₓR_θ(x) v. Modifies only {@code out}. */
        void hessianVector(INDArray x, INDArray v, INDArray out);

        /**
         * (∂θ∇ₓR_θ(x))ᵀ q, a vector of length P whose i-th entry is ⟨∂∇ₓR/∂θ_i (x), q⟩. Returns a new array.
         */
        double[] mixedAdjoint(INDArray x, INDArray q);

        /** m_R ≥ 0 with R_θ − (m_R/2)‖·‖² convex (certified 0 for a convex R). */
        Bound convexityModulus();

        /** Lipschitz constant of x ↦ ∇ₓR_θ(x) (i.e. an upper bound on ‖∇²ₓₓR_θ‖). */
        Bound gradientLipschitz();

        /** L_H: ‖∇²ₓₓR_θ(x) − ∇²ₓₓR_θ(x')‖ ≤ L_H ‖x − x'‖ for all x, x'. */
        Bound hessianLipschitz();

        /** L_J: ‖∂θ∇ₓR_θ(x) − ∂θ∇ₓR_θ(x')‖₂ ≤ L_J ‖x − x'‖ for all x, x' (operator norm R^n → R^P). */
        Bound mixedLipschitz();

        /**
         * L_J restricted to a ball: ‖∂θ∇ₓR_θ(x) − ∂θ∇ₓR_θ(x')‖₂ ≤ L ‖x − x'‖ for all ‖x‖, ‖x'‖ ≤ radius.
         * Families whose mixed derivative is not globally Lipschitz (e.g. multi-layer networks, where it
         * contains products of two linear functions of x) override this; the default is the global constant.
         */
        default Bound mixedLipschitz(double radius) {
            return mixedLipschitz();
        }

        /** An upper bound on the operator norm ‖∂θ∇ₓR_θ(x)‖₂ at this x (e.g. via its Frobenius norm). */
        Bound mixedNorm(INDArray x);

        /** Releases the off-heap buffers this instance holds. */
        @Override
        void close();
    }
}
