package bilevel.numerics.image;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Random;

import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsTest {

    /** Direct SSIM of Wang et al. 2004: loops over every valid 11×11 window with the 2-D Gaussian weights. */
    private static double naiveSsim(INDArray x, INDArray y) {
        int h = (int) x.size(0);
        int w = (int) x.size(1);
        double[][] win = new double[11][11];
        double total = 0;
        for (int a = 0; a < 11; a++) {
            for (int b = 0; b < 11; b++) {
                win[a][b] = Math.exp(-((a - 5) * (a - 5) + (b - 5) * (b - 5)) / (2 * 1.5 * 1.5));
                total += win[a][b];
            }
        }
        double c1 = 0.01 * 0.01;
        double c2 = 0.03 * 0.03;
        double sum = 0;
        int count = 0;
        for (int i = 0; i + 11 <= h; i++) {
            for (int j = 0; j + 11 <= w; j++) {
                double mx = 0;
                double my = 0;
                for (int a = 0; a < 11; a++) {
                    for (int b = 0; b < 11; b++) {
                        double wt = win[a][b] / total;
                        mx += wt * x.getDouble(i + a, j + b);
                        my += wt * y.getDouble(i + a, j + b);
                    }
                }
                double vx = 0;
                double vy = 0;
                double cxy = 0;
                for (int a = 0; a < 11; a++) {
                    for (int b = 0; b < 11; b++) {
                        double wt = win[a][b] / total;
                        double dx = x.getDouble(i + a, j + b) - mx;
                        double dy = y.getDouble(i + a, j + b) - my;
                        vx += wt * dx * dx;
                        vy += wt * dy * dy;
                        cxy += wt * dx * dy;
                    }
                }
                sum += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count++;
            }
        }
        return sum / count;
    }

    @Test
    void ssimMatchesTheDirectDefinition() {
        Random r = new Random(1);
        int[][] sizes = {{11, 11}, {16, 13}, {20, 25}};
        for (int[] s : sizes) {
            INDArray x = uniform(r, 0, 1, s[0], s[1]);
            INDArray y = x.add(uniform(r, -0.2, 0.2, s[0], s[1]));
            double fast = Metrics.ssim(x, y);
            double naive = naiveSsim(x, y);
            assertEquals(naive, fast, 1e-12, "size " + s[0] + "×" + s[1]);
            assertTrue(fast < 0.99 && fast > -1);
            // also in FLOAT input (converted to double internally)
            assertEquals(naiveSsim(x.castTo(DataType.FLOAT).castTo(DataType.DOUBLE), y.castTo(DataType.FLOAT).castTo(DataType.DOUBLE)),
                    Metrics.ssim(x.castTo(DataType.FLOAT), y.castTo(DataType.FLOAT)), 1e-12);
        }
    }

    @Test
    void ssimOfAnImageWithItselfIsOneAndSsimIsSymmetric() {
        Random r = new Random(2);
        INDArray x = uniform(r, 0, 1, 30, 24);
        INDArray y = uniform(r, 0, 1, 30, 24);
        assertEquals(1.0, Metrics.ssim(x, x), 1e-12);
        assertEquals(Metrics.ssim(x, y), Metrics.ssim(y, x), 1e-14);
        assertTrue(Metrics.ssim(x, y) < 0.2, "independent noise images are dissimilar");
        assertThrows(IllegalArgumentException.class, () -> Metrics.ssim(uniform(r, 0, 1, 10, 30), uniform(r, 0, 1, 10, 30)));
        assertThrows(IllegalArgumentException.class, () -> Metrics.ssim(x, uniform(r, 0, 1, 24, 30)));
    }

    @Test
    void ssimOfAConstantShiftFollowsTheLuminanceTerm() {
        // x constant a, y constant b: σ = 0, so SSIM = (2ab + C1)/(a² + b² + C1) exactly
        INDArray x = Nd4j.zeros(DataType.DOUBLE, 12, 15).addi(0.3);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 12, 15).addi(0.7);
        double c1 = 1e-4;
        assertEquals((2 * 0.3 * 0.7 + c1) / (0.09 + 0.49 + c1), Metrics.ssim(x, y), 1e-12);
    }

    @Test
    void psnrClosedForms() {
        INDArray x = Nd4j.zeros(DataType.DOUBLE, 8, 8).addi(0.5);
        INDArray y = x.add(0.1);                       // MSE = 0.01 → 20 dB
        assertEquals(20.0, Metrics.psnr(y, x), 1e-9);
        INDArray z = x.dup();
        z.putScalar(0, 0, 1.5);                        // MSE = 1/64 → 10·log10(64)
        assertEquals(10 * Math.log10(64), Metrics.psnr(z, x), 1e-9);
        assertEquals(Double.POSITIVE_INFINITY, Metrics.psnr(x, x));
        assertEquals(Metrics.psnr(y, x), Metrics.psnr(x, y), 0.0);
        INDArray yf = y.castTo(DataType.FLOAT);
        assertEquals(20.0, Metrics.psnr(yf, x.castTo(DataType.FLOAT)), 1e-4);
    }

    @Test
    void meanPsnrIsTheMeanOfPerImagePsnrs() {
        INDArray x = Nd4j.zeros(DataType.DOUBLE, 4, 4).addi(0.5);
        INDArray a = x.add(0.1);    // 20 dB
        INDArray b = x.add(0.01);   // 40 dB
        assertEquals(30.0, Metrics.meanPsnr(List.of(a, b), List.of(x, x)), 1e-9);
        // not the PSNR of the pooled MSE (which would be 10·log10(1/0.00505) ≈ 22.97 dB)
        assertThrows(IllegalArgumentException.class, () -> Metrics.meanPsnr(List.of(a), List.of(x, x)));
        assertThrows(IllegalArgumentException.class, () -> Metrics.meanPsnr(List.of(), List.of()));
    }
}
