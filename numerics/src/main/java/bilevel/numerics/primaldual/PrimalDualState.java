package bilevel.numerics.primaldual;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Warm-start state of {@link PiggybackHypergradient} for one training pair: the PDHG iterate z = (x, p) and
 * the piggyback (adjoint) iterate w = (u, v). Updated in place by every call, so a later call with tighter
 * tolerances (or at a nearby θ) continues rather than restarts. Owns its four arrays (zero initially);
 * mutable, not thread-safe; {@link #close()} frees them.
 */
public final class PrimalDualState implements AutoCloseable {
    private final INDArray x;
    private final INDArray p;
    private final INDArray u;
    private final INDArray v;

    /** A zero state: images of shape [H, W], dual variables of shape [C, H, W]. */
    public PrimalDualState(long[] imageShape, long[] dualShape, DataType dataType) {
        this.x = Nd4j.create(dataType, imageShape);
        this.p = Nd4j.create(dataType, dualShape);
        this.u = Nd4j.create(dataType, imageShape);
        this.v = Nd4j.create(dataType, dualShape);
    }

    /** The live primal iterate x. */
    public INDArray primal() { return x; }

    /** The live dual iterate p. */
    public INDArray dual() { return p; }

    /** The live primal part u of the adjoint iterate. */
    public INDArray adjointPrimal() { return u; }

    /** The live dual part v of the adjoint iterate. */
    public INDArray adjointDual() { return v; }

    /** Resets all iterates to zero. */
    public void reset() {
        x.assign(0);
        p.assign(0);
        u.assign(0);
        v.assign(0);
    }

    @Override
    public void close() {
        x.close();
        p.close();
        u.close();
        v.close();
    }
}
