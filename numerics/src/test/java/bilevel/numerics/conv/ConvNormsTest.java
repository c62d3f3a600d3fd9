package bilevel.numerics.conv;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConvNormsTest {

    private static double[] randomWeights(Random r, int len) {
        double[] w = new double[len];
        for (int i = 0; i < len; i++) {
            w[i] = r.nextGaussian();
        }
        return w;
    }

    private static double maxAbs(INDArray a) {
        return a.castTo(DataType.DOUBLE).amaxNumber().doubleValue();
    }

    /** Power iteration on KᵀK (a lower estimate of ‖K‖₂) must not exceed the Schur bound; nor may random ratios. */
    @Test
    void normBoundsDominateTheOperator() {
        Random r = new Random(1);
        int[][] cases = {{1, 3, 3, 9, 8}, {3, 2, 5, 7, 7}, {2, 4, 1, 5, 6}, {4, 4, 3, 6, 5}};
        for (int[] c : cases) {
            int cin = c[0], cout = c[1], k = c[2], h = c[3], wd = c[4];
            double[] w = randomWeights(r, cout * cin * k * k);
            double schur = ConvNorms.spectralBound(w, 0, cout, cin, k);
            double rowSum = ConvNorms.maxRowSum(w, 0, cout, cin, k);
            double colSum = ConvNorms.maxColumnSum(w, 0, cout, cin, k);
            double rowL2 = ConvNorms.maxOutputChannelL2(w, 0, cout, cin, k);
            double colL2 = ConvNorms.maxInputChannelL2(w, 0, cout, cin, k);
            double wNorm = norm(w);
            try (Conv2d conv = new Conv2d(cin, cout, k, h, wd, DataType.DOUBLE);
                 Conv2d convAdj = new Conv2d(cin, cout, k, h, wd, DataType.DOUBLE)) {
                INDArray wts = Nd4j.create(w, new long[]{cout, (long) cin * k * k}, DataType.DOUBLE);
                INDArray x = gaussian(r, cin, h, wd);
                INDArray kx = Nd4j.create(DataType.DOUBLE, cout, h, wd);
                INDArray ktkx = Nd4j.create(DataType.DOUBLE, cin, h, wd);
                double est = 0;
                for (int it = 0; it < 200; it++) {
                    x.divi(norm(x));
                    conv.forward(wts, x, kx);
                    convAdj.adjoint(wts, kx, ktkx);
                    est = Math.sqrt(norm(ktkx));
                    x.assign(ktkx);
                }
                assertTrue(est <= schur * (1 + 1e-12), "power iteration " + est + " exceeds Schur bound " + schur);
                assertTrue(est <= ConvNorms.parameterToOperator(k) * wNorm * (1 + 1e-12), "power iteration exceeds k‖w‖");
                for (int trial = 0; trial < 5; trial++) {
                    INDArray z = gaussian(r, cin, h, wd);
                    INDArray v = gaussian(r, cout, h, wd);
                    if (trial == 0) {
                        z = Nd4j.ones(DataType.DOUBLE, cin, h, wd);   // sign patterns matter for ℓ∞
                        v = Nd4j.ones(DataType.DOUBLE, cout, h, wd);
                    }
                    conv.forward(wts, z, kx);
                    convAdj.adjoint(wts, v, ktkx);
                    assertTrue(norm(kx) <= schur * norm(z) * (1 + 1e-12));
                    assertTrue(norm(ktkx) <= schur * norm(v) * (1 + 1e-12));
                    assertTrue(maxAbs(kx) <= rowSum * maxAbs(z) * (1 + 1e-12));
                    assertTrue(maxAbs(ktkx) <= colSum * maxAbs(v) * (1 + 1e-12));
                    assertTrue(maxAbs(kx) <= rowL2 * norm(z) * (1 + 1e-12));
                    assertTrue(maxAbs(ktkx) <= colL2 * norm(v) * (1 + 1e-12));
                }
            }
        }
    }

    @Test
    void boundsAreTightForAnImpulseKernel() {
        // A single centred tap of value 2 on every (o, i) block: M = 2·ones(cout, cin), K = 2·(ones ⊗ I).
        int cin = 2, cout = 3, k = 3;
        double[] w = new double[cout * cin * k * k];
        for (int o = 0; o < cout; o++) {
            for (int i = 0; i < cin; i++) {
                w[(o * cin + i) * k * k + 4] = 2;
            }
        }
        // ‖K‖ = 2·‖ones(3,2)‖ = 2√6, Schur: √(row sum 4 · column sum 6) = √24 = 2√6.
        assertEquals(2 * Math.sqrt(6), ConvNorms.spectralBound(w, 0, cout, cin, k), 1e-12);
        assertEquals(4, ConvNorms.maxRowSum(w, 0, cout, cin, k), 0);
        assertEquals(6, ConvNorms.maxColumnSum(w, 0, cout, cin, k), 0);
        assertEquals(2 * Math.sqrt(2), ConvNorms.maxOutputChannelL2(w, 0, cout, cin, k), 1e-12);
        assertEquals(2 * Math.sqrt(3), ConvNorms.maxInputChannelL2(w, 0, cout, cin, k), 1e-12);
        double[] scale = {1, 0, 3};
        // rows scaled by (1, 0, 3): M = [[2,2],[0,0],[6,6]] → √(12 · 8)
        assertEquals(Math.sqrt(96), ConvNorms.spectralBound(w, 0, cout, cin, k, scale), 1e-12);
    }
}
