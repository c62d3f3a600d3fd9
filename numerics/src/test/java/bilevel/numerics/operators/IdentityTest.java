package bilevel.numerics.operators;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class IdentityTest extends LinearOperatorContract {

    @Override
    protected LinearOperator operator() {
        return new Identity();
    }

    @Test
    void appliesTheIdentity() {
        Identity id = new Identity();
        INDArray x = gaussian(new Random(1), 5, 7);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            INDArray xt = x.castTo(dt);
            INDArray out = Nd4j.create(dt, 5, 7);
            id.apply(xt, out);
            assertArrayEquals(xt.data().asDouble(), out.data().asDouble(), 0.0);
            out.assign(0);
            id.adjoint(xt, out);
            assertArrayEquals(xt.data().asDouble(), out.data().asDouble(), 0.0);
            out.assign(0);
            id.normal(xt, out);
            assertArrayEquals(xt.data().asDouble(), out.data().asDouble(), 0.0);
        }
        assertArrayEquals(new long[]{5, 7}, id.rangeShape(new long[]{5, 7}));
        assertEquals("denoise", id.name());
        assertEquals(1.0, id.gramLowerBound());
        assertEquals(1.0, id.normBound().value());
    }
}
