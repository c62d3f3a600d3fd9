package bilevel.numerics.hypergradient;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Warm-start state of {@link ImplicitHypergradient} for one training pair: the lower-level iterate x
 * and the adjoint iterate q (the approximate solution of ∇²h(x) q = ∇ℓ(x)). Both are updated in place
 * by {@link ImplicitHypergradient#compute}, so a caller can cache the state and later <em>refine</em> a
 * hypergradient with tighter tolerances, continuing from where the previous solves stopped.
 *
 * <p>Owns its two arrays (starting at zero); mutable and not thread-safe; {@link #close()} frees them.
 */
public final class HypergradientState implements WarmStart {
    private final INDArray lowerLevel;
    private final INDArray adjoint;

    /** A zero state for images of the given shape and data type. */
    public HypergradientState(long[] imageShape, DataType dataType) {
        this.lowerLevel = Nd4j.create(dataType, imageShape);
        this.adjoint = Nd4j.create(dataType, imageShape);
    }

    /**
     * Adopts two arrays of the same shape (x, q) as the state (they are owned and closed by it from now on).
     */
    HypergradientState(INDArray lowerLevel, INDArray adjoint) {
        if (!java.util.Arrays.equals(lowerLevel.shape(), adjoint.shape()) || lowerLevel.rank() != 2) {
            throw new IllegalArgumentException("an implicit warm start is two [H, W] arrays of the same shape");
        }
        this.lowerLevel = lowerLevel;
        this.adjoint = adjoint;
    }

    @Override
    public INDArray primal() {
        return lowerLevel;
    }

    /** (x, q). */
    @Override
    public java.util.List<INDArray> arrays() {
        return java.util.List.of(lowerLevel, adjoint);
    }

    /** The live lower-level iterate x (may be assigned by the caller, e.g. to a better starting point). */
    public INDArray lowerLevel() {
        return lowerLevel;
    }

    /** The live adjoint iterate q. */
    public INDArray adjoint() {
        return adjoint;
    }

    /** Resets both iterates to zero (a cold start). */
    @Override
    public void reset() {
        lowerLevel.assign(0);
        adjoint.assign(0);
    }

    @Override
    public void close() {
        lowerLevel.close();
        adjoint.close();
    }
}
