package bilevel.numerics.operators;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A forward operator A : R^{H×W} → R^{m} of an inverse problem (denoising, deblurring, inpainting).
 *
 * <p>Images are rank-2 {@link INDArray}s of shape [H, W] in 'c' order, float or double. Measurements
 * have shape {@link #rangeShape(long[])}. Every implementation must satisfy the adjoint identity
 * ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ to rounding error (checked by {@code LinearOperatorContract}).
 *
 * <p>Methods write into caller-supplied output arrays and allocate nothing per call beyond what the
 * implementation documents; {@code out} must not alias the input.
 */
public interface LinearOperator {

    /** Shape of A x for an image x of shape {@code imageShape}. */
    long[] rangeShape(long[] imageShape);

    /** out ← A x. Modifies only {@code out}. */
    void apply(INDArray x, INDArray out);

    /** out ← Aᵀ y. Modifies only {@code out}. */
    void adjoint(INDArray y, INDArray out);

    /** out ← Aᵀ A x (the Gauss–Newton part of the data-fidelity Hessian). Modifies only {@code out}. */
    default void normal(INDArray x, INDArray out) {
        try (INDArray tmp = x.ulike().reshape(rangeShape(x.shape())).assign(0)) {
            apply(x, tmp);
            adjoint(tmp, out);
        }
    }

    /** An upper bound on the operator norm ‖A‖₂ (certified when proven, e.g. ‖PSF‖₁ for a blur). */
    Bound normBound();

    /**
     * A certified lower bound on λ_min(AᵀA): 1 for the identity, 0 when A has a non-trivial kernel
     * (inpainting) or none is known (blur).
     */
    double gramLowerBound();

    /** Short name for logs and model files, e.g. "denoise", "blur", "inpaint". */
    String name();
}
