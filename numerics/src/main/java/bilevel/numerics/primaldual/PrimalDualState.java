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
public final class PrimalDualState implements bilevel.numerics.hypergradient.WarmStart {
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

    /** Adopts (x, p, u, v) as the state (owned and closed by it from now on); shapes as in the constructor. */
    PrimalDualState(INDArray x, INDArray p, INDArray u, INDArray v) {
        if (x.rank() != 2 || p.rank() != 3 || !java.util.Arrays.equals(x.shape(), u.shape())
                || !java.util.Arrays.equals(p.shape(), v.shape()) || p.size(1) != x.size(0) || p.size(2) != x.size(1)) {
            throw new IllegalArgumentException("a primal–dual warm start is x, u of shape [H, W] and p, v of shape [C, H, W]");
        }
        this.x = x;
        this.p = p;
        this.u = u;
        this.v = v;
    }

    /** The live primal iterate x. */
    @Override
    public INDArray primal() { return x; }

    /** (x, p, u, v). */
    @Override
    public java.util.List<INDArray> arrays() {
        return java.util.List.of(x, p, u, v);
    }

    /** The live dual iterate p. */
    public INDArray dual() { return p; }

    /** The live primal part u of the adjoint iterate. */
    public INDArray adjointPrimal() { return u; }

    /** The live dual part v of the adjoint iterate. */
    public INDArray adjointDual() { return v; }

    /** Resets all iterates to zero. */
    @Override
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
