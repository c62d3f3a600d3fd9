package bilevel.numerics.conv;

import bilevel.numerics.util.Parallel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.ByteBuffer;
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
 * <h2>Implementation</h2>
 * The image is processed in bands of rows small enough that the band's im2col matrix
 * C_b [cin·k·k, rows·W] (≈ {@value #BAND_ELEMENTS} elements) and its responses [cout, rows·W] stay
 * moderate; each band is one ND4J GEMM (forward W·C_b, adjoint Wᵀ·V_b into C_b). The data movement around
 * the GEMMs is Java on heap arrays with bulk NIO copies, split over {@link Parallel#threads()} threads:
 * <ul>
 *   <li>im2col: x is copied once into a zero-bordered heap image x̄ [cin, H+2p, W+2p]; row j = (i, a, b)
 *       of C_b is then a sequence of W-long bulk copies x̄_i[r + a, b … b + W).</li>
 *   <li>col2im (the adjoint of im2col): the threads own disjoint rows of a zero-bordered heap
 *       accumulator [cin, H+2p, W+2p], read the matching row segments of C_b in bulk and add them with a
 *       plain loop the JIT vectorises; the accumulator's interior is copied to the output at the end.</li>
 * </ul>
 * No arrays are allocated per call. {@link #sandwich} fuses forward, a pointwise map and adjoint band by
 * band, so the [cout, H, W] responses are never stored (the pattern Kᵀ ψ(K x) of field-of-experts and
 * ridge regularizers). Inputs may be views (non-contiguous inputs are staged through one lazily
 * allocated buffer); outputs may be views.
 */
public final class Conv2d implements AutoCloseable {

    /** A pointwise map applied to the responses of one band of rows, in place. */
    @FunctionalInterface
    public interface BandMap {
        /**
         * @param responses contiguous [cout, rows·W] array: channel o's responses for image rows
         *                  [firstRow, firstRow + rows) at elements [o·rows·W, (o + 1)·rows·W); modify in place
         * @param firstRow  first image row of the band
         * @param rows      number of rows in the band
         */
        void apply(INDArray responses, int firstRow, int rows);
    }

    /**
     * Target number of elements of one band's im2col matrix (16 MB in float). Measured at 256×256 on
     * 2 cores: smaller bands (≈ 1.6 MB, cache-resident) were not faster on a quiet machine (the band
     * copies cost what the cache saves) and much slower on a loaded one (every band adds fork/join points),
     * so the 1 → 48, 7×7 case is one band and 8 → 32, 5×5 four.
     */
    static final int BAND_ELEMENTS = 4_000_000;
    /** Rows of a col2im sub-band read into the per-thread scratch at a time. */
    private static final int SUB_BAND = 16;

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
    private final int taps;     // cin·k·k, rows of the im2col matrix
    private final int bandRows;
    private final int bands;
    private final int elementSize;
    private final DataType dataType;
    private final boolean isDouble;
    private final INDArray colsStorage;   // taps·bandRows·W elements
    private final INDArray respStorage;   // cout·bandRows·W elements
    private final INDArray colsFull;      // [taps, bandRows·W] views of the storage
    private final INDArray respFull;      // [cout, bandRows·W]
    private final INDArray colsLast;      // same for the last, possibly shorter, band
    private final INDArray respLast;
    private final float[] paddedF;    // x̄ for im2col [cin, hp, wp], border stays zero
    private final float[] accF;       // col2im accumulator [cin, hp, wp]
    private final float[][] scratchF; // per-chunk scratch, SUB_BAND·W
    private final double[] paddedD;
    private final double[] accD;
    private final double[][] scratchD;
    private INDArray stage;           // only for non-contiguous inputs/outputs

    public Conv2d(int cin, int cout, int k, int height, int width, DataType dataType) {
        this(cin, cout, k, height, width, dataType, 0);
    }

    /**
     * @param bandRows rows per band, or 0 for the default (≈ {@value #BAND_ELEMENTS} im2col elements per
     *                 band); tests use small values to exercise several bands on small images
     */
    Conv2d(int cin, int cout, int k, int height, int width, DataType dataType, int bandRows) {
        if (k % 2 == 0 || k < 1) {
            throw new IllegalArgumentException("kernel size must be odd and positive, got " + k);
        }
        if (cin < 1 || cout < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("channels and sizes must be positive");
        }
        if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
            throw new IllegalArgumentException("only FLOAT and DOUBLE are supported, got " + dataType);
        }
        this.isDouble = dataType == DataType.DOUBLE;
        this.elementSize = isDouble ? 8 : 4;
        long maxElements = Integer.MAX_VALUE / elementSize;
        if ((long) Math.max(cin, cout) * height * width > maxElements) {
            throw new IllegalArgumentException("image too large for NIO access");
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
        this.taps = cin * k * k;
        this.dataType = dataType;
        int rows = bandRows > 0 ? bandRows : BAND_ELEMENTS / Math.max(1, taps * width);
        this.bandRows = Math.max(1, Math.min(height, rows));
        this.bands = (height + this.bandRows - 1) / this.bandRows;
        int bandLength = this.bandRows * width;
        int lastRows = height - (bands - 1) * this.bandRows;
        this.colsStorage = Nd4j.create(dataType, (long) taps * bandLength);
        this.respStorage = Nd4j.create(dataType, (long) cout * bandLength);
        this.colsFull = prefix(colsStorage, taps, bandLength);
        this.respFull = prefix(respStorage, cout, bandLength);
        this.colsLast = prefix(colsStorage, taps, lastRows * width);
        this.respLast = prefix(respStorage, cout, lastRows * width);
        int padLen = cin * paddedPlane;
        int threads = Parallel.threads();
        if (isDouble) {
            paddedD = new double[padLen];
            accD = new double[padLen];
            scratchD = new double[threads][SUB_BAND * width];
            paddedF = null;
            accF = null;
            scratchF = null;
        } else {
            paddedF = new float[padLen];
            accF = new float[padLen];
            scratchF = new float[threads][SUB_BAND * width];
            paddedD = null;
            accD = null;
            scratchD = null;
        }
    }

    private static INDArray prefix(INDArray storage, int rows, int columns) {
        long length = (long) rows * columns;
        INDArray flat = length == storage.length() ? storage : storage.get(NDArrayIndex.interval(0, length));
        return flat.reshape('c', rows, columns);
    }

    public int inChannels() { return cin; }
    public int outChannels() { return cout; }
    public int kernelSize() { return k; }
    public int height() { return height; }
    public int width() { return width; }

    /** FLOPs of one {@link #forward} or {@link #adjoint} (multiply and add counted separately). */
    public double flops() {
        return 2.0 * cout * taps * (double) plane;
    }

    private int rowsOf(int band) {
        return Math.min(bandRows, height - band * bandRows);
    }

    private INDArray cols(int band) {
        return band == bands - 1 ? colsLast : colsFull;
    }

    private INDArray responses(int band) {
        return band == bands - 1 ? respLast : respFull;
    }

    /**
     * out ← K x. x: [cin, H, W] (or [H, W] when cin = 1), not modified; out: [cout, H, W], overwritten.
     * weights: [cout, cin·k·k].
     */
    public void forward(INDArray weights, INDArray x, INDArray out) {
        requireLength(out, (long) cout * plane, "output");
        loadPadded(x);
        boolean direct = isContiguous(out);
        INDArray target = direct ? out : stage((long) cout * plane);
        if (bands == 1 && direct) {
            im2colBand(0, height);
            Nd4j.gemm(weights, colsLast, out.reshape('c', cout, (long) plane), false, false, 1.0, 0.0);
            return;
        }
        for (int band = 0; band < bands; band++) {
            int r0 = band * bandRows;
            int rows = rowsOf(band);
            im2colBand(r0, rows);
            INDArray resp = responses(band);
            Nd4j.gemm(weights, cols(band), resp, false, false, 1.0, 0.0);
            copyBand(resp, target, r0, rows, true);
        }
        if (!direct) {
            out.assign(target.reshape(out.shape()));
        }
    }

    /**
     * out ← Kᵀ v. v: [cout, H, W], not modified; out: [cin, H, W] (or [H, W] when cin = 1), overwritten.
     * weights: [cout, cin·k·k].
     */
    public void adjoint(INDArray weights, INDArray v, INDArray out) {
        requireLength(out, (long) cin * plane, "output");
        INDArray src = contiguous(v, (long) cout * plane);
        if (bands == 1) {
            INDArray v2 = src.reshape('c', cout, (long) plane);
            Nd4j.gemm(weights, v2, colsLast, true, false, 1.0, 0.0);
            col2imWhole(out);
            return;
        }
        clearAccumulator();
        for (int band = 0; band < bands; band++) {
            int r0 = band * bandRows;
            int rows = rowsOf(band);
            INDArray resp = responses(band);
            copyBand(resp, src, r0, rows, false);
            Nd4j.gemm(weights, resp, cols(band), true, false, 1.0, 0.0);
            col2imBand(r0, rows);
        }
        writeAccumulator(out);
    }

    /**
     * out ← Kᵀ M(K x), where M acts pointwise on the responses and is applied band by band through
     * {@code map} (it must only depend on the response values and their positions). x: [cin, H, W], not
     * modified; out: [cin, H, W], overwritten. Equivalent to {@code forward}, M on the whole response
     * array, {@code adjoint}, without storing the [cout, H, W] responses.
     */
    public void sandwich(INDArray weights, INDArray x, BandMap map, INDArray out) {
        requireLength(out, (long) cin * plane, "output");
        loadPadded(x);
        if (bands == 1) {
            im2colBand(0, height);
            Nd4j.gemm(weights, colsLast, respLast, false, false, 1.0, 0.0);
            map.apply(respLast, 0, height);
            Nd4j.gemm(weights, respLast, colsLast, true, false, 1.0, 0.0);
            col2imWhole(out);
            return;
        }
        clearAccumulator();
        for (int band = 0; band < bands; band++) {
            int r0 = band * bandRows;
            int rows = rowsOf(band);
            im2colBand(r0, rows);
            INDArray resp = responses(band);
            INDArray c = cols(band);
            Nd4j.gemm(weights, c, resp, false, false, 1.0, 0.0);
            map.apply(resp, r0, rows);
            Nd4j.gemm(weights, resp, c, true, false, 1.0, 0.0);
            col2imBand(r0, rows);
        }
        writeAccumulator(out);
    }

    /**
     * gradW ← gradW·beta + Σ_{r,c} v[o, r, c] · x̄_i[r + a − p, c + b − p], i.e. the derivative of ⟨v, K_w x⟩
     * with respect to w, as a [cout, cin·k·k] matrix (gradW is modified; x and v are not).
     */
    public void weightGradient(INDArray x, INDArray v, INDArray gradW, double beta) {
        loadPadded(x);
        INDArray src = contiguous(v, (long) cout * plane);
        for (int band = 0; band < bands; band++) {
            int r0 = band * bandRows;
            int rows = rowsOf(band);
            im2colBand(r0, rows);
            INDArray resp = responses(band);
            copyBand(resp, src, r0, rows, false);
            Nd4j.gemm(resp, cols(band), gradW, false, true, 1.0, band == 0 ? beta : 1.0);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // band copies between a [cout, H, W] array and the [cout, rows·W] band buffer (off-heap → off-heap)

    /** toImage: band → image rows [r0, r0 + rows) of every channel; else image → band. */
    private void copyBand(INDArray band, INDArray image, int r0, int rows, boolean toImage) {
        ByteBuffer bandBytes = band.data().asNio();
        ByteBuffer imageBytes = image.data().asNio();
        int es = elementSize;
        long bandBase = band.offset();
        long imageBase = image.offset();
        int length = rows * width;
        Parallel.forRange(cout, 4, (chunk, from, to) -> {
            for (int o = from; o < to; o++) {
                int b = (int) ((bandBase + (long) o * length) * es);
                int im = (int) ((imageBase + (long) o * plane + (long) r0 * width) * es);
                if (toImage) {
                    imageBytes.put(im, bandBytes, b, length * es);
                } else {
                    bandBytes.put(b, imageBytes, im, length * es);
                }
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // im2col: x → x̄ (heap, zero border) → band of cols (off-heap)

    private void loadPadded(INDArray x) {
        INDArray src = contiguous(x, (long) cin * plane);
        int offset = (int) src.offset();
        if (isDouble) {
            DoubleBuffer in = src.data().asNioDouble();
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < height; y++) {
                    in.get(offset + i * plane + y * width, paddedD, i * paddedPlane + (y + p) * wp + p, width);
                }
            }
        } else {
            FloatBuffer in = src.data().asNioFloat();
            for (int i = 0; i < cin; i++) {
                for (int y = 0; y < height; y++) {
                    in.get(offset + i * plane + y * width, paddedF, i * paddedPlane + (y + p) * wp + p, width);
                }
            }
        }
    }

    /** Rows j of the band's im2col matrix: C_b[j, (r − r0)·W + c] = x̄_i[r + a, c + b], r ∈ [r0, r0 + rows). */
    private void im2colBand(int r0, int rows) {
        int length = rows * width;
        int colsOffset = (int) colsStorage.offset();
        if (isDouble) {
            DoubleBuffer c = colsStorage.data().asNioDouble();
            Parallel.forRange(taps, 1, (chunk, from, to) -> {
                for (int j = from; j < to; j++) {
                    int base = tapBase(j) + r0 * wp;
                    int dst = colsOffset + j * length;
                    for (int r = 0; r < rows; r++) {
                        c.put(dst + r * width, paddedD, base + r * wp, width);
                    }
                }
            });
        } else {
            FloatBuffer c = colsStorage.data().asNioFloat();
            Parallel.forRange(taps, 1, (chunk, from, to) -> {
                for (int j = from; j < to; j++) {
                    int base = tapBase(j) + r0 * wp;
                    int dst = colsOffset + j * length;
                    for (int r = 0; r < rows; r++) {
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
    // col2im: band of cols (off-heap) → accumulator (heap) → out

    private void clearAccumulator() {
        if (isDouble) {
            Arrays.fill(accD, 0.0);
        } else {
            Arrays.fill(accF, 0f);
        }
    }

    /**
     * acc_i[r + a, c + b] += C_b[(i, a, b), (r − r0)·W + c] for r ∈ [r0, r0 + rows): the touched padded rows
     * [r0, r0 + rows + 2p) are split between the threads.
     */
    private void col2imBand(int r0, int rows) {
        int span = rows + 2 * p;
        if (isDouble) {
            Parallel.forRange(span, SUB_BAND / 2, (chunk, from, to) -> col2imDouble(chunk, r0, rows, r0 + from, r0 + to));
        } else {
            Parallel.forRange(span, SUB_BAND / 2, (chunk, from, to) -> col2imFloat(chunk, r0, rows, r0 + from, r0 + to));
        }
    }

    private void col2imFloat(int chunk, int r0, int rows, int padFrom, int padTo) {
        FloatBuffer c = colsStorage.data().asNioFloat();
        int colsOffset = (int) colsStorage.offset();
        int length = rows * width;
        float[] acc = accF;
        float[] scratch = scratchF[chunk];
        for (int s0 = padFrom; s0 < padTo; s0 += SUB_BAND) {
            int s1 = Math.min(padTo, s0 + SUB_BAND);
            for (int i = 0; i < cin; i++) {
                int accBase = i * paddedPlane;
                for (int a = 0; a < k; a++) {
                    int rlo = Math.max(r0, s0 - a);
                    int rhi = Math.min(r0 + rows, s1 - a);
                    if (rlo >= rhi) {
                        continue;
                    }
                    for (int b = 0; b < k; b++) {
                        int j = (i * k + a) * k + b;
                        c.get(colsOffset + j * length + (rlo - r0) * width, scratch, 0, (rhi - rlo) * width);
                        for (int r = rlo; r < rhi; r++) {
                            int dst = accBase + (r + a) * wp + b;
                            int src = (r - rlo) * width;
                            for (int col = 0; col < width; col++) {
                                acc[dst + col] += scratch[src + col];
                            }
                        }
                    }
                }
            }
        }
    }

    private void col2imDouble(int chunk, int r0, int rows, int padFrom, int padTo) {
        DoubleBuffer c = colsStorage.data().asNioDouble();
        int colsOffset = (int) colsStorage.offset();
        int length = rows * width;
        double[] acc = accD;
        double[] scratch = scratchD[chunk];
        for (int s0 = padFrom; s0 < padTo; s0 += SUB_BAND) {
            int s1 = Math.min(padTo, s0 + SUB_BAND);
            for (int i = 0; i < cin; i++) {
                int accBase = i * paddedPlane;
                for (int a = 0; a < k; a++) {
                    int rlo = Math.max(r0, s0 - a);
                    int rhi = Math.min(r0 + rows, s1 - a);
                    if (rlo >= rhi) {
                        continue;
                    }
                    for (int b = 0; b < k; b++) {
                        int j = (i * k + a) * k + b;
                        c.get(colsOffset + j * length + (rlo - r0) * width, scratch, 0, (rhi - rlo) * width);
                        for (int r = rlo; r < rhi; r++) {
                            int dst = accBase + (r + a) * wp + b;
                            int src = (r - rlo) * width;
                            for (int col = 0; col < width; col++) {
                                acc[dst + col] += scratch[src + col];
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Single band: col2im of the whole image and the copy to out in one parallel pass (each thread clears,
     * fills and writes out its own rows of the accumulator).
     */
    private void col2imWhole(INDArray out) {
        boolean direct = isContiguous(out);
        INDArray target = direct ? out : stage((long) cin * plane);
        int offset = (int) target.offset();
        Parallel.forRange(hp, SUB_BAND / 2, (chunk, from, to) -> {
            if (isDouble) {
                for (int i = 0; i < cin; i++) {
                    Arrays.fill(accD, i * paddedPlane + from * wp, i * paddedPlane + to * wp, 0.0);
                }
                col2imDouble(chunk, 0, height, from, to);
                DoubleBuffer o = target.data().asNioDouble();
                for (int i = 0; i < cin; i++) {
                    for (int y = Math.max(0, from - p); y < Math.min(height, to - p); y++) {
                        o.put(offset + i * plane + y * width, accD, i * paddedPlane + (y + p) * wp + p, width);
                    }
                }
            } else {
                for (int i = 0; i < cin; i++) {
                    Arrays.fill(accF, i * paddedPlane + from * wp, i * paddedPlane + to * wp, 0f);
                }
                col2imFloat(chunk, 0, height, from, to);
                FloatBuffer o = target.data().asNioFloat();
                for (int i = 0; i < cin; i++) {
                    for (int y = Math.max(0, from - p); y < Math.min(height, to - p); y++) {
                        o.put(offset + i * plane + y * width, accF, i * paddedPlane + (y + p) * wp + p, width);
                    }
                }
            }
        });
        if (!direct) {
            out.assign(target.reshape(out.shape()));
        }
    }

    /** out ← interior of the accumulator. */
    private void writeAccumulator(INDArray out) {
        boolean direct = isContiguous(out);
        INDArray target = direct ? out : stage((long) cin * plane);
        int offset = (int) target.offset();
        if (isDouble) {
            DoubleBuffer o = target.data().asNioDouble();
            Parallel.forRange(cin * height, 32, (chunk, from, to) -> {
                for (int row = from; row < to; row++) {
                    int i = row / height;
                    int y = row % height;
                    o.put(offset + i * plane + y * width, accD, i * paddedPlane + (y + p) * wp + p, width);
                }
            });
        } else {
            FloatBuffer o = target.data().asNioFloat();
            Parallel.forRange(cin * height, 32, (chunk, from, to) -> {
                for (int row = from; row < to; row++) {
                    int i = row / height;
                    int y = row % height;
                    o.put(offset + i * plane + y * width, accF, i * paddedPlane + (y + p) * wp + p, width);
                }
            });
        }
        if (!direct) {
            out.assign(target.reshape(out.shape()));
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
        return length == stage.length() ? stage : stage.get(NDArrayIndex.interval(0, length));
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

    @Override
    public void close() {
        colsStorage.close();
        respStorage.close();
        if (stage != null) {
            stage.close();
        }
    }
}
