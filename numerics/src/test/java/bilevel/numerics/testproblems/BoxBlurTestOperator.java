package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Test-scope 3×3 blur with zero boundary and a non-symmetric kernel (so the adjoint is exercised):
 * (A x)[r, c] = Σ_{a,b ∈ {−1,0,1}} k[a+1][b+1] x[r+a, c+b]. ‖A‖ ≤ ‖k‖₁ = 1 (Young's inequality), and
 * A has no known positive Gram lower bound.
 */
public final class BoxBlurTestOperator implements LinearOperator {
    private static final double[][] KERNEL = {
            {0.05, 0.10, 0.05},
            {0.10, 0.30, 0.15},
            {0.05, 0.15, 0.05}};

    @Override
    public long[] rangeShape(long[] imageShape) {
        return imageShape.clone();
    }

    private static void correlate(INDArray x, INDArray out, boolean transpose) {
        int h = (int) x.size(0);
        int w = (int) x.size(1);
        double[] in = Dense.vector(x);
        double[] res = new double[h * w];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                double s = 0;
                for (int a = -1; a <= 1; a++) {
                    for (int b = -1; b <= 1; b++) {
                        int rr = r + a;
                        int cc = c + b;
                        if (rr < 0 || rr >= h || cc < 0 || cc >= w) {
                            continue;
                        }
                        double k = transpose ? KERNEL[1 - a][1 - b] : KERNEL[a + 1][b + 1];
                        s += k * in[rr * w + cc];
                    }
                }
                res[r * w + c] = s;
            }
        }
        out.assign(Dense.image(res, h, w));
    }

    @Override
    public void apply(INDArray x, INDArray out) {
        correlate(x, out, false);
    }

    @Override
    public void adjoint(INDArray y, INDArray out) {
        correlate(y, out, true);
    }

    @Override
    public Bound normBound() {
        return Bound.certified(1.0);
    }

    @Override
    public double gramLowerBound() {
        return 0;
    }

    @Override
    public String name() {
        return "test-blur";
    }
}
