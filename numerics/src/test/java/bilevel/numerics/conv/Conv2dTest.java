package bilevel.numerics.conv;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        int[][] cases = {{1, 4, 3, 7, 9}, {3, 2, 5, 8, 6}, {2, 5, 1, 4, 4}, {1, 6, 7, 41, 37}, {3, 4, 5, 35, 19}, {2, 3, 7, 3, 2}};
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

    /** Direct evaluation of the defining sum, in double. */
    private static double direct(INDArray wts, INDArray x, int o, int y, int xx, int cin, int k, int h, int w) {
        int p = (k - 1) / 2;
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
        return s;
    }

    @Test
    void forwardMatchesDirectSumOnImagesSpanningSeveralBands() {
        Random r = new Random(4);
        int cin = 2, cout = 3, k = 5, h = 39, w = 21;
        try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray x = randn(r, cin, h, w);
            INDArray out = Nd4j.create(DataType.DOUBLE, cout, h, w);
            conv.forward(wts, x, out);
            for (int o = 0; o < cout; o++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        assertEquals(direct(wts, x, o, y, xx, cin, k, h, w), out.getDouble(o, y, xx), 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void adjointMatchesTransposeOfExplicitMatrix() {
        // builds K column by column from unit images and compares Kᵀv with the explicit transpose
        Random r = new Random(5);
        int cin = 2, cout = 2, k = 3, h = 19, w = 5;
        try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE)) {
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray v = randn(r, cout, h, w);
            INDArray ktv = Nd4j.create(DataType.DOUBLE, cin, h, w);
            conv.adjoint(wts, v, ktv);
            INDArray e = Nd4j.create(DataType.DOUBLE, cin, h, w);
            INDArray col = Nd4j.create(DataType.DOUBLE, cout, h, w);
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < h; y++) {
                    for (int xx = 0; xx < w; xx++) {
                        e.assign(0);
                        e.putScalar(new int[] {i, y, xx}, 1.0);
                        conv.forward(wts, e, col);
                        double expected = col.mul(v).sumNumber().doubleValue();
                        assertEquals(expected, ktv.getDouble(i, y, xx), 1e-12);
                    }
                }
            }
        }
    }

    @Test
    void floatAgreesWithDouble() {
        Random r = new Random(6);
        int[][] cases = {{1, 8, 7, 40, 33}, {4, 6, 5, 21, 30}};
        for (int[] c : cases) {
            int cin = c[0], cout = c[1], k = c[2], h = c[3], w = c[4];
            INDArray wts = randn(r, cout, (long) cin * k * k);
            INDArray x = randn(r, cin, h, w);
            INDArray v = randn(r, cout, h, w);
            try (Conv2d cd = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE);
                 Conv2d cf = new Conv2d(cin, cout, k, h, w, DataType.FLOAT)) {
                INDArray kd = Nd4j.create(DataType.DOUBLE, cout, h, w);
                INDArray kf = Nd4j.create(DataType.FLOAT, cout, h, w);
                cd.forward(wts, x, kd);
                cf.forward(wts.castTo(DataType.FLOAT), x.castTo(DataType.FLOAT), kf);
                assertTrue(kd.sub(kf.castTo(DataType.DOUBLE)).norm2Number().doubleValue() < 1e-5 * kd.norm2Number().doubleValue());
                INDArray ad = Nd4j.create(DataType.DOUBLE, cin, h, w);
                INDArray af = Nd4j.create(DataType.FLOAT, cin, h, w);
                cd.adjoint(wts, v, ad);
                cf.adjoint(wts.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), af);
                assertTrue(ad.sub(af.castTo(DataType.DOUBLE)).norm2Number().doubleValue() < 1e-5 * ad.norm2Number().doubleValue());
                INDArray gd = Nd4j.create(DataType.DOUBLE, cout, (long) cin * k * k);
                INDArray gf = Nd4j.create(DataType.FLOAT, cout, (long) cin * k * k);
                cd.weightGradient(x, v, gd, 0.0);
                cf.weightGradient(x.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), gf, 0.0);
                assertTrue(gd.sub(gf.castTo(DataType.DOUBLE)).norm2Number().doubleValue() < 1e-5 * gd.norm2Number().doubleValue());
            }
        }
    }

    @Test
    void viewsAsInputsAndOutputsGiveTheSameResults() {
        Random r = new Random(7);
        int cin = 2, cout = 3, k = 3, h = 18, w = 7;
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            try (Conv2d conv = new Conv2d(cin, cout, k, h, w, type)) {
                INDArray wts = randn(r, cout, (long) cin * k * k).castTo(type);
                INDArray xs = randn(r, 3, cin, h, w).castTo(type);   // slice(1) is a view with an offset
                INDArray vs = randn(r, 2, cout, h, w).castTo(type);
                INDArray xT = randn(r, cin, w, h).castTo(type).permute(0, 2, 1); // non-contiguous
                INDArray ref = Nd4j.create(type, cout, h, w);
                INDArray got = Nd4j.create(type, cout, h, w);
                conv.forward(wts, xs.slice(1).dup(), ref);
                conv.forward(wts, xs.slice(1), got);
                assertEquals(0.0, ref.sub(got).norm2Number().doubleValue(), 0.0);
                conv.forward(wts, xT.dup('c'), ref);
                conv.forward(wts, xT, got);
                assertEquals(0.0, ref.sub(got).norm2Number().doubleValue(), 0.0);
                INDArray aref = Nd4j.create(type, cin, h, w);
                INDArray outs = Nd4j.create(type, 2, cin, h, w);
                INDArray outT = Nd4j.create(type, cin, w, h).permute(0, 2, 1);
                conv.adjoint(wts, vs.slice(1).dup(), aref);
                conv.adjoint(wts, vs.slice(1), outs.slice(1));
                assertEquals(0.0, aref.sub(outs.slice(1)).norm2Number().doubleValue(), 0.0);
                assertEquals(0.0, outs.slice(0).norm2Number().doubleValue(), 0.0, "adjoint wrote outside its output view");
                conv.adjoint(wts, vs.slice(1), outT);
                assertEquals(0.0, aref.sub(outT).norm2Number().doubleValue(), 0.0);
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

    private static double rel(INDArray a, INDArray b) {
        return a.sub(b).norm2Number().doubleValue() / Math.max(1e-300, b.norm2Number().doubleValue());
    }

    @Test
    void bandedComputationAgreesWithOneBand() {
        Random r = new Random(8);
        int[][] cases = {{1, 5, 7, 23, 17, 4}, {3, 4, 5, 20, 9, 3}, {2, 3, 3, 11, 8, 1}, {2, 2, 5, 9, 6, 7}};
        for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
            double tol = type == DataType.DOUBLE ? 1e-13 : 1e-6;
            for (int[] c : cases) {
                int cin = c[0], cout = c[1], k = c[2], h = c[3], w = c[4], rows = c[5];
                INDArray wts = randn(r, cout, (long) cin * k * k).castTo(type);
                INDArray x = randn(r, cin, h, w).castTo(type);
                INDArray v = randn(r, cout, h, w).castTo(type);
                try (Conv2d one = new Conv2d(cin, cout, k, h, w, type, h);
                     Conv2d banded = new Conv2d(cin, cout, k, h, w, type, rows)) {
                    INDArray a = Nd4j.create(type, cout, h, w);
                    INDArray b = Nd4j.create(type, cout, h, w);
                    one.forward(wts, x, a);
                    banded.forward(wts, x, b);
                    assertTrue(rel(b, a) < tol, "forward, case " + java.util.Arrays.toString(c));
                    INDArray ta = Nd4j.create(type, cin, h, w);
                    INDArray tb = Nd4j.create(type, cin, h, w);
                    one.adjoint(wts, v, ta);
                    banded.adjoint(wts, v, tb);
                    assertTrue(rel(tb, ta) < tol, "adjoint, case " + java.util.Arrays.toString(c));
                    INDArray ga = Nd4j.create(type, cout, (long) cin * k * k);
                    INDArray gb = Nd4j.create(type, cout, (long) cin * k * k).assign(1.0);
                    one.weightGradient(x, v, ga, 0.0);
                    banded.weightGradient(x, v, gb, 0.0);
                    assertTrue(rel(gb, ga) < tol, "weight gradient, case " + java.util.Arrays.toString(c));
                    // beta accumulates once, not once per band
                    banded.weightGradient(x, v, gb, 2.0);
                    assertTrue(rel(gb, ga.mul(3)) < tol, "weight gradient with beta, case " + java.util.Arrays.toString(c));
                }
            }
        }
    }

    @Test
    void sandwichEqualsForwardMapAdjoint() {
        Random r = new Random(9);
        int cin = 2, cout = 3, k = 5, h = 17, w = 10;
        for (int rows : new int[] {17, 4, 1}) {
            try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.DOUBLE, rows)) {
                INDArray wts = randn(r, cout, (long) cin * k * k);
                INDArray x = randn(r, cin, h, w);
                INDArray scale = randn(r, cout, h, w);
                // M(u)[o, y, c] = tanh(u) · scale[o, y, c]: nonlinear and position dependent
                INDArray kx = Nd4j.create(DataType.DOUBLE, cout, h, w);
                conv.forward(wts, x, kx);
                INDArray mapped = org.nd4j.linalg.ops.transforms.Transforms.tanh(kx, true).muli(scale);
                INDArray expected = Nd4j.create(DataType.DOUBLE, cin, h, w);
                conv.adjoint(wts, mapped, expected);
                INDArray got = Nd4j.create(DataType.DOUBLE, cin, h, w);
                int[] calls = {0};
                conv.sandwich(wts, x, (resp, firstRow, n) -> {
                    calls[0]++;
                    INDArray band = resp.reshape('c', cout, n, w);
                    for (int o = 0; o < cout; o++) {
                        for (int y = 0; y < n; y++) {
                            for (int c = 0; c < w; c++) {
                                double u = band.getDouble(o, y, c);
                                band.putScalar(new int[] {o, y, c}, Math.tanh(u) * scale.getDouble(o, firstRow + y, c));
                            }
                        }
                    }
                }, got);
                assertEquals((h + rows - 1) / rows, calls[0]);
                assertTrue(rel(got, expected) < 1e-13, "bands of " + rows + " rows");
            }
        }
    }
}
