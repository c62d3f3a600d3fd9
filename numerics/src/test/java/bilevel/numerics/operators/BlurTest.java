package bilevel.numerics.operators;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Contract checks for a normalized Gaussian PSF, plus blur-specific checks; nested classes cover other PSFs. */
class BlurTest extends LinearOperatorContract {

    @Override
    protected LinearOperator operator() {
        return Blur.gaussian(5, 1.2);
    }

    /** An asymmetric PSF with negative entries (exercises flipping and the ‖k‖₁ bound). */
    static INDArray asymmetricPsf(int s, long seed) {
        return gaussian(new Random(seed), s, s);
    }

    @Nested
    class AsymmetricThreeByThree extends LinearOperatorContract {
        @Override
        protected LinearOperator operator() {
            return new Blur(asymmetricPsf(3, 5));
        }
    }

    @Nested
    class LargePsfOnSmallImage extends LinearOperatorContract {
        @Override
        protected LinearOperator operator() {
            return new Blur(asymmetricPsf(9, 6));   // PSF wider than the 6×4 image's half size
        }

        @Override
        protected long height() { return 6; }

        @Override
        protected long width() { return 4; }
    }

    @Nested
    class OneByOne extends LinearOperatorContract {
        @Override
        protected LinearOperator operator() {
            return new Blur(Nd4j.createFromArray(new double[][]{{-0.7}}));
        }
    }

    /** Direct evaluation of (A x)[r, c] = Σ k[a, b] x̄[r − a + p, c − b + p]. */
    private static INDArray directConvolution(INDArray k, INDArray x) {
        int s = (int) k.size(0);
        int p = (s - 1) / 2;
        int h = (int) x.size(0);
        int w = (int) x.size(1);
        INDArray out = Nd4j.create(DataType.DOUBLE, h, w);
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                double sum = 0;
                for (int a = 0; a < s; a++) {
                    for (int b = 0; b < s; b++) {
                        int i = r - a + p;
                        int j = c - b + p;
                        if (i >= 0 && i < h && j >= 0 && j < w) {
                            sum += k.getDouble(a, b) * x.getDouble(i, j);
                        }
                    }
                }
                out.putScalar(r, c, sum);
            }
        }
        return out;
    }

    @Test
    void blurOfADeltaIsThePsf() {
        INDArray k = asymmetricPsf(5, 7);
        Blur blur = new Blur(k);
        INDArray delta = Nd4j.create(DataType.DOUBLE, 11, 12);
        delta.putScalar(4, 6, 1.0);
        INDArray out = Nd4j.create(DataType.DOUBLE, 11, 12);
        blur.apply(delta, out);
        for (int r = 0; r < 11; r++) {
            for (int c = 0; c < 12; c++) {
                int a = r - 4 + 2;
                int b = c - 6 + 2;
                double expected = (a >= 0 && a < 5 && b >= 0 && b < 5) ? k.getDouble(a, b) : 0.0;
                assertEquals(expected, out.getDouble(r, c), 0.0, "pixel (" + r + ", " + c + ")");
            }
        }
    }

    @Test
    void applyMatchesTheDirectSumWithZeroBoundaryInBothTypes() {
        Random random = new Random(8);
        INDArray k = asymmetricPsf(5, 9);
        Blur blur = new Blur(k);
        INDArray x = gaussian(random, 9, 13);
        INDArray expected = directConvolution(k, x);
        INDArray out = Nd4j.create(DataType.DOUBLE, 9, 13);
        blur.apply(x, out);
        assertTrue(norm(out.sub(expected)) <= 1e-13 * norm(expected));
        INDArray outF = Nd4j.create(DataType.FLOAT, 9, 13);
        blur.apply(x.castTo(DataType.FLOAT), outF);
        assertTrue(norm(outF.castTo(DataType.DOUBLE).sub(expected)) <= 1e-5 * norm(expected));
        // a second shape uses its own buffers and the first still works
        INDArray y = gaussian(random, 4, 6);
        INDArray outY = Nd4j.create(DataType.DOUBLE, 4, 6);
        blur.apply(y, outY);
        assertTrue(norm(outY.sub(directConvolution(k, y))) <= 1e-13 * norm(outY));
        blur.apply(x, out);
        assertTrue(norm(out.sub(expected)) <= 1e-13 * norm(expected));
    }

    @Test
    void adjointIsCorrelationWithThePsf() {
        Random random = new Random(10);
        INDArray k = asymmetricPsf(3, 11);
        Blur blur = new Blur(k);
        INDArray y = gaussian(random, 7, 8);
        INDArray out = Nd4j.create(DataType.DOUBLE, 7, 8);
        blur.adjoint(y, out);
        // correlation with k = convolution with the flipped PSF
        INDArray flipped = Nd4j.create(DataType.DOUBLE, 3, 3);
        for (int a = 0; a < 3; a++) {
            for (int b = 0; b < 3; b++) {
                flipped.putScalar(a, b, k.getDouble(2 - a, 2 - b));
            }
        }
        INDArray expected = directConvolution(flipped, y);
        assertTrue(norm(out.sub(expected)) <= 1e-13 * norm(expected));
    }

    @Test
    void gaussianPsfIsNormalizedSymmetricAndItsNormBoundIsOne() {
        Blur blur = Blur.gaussian(7, 1.6);
        INDArray k = blur.psf();
        assertEquals(1.0, k.sumNumber().doubleValue(), 1e-14);
        for (int a = 0; a < 7; a++) {
            for (int b = 0; b < 7; b++) {
                assertEquals(k.getDouble(a, b), k.getDouble(b, a), 0.0);
                assertEquals(k.getDouble(a, b), k.getDouble(6 - a, b), 0.0);
                double d2 = (a - 3) * (a - 3) + (b - 3) * (b - 3);
                assertEquals(Math.exp(-d2 / (2 * 1.6 * 1.6)) * k.getDouble(3, 3), k.getDouble(a, b), 1e-15);
            }
        }
        assertEquals(1.0, blur.normBound().value(), 1e-12);
        assertTrue(blur.normBound().certified());
        assertEquals(0.0, blur.gramLowerBound());
        assertEquals("blur", blur.name());
        assertThrows(IllegalArgumentException.class, () -> Blur.gaussian(4, 1.0));
        assertThrows(IllegalArgumentException.class, () -> new Blur(Nd4j.create(DataType.DOUBLE, 3, 5)));
    }

    @Test
    void normBoundIsTheL1NormOfThePsf() {
        INDArray k = asymmetricPsf(5, 12);
        double l1 = 0;
        for (int i = 0; i < 25; i++) {
            l1 += Math.abs(k.getDouble(i));
        }
        assertEquals(l1, new Blur(k).normBound().value(), 1e-12 * l1);
        assertTrue(new Blur(k).normBound().value() >= l1);
    }
}
