package bilevel.numerics.hypergradient;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/**
 * The iterates a {@link HypergradientMethod} continues from for one training pair (implicit: x and the CG
 * iterate q; piggyback: the PDHG iterate (x, p) and the adjoint iterate (u, v)). Updated in place by every
 * call, so a later call with tighter tolerances, or at a nearby θ, continues rather than restarts. All
 * zero is a cold start.
 *
 * <p>Owns its arrays; mutable, not thread-safe; {@link #close()} frees them.
 */
public interface WarmStart extends AutoCloseable {

    /** The live lower-level (primal) iterate x, [H, W]. */
    INDArray primal();

    /**
     * The live arrays of the state in a fixed, method-specific order (what a checkpoint stores; see
     * {@link HypergradientMethod#restoreWarmStart}). The list is a view: do not close its arrays.
     */
    List<INDArray> arrays();

    /** Resets every iterate to zero (a cold start). */
    void reset();

    @Override
    void close();
}
