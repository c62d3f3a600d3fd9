package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

/**
 * Test-scope inpainting mask: (A x)[r, c] = m[r, c] x[r, c] with m ∈ {0, 1} drawn per pixel (keep
 * probability 0.6, seeded, deterministic in the pixel position). ‖A‖ ≤ 1; λ_min(AᵀA) = 0 (certified lower
 * bound 0) as soon as one pixel is missing.
 */
public final class MaskTestOperator implements LinearOperator {
    private final long seed;

    public MaskTestOperator(long seed) {
        this.seed = seed;
    }

    @Override
    public long[] rangeShape(long[] imageShape) {
        return imageShape.clone();
    }

    private INDArray mask(long[] shape, DataType type) {
        Random random = new Random(seed);
        long n = shape[0] * shape[1];
        double[] m = new double[(int) n];
        for (int i = 0; i < n; i++) {
            m[i] = random.nextDouble() < 0.6 ? 1 : 0;
        }
        return Dense.image(m, shape[0], shape[1]).castTo(type);
    }

    @Override
    public void apply(INDArray x, INDArray out) {
        out.assign(x).muli(mask(x.shape(), out.dataType()));
    }

    @Override
    public void adjoint(INDArray y, INDArray out) {
        apply(y, out);
    }

    @Override
    public Bound normBound() {
        return Bound.certified(1.0);
    }

    @Override
    public double gramLowerBound() {
        return 0;
    }

    @Override
    public String name() {
        return "test-mask";
    }
}
