package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Test-scope identity (denoising) operator. */
public final class IdentityTestOperator implements LinearOperator {
    @Override
    public long[] rangeShape(long[] imageShape) {
        return imageShape.clone();
    }

    @Override
    public void apply(INDArray x, INDArray out) {
        out.assign(x);
    }

    @Override
    public void adjoint(INDArray y, INDArray out) {
        out.assign(y);
    }

    @Override
    public Bound normBound() {
        return Bound.certified(1);
    }

    @Override
    public double gramLowerBound() {
        return 1;
    }

    @Override
    public String name() {
        return "test-identity";
    }
}
