package bilevel.numerics.conv;

import bilevel.numerics.util.Parallel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;

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
 * and is not thread-safe. {@link #close()} releases them.
 *
 * <p>Implementation (no allocation of arrays per call): the im2col matrix C [cin·k·k, H·W] lives
 * off-heap and is multiplied by ND4J's GEMM (forward: W·C; adjoint: Wᵀ·V into C). The data movement
 * around the GEMM is done in Java on heap arrays with bulk NIO copies, split over
 * {@link Parallel#threads()} threads:
 * <ul>
 *   <li>im2col: x is copied into a zero-bordered heap image x̄ [cin, H+2p, W+2p]; row j = (i, a, b) of C
 *       is then H bulk copies of the W-long row segments x̄_i[r + a, b … b + W).</li>
 *   <li>col2im (the adjoint of im2col): each thread owns a band of rows of a zero-bordered heap
 *       accumulator, reads the matching row segments of C in bulk and adds them with a plain loop the JIT
 *       vectorises; the interior of the accumulator is then copied to the output.</li>
 * </ul>
 * Inputs may be views (non-contiguous inputs are staged through one lazily allocated buffer); outputs
 * of {@link #forward} must be contiguous, outputs of {@link #adjoint} may be views.
 */
public final class Conv2d implements AutoCloseable {
    /** Rows of the col2im accumulator handled per inner band (keeps the band and its sources in L1/L2). */
    private static final int BAND = 16;

    private final int cin;
    private final int cout;
    private final int k;
    private final int p;
    private final int height;
    private final int width;
    private final int hp;       // H + 2p
    private final int wp;       // W + 2p
    private final int plane;    // H·W
    private final int paddedPlane; // hp·wp
    private final DataType dataType;
    private final boolean isDouble;
    private final INDArray cols;      // [cin·k·k, H·W], off-heap
    private final float[] paddedF;    // x̄ for im2col [cin, hp, wp], border stays zero
    private final float[] accF;       // col2im accumulator [cin, hp, wp]
    private final float[][] bandF;    // per-chunk scratch, BAND·W
    private final double[] paddedD;
    private final double[] accD;
    private final double[][] bandD;
    private INDArray stage;           // [cin, H, W], only for non-contiguous inputs/outputs

    public Conv2d(int cin, int cout, int k, int height, int width, DataType dataType) {
        if (k % 2 == 0 || k < 1) {
            throw new IllegalArgumentException("kernel size must be odd and positive, got " + k);
        }
        if (cin < 1 || cout < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("channels and sizes must be positive");
        }
        if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
            throw new IllegalArgumentException("only FLOAT and DOUBLE are supported, got " + dataType);
        }
        long colsLength = (long) cin * k * k * height * width;
        long maxElements = Integer.MAX_VALUE / (dataType == DataType.DOUBLE ? 8 : 4);
        if (colsLength > maxElements) {
            throw new IllegalArgumentException("im2col buffer of " + colsLength + " elements is too large for NIO access");
        }
        this.cin = cin;
        this.cout = cout;
        this.k = k;
        this.p = (k - 1) / 2;
        this.height = height;
        this.width = width;
        this.hp = height + 2 * p;
        this.wp = width + 2 * p;
        this.plane = height * width;
        this.paddedPlane = hp * wp;
        this.dataType = dataType;
        this.isDouble = dataType == DataType.DOUBLE;
        this.cols = Nd4j.create(dataType, (long) cin * k * k, (long) height * width);
        int padLen = cin * paddedPlane;
        int threads = Parallel.threads();
        if (isDouble) {
            paddedD = new double[padLen];
            accD = new double[padLen];
            bandD = new double[threads][BAND * width];
            paddedF = null;
            accF = null;
            bandF = null;
        } else {
            paddedF = new float[padLen];
            accF = new float[padLen];
            bandF = new float[threads][BAND * width];
            paddedD = null;
            accD = null;
            bandD = null;
        }
    }

    public int inChannels() { return cin; }
    public int outChannels() { return cout; }
    public int kernelSize() { return k; }
    public int height() { return height; }
    public int width() { return width; }

    /** FLOPs of one {@link #forward} or {@link #adjoint} (multiply and add counted separately). */
    public double flops() {
        return 2.0 * cout * cin * k * k * (double) plane;
    }

    /**
     * out ← K x. x: [cin, H, W] (or [H, W] when cin = 1), not modified; out: contiguous [cout, H, W],
     * overwritten. weights: [cout, cin·k·k].
     */
    public void forward(INDArray weights, INDArray x, INDArray out) {
        requireContiguous(out);
        requireLength(out, (long) cout * plane, "output");
        im2col(x);
        INDArray out2 = out.reshape('c', cout, (long) plane);
        Nd4j.gemm(weights, cols, out2, false, false, 1.0, 0.0);
    }

    /**
     * out ← Kᵀ v. v: [cout, H, W], not modified; out: [cin, H, W] (or [H, W] when cin = 1), overwritten.
     * weights: [cout, cin·k·k].
     */
    public void adjoint(INDArray weights, INDArray v, INDArray out) {
        requireLength(out, (long) cin * plane, "output");
        INDArray v2 = contiguous(v, (long) cout * plane).reshape('c', cout, (long) plane);
        Nd4j.gemm(weights, v2, cols, true, false, 1.0, 0.0);
        boolean direct = isContiguous(out);
        INDArray target = direct ? out : stage((long) cin * plane);
        long offset = target.offset();
        if (isDouble) {
            DoubleBuffer buf = target.data().asNioDouble();
            Parallel.forRange(hp, BAND, (chunk, from, to) -> col2imDouble(chunk, from, to, buf, (int) offset));
        } else {
            FloatBuffer buf = target.data().asNioFloat();
            Parallel.forRange(hp, BAND, (chunk, from, to) -> col2imFloat(chunk, from, to, buf, (int) offset));
        }
        if (!direct) {
            out.assign(target.reshape(out.shape()));
        }
    }

    /**
     * gradW ← gradW·beta + Σ_{r,c} v[o, r, c] · x̄_i[r + a − p, c + b − p], i.e. the derivative of ⟨v, K_w x⟩
     * with respect to w, as a [cout, cin·k·k] matrix (gradW is modified; x and v are not).
     */
    public void weightGradient(INDArray x, INDArray v, INDArray gradW, double beta) {
        im2col(x);
        INDArray v2 = contiguous(v, (long) cout * plane).reshape('c', cout, (long) plane);
        Nd4j.gemm(v2, cols, gradW, false, true, 1.0, beta);
    }

    // ---------------------------------------------------------------------------------------------
    // im2col: x → x̄ (heap, zero border) → cols (off-heap)

    private void im2col(INDArray x) {
        INDArray src = contiguous(x, (long) cin * plane);
        int offset = (int) src.offset();
        int rowsOfCols = cin * k * k;
        if (isDouble) {
            DoubleBuffer in = src.data().asNioDouble();
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < height; y++) {
                    in.get(offset + i * plane + y * width, paddedD, i * paddedPlane + (y + p) * wp + p, width);
                }
            }
            DoubleBuffer c = cols.data().asNioDouble();
            int colsOffset = (int) cols.offset();
            Parallel.forRange(rowsOfCols, 1, (chunk, from, to) -> {
                for (int j = from; j < to; j++) {
                    int base = tapBase(j);
                    int dst = colsOffset + j * plane;
                    for (int r = 0; r < height; r++) {
                        c.put(dst + r * width, paddedD, base + r * wp, width);
                    }
                }
            });
        } else {
            FloatBuffer in = src.data().asNioFloat();
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < height; y++) {
                    in.get(offset + i * plane + y * width, paddedF, i * paddedPlane + (y + p) * wp + p, width);
                }
            }
            FloatBuffer c = cols.data().asNioFloat();
            int colsOffset = (int) cols.offset();
            Parallel.forRange(rowsOfCols, 1, (chunk, from, to) -> {
                for (int j = from; j < to; j++) {
                    int base = tapBase(j);
                    int dst = colsOffset + j * plane;
                    for (int r = 0; r < height; r++) {
                        c.put(dst + r * width, paddedF, base + r * wp, width);
                    }
                }
            });
        }
    }

    /** Index in x̄ of the top-left source element of im2col row j = (i·k + a)·k + b. */
    private int tapBase(int j) {
        int b = j % k;
        int a = (j / k) % k;
        int i = j / (k * k);
        return i * paddedPlane + a * wp + b;
    }

    // ---------------------------------------------------------------------------------------------
    // col2im: cols (off-heap) → accumulator rows [from, to) of every channel → out rows y with y + p in [from, to)

    private void col2imFloat(int chunk, int from, int to, FloatBuffer out, int outOffset) {
        FloatBuffer c = cols.data().asNioFloat();
        int colsOffset = (int) cols.offset();
        float[] acc = accF;
        float[] band = bandF[chunk];
        for (int i = 0; i < cin; i++) {
            int accBase = i * paddedPlane;
            Arrays.fill(acc, accBase + from * wp, accBase + to * wp, 0f);
            for (int b0 = from; b0 < to; b0 += BAND) {
                int b1 = Math.min(to, b0 + BAND);
                for (int a = 0; a < k; a++) {
                    int rlo = Math.max(0, b0 - a);
                    int rhi = Math.min(height, b1 - a);
                    if (rlo >= rhi) {
                        continue;
                    }
                    for (int b = 0; b < k; b++) {
                        int j = (i * k + a) * k + b;
                        c.get(colsOffset + j * plane + rlo * width, band, 0, (rhi - rlo) * width);
                        for (int r = rlo; r < rhi; r++) {
                            int dst = accBase + (r + a) * wp + b;
                            int srcRow = (r - rlo) * width;
                            for (int col = 0; col < width; col++) {
                                acc[dst + col] += band[srcRow + col];
                            }
                        }
                    }
                }
            }
            int ylo = Math.max(0, from - p);
            int yhi = Math.min(height, to - p);
            for (int y = ylo; y < yhi; y++) {
                out.put(outOffset + i * plane + y * width, acc, accBase + (y + p) * wp + p, width);
            }
        }
    }

    private void col2imDouble(int chunk, int from, int to, DoubleBuffer out, int outOffset) {
        DoubleBuffer c = cols.data().asNioDouble();
        int colsOffset = (int) cols.offset();
        double[] acc = accD;
        double[] band = bandD[chunk];
        for (int i = 0; i < cin; i++) {
            int accBase = i * paddedPlane;
            Arrays.fill(acc, accBase + from * wp, accBase + to * wp, 0.0);
            for (int b0 = from; b0 < to; b0 += BAND) {
                int b1 = Math.min(to, b0 + BAND);
                for (int a = 0; a < k; a++) {
                    int rlo = Math.max(0, b0 - a);
                    int rhi = Math.min(height, b1 - a);
                    if (rlo >= rhi) {
                        continue;
                    }
                    for (int b = 0; b < k; b++) {
                        int j = (i * k + a) * k + b;
                        c.get(colsOffset + j * plane + rlo * width, band, 0, (rhi - rlo) * width);
                        for (int r = rlo; r < rhi; r++) {
                            int dst = accBase + (r + a) * wp + b;
                            int srcRow = (r - rlo) * width;
                            for (int col = 0; col < width; col++) {
                                acc[dst + col] += band[srcRow + col];
                            }
                        }
                    }
                }
            }
            int ylo = Math.max(0, from - p);
            int yhi = Math.min(height, to - p);
            for (int y = ylo; y < yhi; y++) {
                out.put(outOffset + i * plane + y * width, acc, accBase + (y + p) * wp + p, width);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------

    /** a itself if it is a contiguous 'c'-order array of the instance's type, else a staged copy. */
    private INDArray contiguous(INDArray a, long expectedLength) {
        requireLength(a, expectedLength, "input");
        if (isContiguous(a)) {
            return a;
        }
        INDArray view = stage(expectedLength);
        view.reshape(a.shape()).assign(a);
        return view;
    }

    /** The first {@code length} elements of the lazily allocated staging buffer, as a contiguous vector. */
    private INDArray stage(long length) {
        if (stage == null) {
            stage = Nd4j.create(dataType, (long) Math.max(cin, cout) * plane);
        }
        return length == stage.length() ? stage
                : stage.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, length));
    }

    private boolean isContiguous(INDArray a) {
        if (a.dataType() != dataType || a.ordering() != 'c') {
            return false;
        }
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1 && stride[d] != expected) {
                return false;
            }
            expected *= shape[d];
        }
        return true;
    }

    private static void requireLength(INDArray a, long expected, String what) {
        if (a.length() != expected) {
            throw new IllegalArgumentException(what + " has " + a.length() + " elements, expected " + expected);
        }
    }

    private void requireContiguous(INDArray a) {
        if (!isContiguous(a)) {
            throw new IllegalArgumentException("output must be a contiguous 'c'-order array of type "
                    + dataType + ", not a view");
        }
    }

    @Override
    public void close() {
        cols.close();
        if (stage != null) {
            stage.close();
        }
    }
}
