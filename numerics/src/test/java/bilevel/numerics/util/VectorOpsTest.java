package bilevel.numerics.util;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static org.junit.jupiter.api.Assertions.assertEquals;

class VectorOpsTest {

    private static double plainDot(INDArray a, INDArray b) {
        double s = 0;
        INDArray ac = a.castTo(DataType.DOUBLE).dup('c').reshape(a.length());
        INDArray bc = b.castTo(DataType.DOUBLE).dup('c').reshape(b.length());
        for (long i = 0; i < a.length(); i++) {
            s += ac.getDouble(i) * bc.getDouble(i);
        }
        return s;
    }

    @Test
    void dotNormAxpyAgreeWithPlainLoopsForBuffersViewsAndFloats() {
        Random random = new Random(1);
        for (DataType type : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            double tol = type == DataType.DOUBLE ? 1e-12 : 1e-5;
            INDArray big = gaussian(random, 9, 8).castTo(type);
            INDArray other = gaussian(random, 9, 8).castTo(type);
            INDArray[][] pairs = {
                    {gaussian(random, 6, 5).castTo(type), gaussian(random, 6, 5).castTo(type)},
                    // views with an offset and strides: must not be handed to BLAS blindly
                    {big.get(NDArrayIndex.interval(2, 8), NDArrayIndex.interval(3, 8)),
                            other.get(NDArrayIndex.interval(1, 7), NDArrayIndex.interval(0, 5))}};
            for (INDArray[] p : pairs) {
                INDArray a = p[0];
                INDArray b = p[1];
                double d = plainDot(a, b);
                assertEquals(d, VectorOps.dot(a, b), tol * 30);
                assertEquals(Math.sqrt(plainDot(a, a)), VectorOps.norm(a), tol * 30);
                INDArray expected = b.castTo(DataType.DOUBLE).add(a.castTo(DataType.DOUBLE).mul(-0.7));
                INDArray y = b.dup();
                VectorOps.axpy(-0.7, a, y);
                assertEquals(0.0, expected.sub(y.castTo(DataType.DOUBLE)).norm2Number().doubleValue(), tol * 30);
                INDArray scaled = a.dup();
                VectorOps.scale(-1.3, scaled);
                assertEquals(0.0, a.castTo(DataType.DOUBLE).mul(-1.3).sub(scaled.castTo(DataType.DOUBLE))
                        .norm2Number().doubleValue(), tol * 30);
                double before = plainDot(a, a);
                VectorOps.scale(2.0, a);   // in place (for a view: through to the parent array)
                assertEquals(4 * before, plainDot(a, a), tol * 30 * before);
            }
        }
    }

    /** Regression: the view fallback of dot must not close its (double) arguments. */
    @Test
    void dotOfDoubleViewsLeavesTheArgumentsUsable() {
        Random random = new Random(2);
        INDArray big = gaussian(random, 6, 5);
        INDArray view = big.get(NDArrayIndex.interval(1, 4), NDArrayIndex.all());
        INDArray other = gaussian(random, 3, 5);
        double expected = plainDot(view, other);
        assertEquals(expected, VectorOps.dot(view, other), 1e-12);
        assertEquals(expected, VectorOps.dot(other, view), 1e-12);
        assertEquals(expected, plainDot(view, other), 0.0);   // both still open and unchanged
        assertEquals(plainDot(big, big), VectorOps.dot(big, big), 1e-12);
    }
}
