package bilevel.numerics.image;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NoiseTest {

    @Test
    void sameSeedGivesTheSameNoiseAndDifferentSeedsDiffer() {
        INDArray clean = uniform(new Random(1), 0, 1, 20, 30);
        INDArray a = Noise.addGaussian(clean, 25, 42);
        INDArray b = Noise.addGaussian(clean, 25, 42);
        INDArray c = Noise.addGaussian(clean, 25, 43);
        ImagesTest.assertExactlyEqual(a, b);
        long differing = 0;
        for (long i = 0; i < a.length(); i++) {
            if (a.getDouble(i) != c.getDouble(i)) {
                differing++;
            }
        }
        assertEquals(a.length(), differing, "a different seed must change every pixel");
    }

    @Test
    void noiseIsTheDocumentedJdkSequence() {
        INDArray clean = uniform(new Random(2), 0, 1, 4, 5);
        INDArray noisy = Noise.addGaussian(clean, 15, 7);
        Random reference = new Random(7);
        for (long i = 0; i < clean.length(); i++) {
            assertEquals(clean.getDouble(i) + 15 / 255.0 * reference.nextGaussian(), noisy.getDouble(i), 0.0);
        }
    }

    @Test
    void cleanImageIsNotModifiedAndShapeAndTypeAreKept() {
        INDArray clean = uniform(new Random(3), 0, 1, 6, 9);
        INDArray copy = clean.dup();
        INDArray noisy = Noise.addGaussian(clean, 50, 1);
        ImagesTest.assertExactlyEqual(copy, clean);
        assertArrayEquals(clean.shape(), noisy.shape());
        assertEquals(DataType.DOUBLE, noisy.dataType());
        INDArray f = Noise.addGaussian(clean.castTo(DataType.FLOAT), 50, 1);
        assertEquals(DataType.FLOAT, f.dataType());
        ImagesTest.assertExactlyEqual(Noise.addGaussian(clean, 0, 1), clean);
        assertThrows(IllegalArgumentException.class, () -> Noise.addGaussian(clean, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> Noise.addGaussian(clean, Double.NaN, 1));
    }

    @Test
    void floatAndDoubleInputsAgreeUpToRounding() {
        INDArray clean = uniform(new Random(4), 0, 1, 32, 32).castTo(DataType.FLOAT).castTo(DataType.DOUBLE);
        INDArray d = Noise.addGaussian(clean, 25, 9);
        INDArray f = Noise.addGaussian(clean.castTo(DataType.FLOAT), 25, 9);
        ImagesTest.assertExactlyEqual(d.castTo(DataType.FLOAT), f);
    }

    @Test
    void noiseHasTheRequestedStandardDeviationAndNoClipping() {
        int h = 256;
        int w = 256;
        INDArray clean = Nd4j.zeros(DataType.DOUBLE, h, w).addi(0.5);
        double sigma255 = 25;
        INDArray noisy = Noise.addGaussian(clean, sigma255, 2024);
        INDArray z = noisy.sub(clean);
        int n = h * w;
        double mean = z.sumNumber().doubleValue() / n;
        double var = z.mul(z).sumNumber().doubleValue() / n - mean * mean;
        double sigma = sigma255 / 255;
        // standard errors: mean σ/√n ≈ 3.8e-4, std σ/√(2n) ≈ 2.7e-4; allow 5 standard errors
        assertEquals(0, mean, 5 * sigma / Math.sqrt(n));
        assertEquals(sigma, Math.sqrt(var), 5 * sigma / Math.sqrt(2.0 * n));
        // no clipping: with σ = 25/255 around 0.5, values beyond [0, 1] occur (P ≈ 3e-7 per pixel is tiny,
        // so use a brighter image) — at 0.95 about 30% of pixels exceed 1
        INDArray bright = Noise.addGaussian(Nd4j.zeros(DataType.DOUBLE, 64, 64).addi(0.95), sigma255, 5);
        assertTrue(bright.maxNumber().doubleValue() > 1.0);
    }
}
