package bilevel.numerics.operators;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A = I (denoising): A x = x, Aᵀ y = y, AᵀA = I, ‖A‖ = 1, λ_min(AᵀA) = 1. Stateless and thread-safe. */
public final class Identity implements LinearOperator {

    @Override
    public long[] rangeShape(long[] imageShape) {
        return imageShape.clone();
    }

    /** out ← x. */
    @Override
    public void apply(INDArray x, INDArray out) {
        out.assign(x);
    }

    /** out ← y. */
    @Override
    public void adjoint(INDArray y, INDArray out) {
        out.assign(y);
    }

    /** out ← x. */
    @Override
    public void normal(INDArray x, INDArray out) {
        out.assign(x);
    }

    /** Certified 1 (‖I‖ = 1). */
    @Override
    public Bound normBound() {
        return Bound.certified(1.0);
    }

    @Override
    public double gramLowerBound() {
        return 1.0;
    }

    @Override
    public String name() {
        return "denoise";
    }
}
