package bilevel.numerics.operators;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class InpaintingTest extends LinearOperatorContract {

    @Override
    protected LinearOperator operator() {
        return Inpainting.random(height(), width(), 0.4, 3);
    }

    @Nested
    class NoMissingPixels extends LinearOperatorContract {
        @Override
        protected LinearOperator operator() {
            return Inpainting.random(height(), width(), 0.0, 4);
        }
    }

    @Nested
    class AlmostAllMissing extends LinearOperatorContract {
        // (not 100%: the contract's power iteration normalizes A^T A x, which would then be 0)
        @Override
        protected LinearOperator operator() {
            return Inpainting.random(height(), width(), 0.95, 5);
        }
    }

    @Test
    void zeroesExactlyTheMaskedFraction() {
        long h = 31;
        long w = 17;
        for (double f : new double[]{0.0, 0.1, 0.5, 0.8, 1.0}) {
            Inpainting op = Inpainting.random(h, w, f, 99);
            long expectedMissing = Math.round(f * h * w);
            assertEquals(expectedMissing, op.missingPixels());
            INDArray x = gaussian(new Random(1), h, w).addi(10);   // no zero pixels
            INDArray out = Nd4j.create(DataType.DOUBLE, h, w);
            op.apply(x, out);
            INDArray mask = op.mask();
            long zeros = 0;
            for (long i = 0; i < x.length(); i++) {
                double m = mask.getDouble(i);
                if (m == 0) {
                    zeros++;
                    assertEquals(0.0, out.getDouble(i), 0.0);
                } else {
                    assertEquals(x.getDouble(i), out.getDouble(i), 0.0);
                }
            }
            assertEquals(expectedMissing, zeros);
            assertEquals(expectedMissing == 0 ? 1.0 : 0.0, op.gramLowerBound());
        }
    }

    @Test
    void maskIsDeterminedByTheSeed() {
        INDArray a = Inpainting.random(20, 25, 0.3, 7).mask();
        INDArray b = Inpainting.random(20, 25, 0.3, 7).mask();
        INDArray c = Inpainting.random(20, 25, 0.3, 8).mask();
        assertArrayEquals(a.data().asDouble(), b.data().asDouble(), 0.0);
        assertNotEquals(0.0, a.sub(c).norm1Number().doubleValue());
    }

    @Test
    void worksInFloatAndRejectsBadMasksAndShapes() {
        Inpainting op = Inpainting.random(4, 5, 0.5, 1);
        INDArray x = gaussian(new Random(2), 4, 5);
        INDArray outD = Nd4j.create(DataType.DOUBLE, 4, 5);
        INDArray outF = Nd4j.create(DataType.FLOAT, 4, 5);
        op.apply(x, outD);
        op.adjoint(x.castTo(DataType.FLOAT), outF);
        assertArrayEquals(outD.castTo(DataType.FLOAT).data().asFloat(), outF.data().asFloat(), 0f);
        assertEquals("inpaint", op.name());
        assertThrows(IllegalArgumentException.class, () -> op.apply(gaussian(new Random(3), 5, 4), outD));
        assertThrows(IllegalArgumentException.class, () -> new Inpainting(Nd4j.createFromArray(new double[][]{{0.5, 1}})));
        assertThrows(IllegalArgumentException.class, () -> Inpainting.random(3, 3, 1.5, 1));
    }
}
