package bilevel.numerics.conv;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Multi-channel 2-D correlation with zero padding ("same" output size) and its exact adjoint:
 *
 * <pre>
 *   (K x)_o[r, c] = Σ_i Σ_{a,b} w[o, i, a, b] · x̄_i[r + a − p, c + b − p],   p = (k − 1)/2,
 * </pre>
 * where x̄ is x extended by zeros. The adjoint is (Kᵀ v)_i = Σ_o (rotated w[o, i]) ⋆ v_o with the same
 * zero extension, computed here as the transpose of the im2col + GEMM formulation, so ⟨Kx, v⟩ = ⟨x, Kᵀv⟩
 * holds to rounding error by construction.
 *
 * <p>Shapes: input [cin, H, W], output [cout, H, W], weights [cout, cin·k·k] (row o holds w[o, i, a, b]
 * at column (i·k + a)·k + b). One instance serves one image size and data type, owns its work buffers
 * (im2col matrix, padded image) and is not thread-safe. {@link #close()} releases them.
 */
public final class Conv2d implements AutoCloseable {
    private final int cin;
    private final int cout;
    private final int k;
    private final int height;
    private final int width;
    private final INDArray cols;      // [cin·k·k, H·W]
    private final INDArray padded;    // [cin, H + k − 1, W + k − 1]
    private final INDArray[] colViews;    // colViews[j] : [H, W] view of row j of cols
    private final INDArray[] windowViews; // windowViews[j] : [H, W] view into padded
    private final INDArray paddedInterior;  // [cin, H, W]

    public Conv2d(int cin, int cout, int k, int height, int width, DataType dataType) {
        if (k % 2 == 0 || k < 1) {
            throw new IllegalArgumentException("kernel size must be odd and positive, got " + k);
        }
        this.cin = cin;
        this.cout = cout;
        this.k = k;
        this.height = height;
        this.width = width;
        int p = (k - 1) / 2;
        this.cols = Nd4j.create(dataType, (long) cin * k * k, (long) height * width);
        this.padded = Nd4j.create(dataType, cin, height + k - 1, width + k - 1);
        this.colViews = new INDArray[cin * k * k];
        this.windowViews = new INDArray[cin * k * k];
        INDArray cols3 = cols.reshape('c', (long) cin * k * k, height, width);
        for (int i = 0; i < cin; i++) {
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    int j = (i * k + a) * k + b;
                    colViews[j] = cols3.get(NDArrayIndex.point(j), NDArrayIndex.all(), NDArrayIndex.all());
                    windowViews[j] = padded.get(NDArrayIndex.point(i),
                            NDArrayIndex.interval(a, a + height), NDArrayIndex.interval(b, b + width));
                }
            }
        }
        this.paddedInterior = padded.get(NDArrayIndex.all(),
                NDArrayIndex.interval(p, p + height), NDArrayIndex.interval(p, p + width));
    }

    public int inChannels() { return cin; }
    public int outChannels() { return cout; }
    public int kernelSize() { return k; }
    public int height() { return height; }
    public int width() { return width; }

    /** out ← K x. x: [cin, H, W] (or [H, W] when cin = 1); out: [cout, H, W]. weights: [cout, cin·k·k]. */
    public void forward(INDArray weights, INDArray x, INDArray out) {
        padded.assign(0);   // adjoint() accumulates into the border: the zero extension must be restored
        paddedInterior.assign(x.reshape(cin, height, width));
        for (int j = 0; j < colViews.length; j++) {
            colViews[j].assign(windowViews[j]);
        }
        requireContiguous(out);
        INDArray out2 = out.reshape('c', cout, (long) height * width);
        Nd4j.gemm(weights, cols, out2, false, false, 1.0, 0.0);
    }

    /** out ← Kᵀ v. v: [cout, H, W]; out: [cin, H, W] (or [H, W] when cin = 1). */
    public void adjoint(INDArray weights, INDArray v, INDArray out) {
        INDArray v2 = v.reshape('c', cout, (long) height * width);
        Nd4j.gemm(weights, v2, cols, true, false, 1.0, 0.0);
        padded.assign(0);
        for (int j = 0; j < colViews.length; j++) {
            windowViews[j].addi(colViews[j]);
        }
        out.reshape(cin, height, width).assign(paddedInterior);
    }

    /**
     * gradW ← gradW·beta + Σ_{r,c} v[o, r, c] · x̄_i[r + a − p, c + b − p], i.e. the derivative of ⟨v, K_w x⟩
     * with respect to w, as a [cout, cin·k·k] matrix. Uses the im2col buffer of x.
     */
    public void weightGradient(INDArray x, INDArray v, INDArray gradW, double beta) {
        padded.assign(0);   // see forward()
        paddedInterior.assign(x.reshape(cin, height, width));
        for (int j = 0; j < colViews.length; j++) {
            colViews[j].assign(windowViews[j]);
        }
        INDArray v2 = v.reshape('c', cout, (long) height * width);
        Nd4j.gemm(v2, cols, gradW, false, true, 1.0, beta);
    }

    private static void requireContiguous(INDArray a) {
        if (a.isView() || a.ordering() != 'c') {
            throw new IllegalArgumentException("output must be a contiguous 'c'-order array, not a view");
        }
    }

    @Override
    public void close() {
        cols.close();
        padded.close();
    }
}
