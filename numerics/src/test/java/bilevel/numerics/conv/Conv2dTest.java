package bilevel.numerics.conv;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Conv2dTest {

    private static INDArray randn(Random r, long... shape) {
        INDArray a = Nd4j.create(DataType.DOUBLE, shape);
        for (long i = 0; i < a.length(); i++) {
            a.putScalar(i, r.nextGaussian());
        }
        return a;
    }

    @Test
    void adjointIdentityHolds() {
        Random r = new Random(1);
        int[][] cases = {{1, 4, 3, 7, 9}, {3, 2, 5, 8, 6}, {2, 5, 1, 4, 4}};
        for (int[] c : cases) {
            int cin = c[0], cout = c[1], k = c[2], h = c[3], w = c[4];
            try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
                INDArray wts = randn(r, cout, (long) cin * k * k);
                INDArray x = randn(r, cin, h, w);
                INDArray v = randn(r, cout, h, w);
                INDArray kx = Nd4j.create(DataType.DOUBLE, cout, h, w);
                INDArray ktv = Nd4j.create(DataType.DOUBLE, cin, h, w);
                conv.forward(wts, x, kx);
                conv.adjoint(wts, v, ktv);
                double lhs = kx.mul(v).sumNumber().doubleValue();
                double rhs = x.mul(ktv).sumNumber().doubleValue();
                assertEquals(lhs, rhs, 1e-10 * Math.max(1, Math.abs(lhs)));
            }
        }
    }

    @Test
    void forwardMatchesDirectSum() {
        Random r = new Random(2);
        int cin = 2, cout = 3, k = 3, h = 5, w = 6, p = 1;
        try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray x = randn(r, cin, h, w);
            INDArray out = Nd4j.create(DataType.DOUBLE, cout, h, w);
            conv.forward(wts, x, out);
            for (int o = 0; o < cout; o++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        double s = 0;
                        for (int i = 0; i < cin; i++) {
                            for (int a = 0; a < k; a++) {
                                for (int b = 0; b < k; b++) {
                                    int yy = y + a - p, xc = xx + b - p;
                                    if (yy >= 0 && yy < h && xc >= 0 && xc < w) {
                                        s += wts.getDouble(o, (i * k + a) * k + b) * x.getDouble(i, yy, xc);
                                    }
                                }
                            }
                        }
                        assertEquals(s, out.getDouble(o, y, xx), 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void weightGradientIsDerivativeOfPairing() {
        Random r = new Random(3);
        int cin = 2, cout = 2, k = 3, h = 4, w = 5;
        try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray x = randn(r, cin, h, w);
            INDArray v = randn(r, cout, h, w);
            INDArray g = Nd4j.create(DataType.DOUBLE, cout, (long) cin * k * k);
            conv.weightGradient(x, v, g, 0.0);
            INDArray out = Nd4j.create(DataType.DOUBLE, cout, h, w);
            // pairing is linear in w: <v, K_{e_j} x> equals g_j exactly
            for (int o = 0; o < cout; o++) {
                for (int j = 0; j < cin * k * k; j++) {
                    INDArray e = Nd4j.create(DataType.DOUBLE, cout, (long) cin * k * k);
                    e.putScalar(o, j, 1.0);
                    conv.forward(e, x, out);
                    assertEquals(out.mul(v).sumNumber().doubleValue(), g.getDouble(o, j), 1e-12);
                }
            }
        }
    }

    /** Regression: adjoint() writes into the padding buffer's border, which forward() must not see. */
    @Test
    void forwardAfterAdjointIsUnchanged() {
        Random r = new Random(4);
        int cin = 1, cout = 3, k = 3, h = 9, w = 7;
        try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray x = randn(r, cin, h, w);
            INDArray v = randn(r, cout, h, w);
            INDArray before = Nd4j.create(DataType.DOUBLE, cout, h, w);
            INDArray after = Nd4j.create(DataType.DOUBLE, cout, h, w);
            INDArray gradBefore = Nd4j.create(DataType.DOUBLE, cout, (long) cin * k * k);
            INDArray gradAfter = Nd4j.create(DataType.DOUBLE, cout, (long) cin * k * k);
            conv.forward(wts, x, before);
            conv.weightGradient(x, v, gradBefore, 0.0);
            conv.adjoint(wts, v, Nd4j.create(DataType.DOUBLE, cin, h, w));
            conv.forward(wts, x, after);
            assertEquals(0.0, before.sub(after).norm2Number().doubleValue(), 0.0);
            conv.adjoint(wts, v, Nd4j.create(DataType.DOUBLE, cin, h, w));
            conv.weightGradient(x, v, gradAfter, 0.0);
            assertEquals(0.0, gradBefore.sub(gradAfter).norm2Number().doubleValue(), 0.0);
        }
    }
}
