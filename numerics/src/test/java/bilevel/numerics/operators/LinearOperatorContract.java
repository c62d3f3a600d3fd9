package bilevel.numerics.operators;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.dot;
import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Contract every {@link LinearOperator} test extends: adjoint identity, norm bound, normal operator. */
public abstract class LinearOperatorContract {

    /** The operator under test, for images of shape [height(), width()]. */
    protected abstract LinearOperator operator();

    protected long height() { return 13; }

    protected long width() { return 10; }

    @Test
    void adjointIdentityHolds() {
        Random random = new Random(21);
        LinearOperator a = operator();
        long[] img = {height(), width()};
        for (int trial = 0; trial < 5; trial++) {
            INDArray x = gaussian(random, img);
            INDArray y = gaussian(random, a.rangeShape(img));
            INDArray ax = Nd4j.create(DataType.DOUBLE, a.rangeShape(img));
            INDArray aty = Nd4j.create(DataType.DOUBLE, img);
            a.apply(x, ax);
            a.adjoint(y, aty);
            double lhs = dot(ax, y);
            double rhs = dot(x, aty);
            assertEquals(lhs, rhs, 1e-12 * Math.max(1, Math.abs(lhs)), a.name() + ": <Ax,y> != <x,A^T y>");
        }
    }

    @Test
    void normBoundIsAboveThePowerIterationEstimate() {
        Random random = new Random(22);
        LinearOperator a = operator();
        long[] img = {height(), width()};
        INDArray x = gaussian(random, img);
        INDArray out = Nd4j.create(DataType.DOUBLE, img);
        double est = 0;
        for (int it = 0; it < 200; it++) {
            x.divi(norm(x));
            a.normal(x, out);
            est = Math.sqrt(dot(x, out));
            x.assign(out);
        }
        assertTrue(est <= a.normBound().value() * (1 + 1e-9), a.name() + ": power iteration " + est + " above normBound " + a.normBound().value());
        double lower = a.gramLowerBound();
        INDArray v = gaussian(random, img);
        a.normal(v, out);
        assertTrue(dot(v, out) >= lower * dot(v, v) - 1e-9, a.name() + ": gramLowerBound violated");
    }

    @Test
    void normalIsAdjointOfApply() {
        Random random = new Random(23);
        LinearOperator a = operator();
        long[] img = {height(), width()};
        INDArray x = gaussian(random, img);
        INDArray ax = Nd4j.create(DataType.DOUBLE, a.rangeShape(img));
        INDArray atax = Nd4j.create(DataType.DOUBLE, img);
        INDArray n = Nd4j.create(DataType.DOUBLE, img);
        a.apply(x, ax);
        a.adjoint(ax, atax);
        a.normal(x, n);
        assertTrue(norm(atax.sub(n)) <= 1e-12 * Math.max(1, norm(atax)), a.name() + ": normal(x) != A^T A x");
    }
}
