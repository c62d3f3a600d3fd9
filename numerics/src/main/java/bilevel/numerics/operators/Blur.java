package bilevel.numerics.operators;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.Axpy;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Blur (deconvolution problem): A x = k ∗ x, the 2-D convolution of the image with a point-spread
 * function k of odd size s×s (s = 2p + 1, centre at index p), with zero extension of x and output of
 * the image's size ('same'):
 * <pre>
 *   (A x)[r, c] = Σ_{a,b} k[a, b] · x̄[r − a + p, c − b + p],      x̄ = x extended by zeros.
 * </pre>
 * A blurred delta is therefore the PSF itself, centred at the delta. The adjoint is the correlation
 * with k under the same zero extension, (Aᵀ y)[i, j] = Σ_{a,b} k[a, b] · ȳ[i + a − p, j + b − p]
 * (equivalently the convolution with the flipped PSF); both are computed as sums of the s² shifted
 * windows of one zero-padded buffer, so ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ up to rounding.
 *
 * <p><b>Norm bound.</b> A = P ∘ C ∘ E where E zero-extends the image to Z², C is the full convolution
 * with k on ℓ²(Z²) and P restricts to the image domain; ‖E‖ = ‖P‖ = 1 and, by Young's inequality
 * ‖k ∗ x‖₂ ≤ ‖k‖₁ ‖x‖₂, ‖A‖₂ ≤ ‖k‖₁ (certified; the floating-point sum is rounded up). No positive
 * lower bound on λ_min(AᵀA) is known in general (a blur has near-zero singular values), so
 * {@link #gramLowerBound()} is 0.
 *
 * <p><b>Buffers and threads.</b> The operator caches, per image shape and data type (at most
 * {@value #CACHED_SHAPES} shapes, least recently used evicted), a zero-padded buffer of about
 * (H + 2p)(W + 2p) entries and an [H, W + 2p] accumulator (every tap is then one contiguous axpy), so {@link #apply}, {@link #adjoint} and {@link #normal} allocate no arrays
 * after the first call for a shape. Because of these buffers an instance is <b>not thread-safe</b>:
 * use one instance per thread. The PSF itself is immutable.
 */
public final class Blur implements LinearOperator {

    /** Number of image shapes whose work buffers are kept. */
    public static final int CACHED_SHAPES = 4;

    private final int size;
    private final int half;
    private final double[][] psf;
    private final Bound normBound;
    private final Map<String, Workspace> workspaces = new LinkedHashMap<>(8, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Workspace> eldest) {
            if (size() > CACHED_SHAPES) {
                eldest.getValue().close();
                return true;
            }
            return false;
        }
    };

    /**
     * @param psf point-spread function, a square [s, s] array with s odd and finite entries (copied;
     *            not required to be non-negative or normalized)
     */
    public Blur(INDArray psf) {
        if (psf == null || psf.rank() != 2 || psf.size(0) != psf.size(1) || psf.size(0) % 2 == 0) {
            throw new IllegalArgumentException("PSF must be a square [s, s] array with s odd, got shape "
                    + (psf == null ? "null" : Arrays.toString(psf.shape())));
        }
        this.size = (int) psf.size(0);
        this.half = (size - 1) / 2;
        this.psf = new double[size][size];
        double l1 = 0;
        for (int a = 0; a < size; a++) {
            for (int b = 0; b < size; b++) {
                double v = psf.getDouble(a, b);
                if (!Double.isFinite(v)) {
                    throw new IllegalArgumentException("PSF entry (" + a + ", " + b + ") is not finite: " + v);
                }
                this.psf[a][b] = v;
                l1 += Math.abs(v);
            }
        }
        // s² additions of non-negative terms: relative rounding error ≤ s²·2⁻⁵³; round up generously.
        this.normBound = Bound.certified(l1 * (1 + 4.0 * size * size * Math.ulp(1.0)));
    }

    /**
     * The Gaussian PSF k[a, b] ∝ exp(−((a − p)² + (b − p)²)/(2σ²)), normalized to sum 1, of odd size s.
     */
    public static Blur gaussian(int size, double sigma) {
        if (size < 1 || size % 2 == 0) {
            throw new IllegalArgumentException("PSF size must be odd and positive, got " + size);
        }
        if (!(sigma > 0) || Double.isInfinite(sigma)) {
            throw new IllegalArgumentException("sigma must be positive and finite, got " + sigma);
        }
        int p = (size - 1) / 2;
        double[][] k = new double[size][size];
        double sum = 0;
        for (int a = 0; a < size; a++) {
            for (int b = 0; b < size; b++) {
                double d2 = (a - p) * (a - p) + (b - p) * (b - p);
                k[a][b] = Math.exp(-d2 / (2 * sigma * sigma));
                sum += k[a][b];
            }
        }
        for (double[] row : k) {
            for (int b = 0; b < size; b++) {
                row[b] /= sum;
            }
        }
        return new Blur(Nd4j.createFromArray(k));
    }

    /** The PSF as a new [s, s] DOUBLE array. */
    public INDArray psf() {
        return Nd4j.createFromArray(psf).castTo(DataType.DOUBLE);
    }

    public int psfSize() {
        return size;
    }

    @Override
    public long[] rangeShape(long[] imageShape) {
        return imageShape.clone();
    }

    /** out ← k ∗ x (zero boundary). Modifies only {@code out}. */
    @Override
    public void apply(INDArray x, INDArray out) {
        Workspace ws = workspace(x);
        ws.interior.assign(x);
        ws.accumulate(true);
        out.assign(ws.accImage);
    }

    /** out ← Aᵀ y, the correlation of y with k (zero boundary). Modifies only {@code out}. */
    @Override
    public void adjoint(INDArray y, INDArray out) {
        Workspace ws = workspace(y);
        ws.interior.assign(y);
        ws.accumulate(false);
        out.assign(ws.accImage);
    }

    /** out ← Aᵀ A x, reusing the padded buffer (no intermediate array). Modifies only {@code out}. */
    @Override
    public void normal(INDArray x, INDArray out) {
        Workspace ws = workspace(x);
        ws.interior.assign(x);
        ws.accumulate(true);
        ws.interior.assign(ws.accImage);
        ws.accumulate(false);
        out.assign(ws.accImage);
    }

    /** Certified ‖k‖₁ (Young's inequality; see the class comment). */
    @Override
    public Bound normBound() {
        return normBound;
    }

    /** 0: no positive lower bound on λ_min(AᵀA) is known for a general blur. */
    @Override
    public double gramLowerBound() {
        return 0.0;
    }

    @Override
    public String name() {
        return "blur";
    }

    private Workspace workspace(INDArray image) {
        if (image.rank() != 2) {
            throw new IllegalArgumentException("blur expects a rank-2 [H, W] image, got shape "
                    + Arrays.toString(image.shape()));
        }
        long h = image.size(0);
        long w = image.size(1);
        DataType dt = image.dataType();
        String key = h + "x" + w + ":" + dt;
        Workspace ws = workspaces.get(key);
        if (ws == null) {
            ws = new Workspace(h, w, dt);
            workspaces.put(key, ws);
        }
        return ws;
    }

    /**
     * Buffers for one image shape. The zero-padded image (H + 2p rows of W' = W + 2p entries) is stored
     * row-major in a flat vector with 2p extra zeros at the end. For the tap (a, b), the flat slice
     * starting at a·W' + b of length H·W' holds, at position r·W' + c, the padded pixel (r + a, c + b);
     * so every tap is one contiguous axpy into an [H, W'] accumulator whose first W columns are the
     * result (the remaining 2p columns receive wrapped-around values and are ignored).
     */
    private final class Workspace implements AutoCloseable {
        final INDArray flat;       // [(H + 2p)·W' + 2p], border and tail stay zero
        final INDArray interior;   // [H, W] view: padded rows p..p+H−1, columns p..p+W−1
        final INDArray acc;        // [H, W']
        final INDArray accFlat;    // [H·W'] view of acc
        final INDArray accImage;   // [H, W] view: first W columns of acc
        final INDArray[][] window; // window[a][b] = flat[a·W' + b, a·W' + b + H·W')

        Workspace(long h, long w, DataType dt) {
            long wp = w + 2L * half;
            long rows = h + 2L * half;
            flat = Nd4j.create(dt, rows * wp + 2L * half);
            INDArray padded = flat.get(NDArrayIndex.interval(0, rows * wp)).reshape('c', rows, wp);
            interior = padded.get(NDArrayIndex.interval(half, half + h), NDArrayIndex.interval(half, half + w));
            acc = Nd4j.create(dt, h, wp);
            accFlat = acc.reshape('c', new long[]{h * wp});
            accImage = acc.get(NDArrayIndex.all(), NDArrayIndex.interval(0, w));
            window = new INDArray[size][size];
            for (int a = 0; a < size; a++) {
                for (int b = 0; b < size; b++) {
                    long start = a * wp + b;
                    window[a][b] = flat.get(NDArrayIndex.interval(start, start + h * wp));
                }
            }
        }

        /**
         * acc ← Σ_{a,b} c[a, b] · window[a][b], where c[a, b] = k[s−1−a, s−1−b] for the convolution
         * (forward) and c = k for the correlation (adjoint). Reads the padded buffer.
         */
        void accumulate(boolean forward) {
            accFlat.assign(0);
            for (int a = 0; a < size; a++) {
                for (int b = 0; b < size; b++) {
                    double c = forward ? psf[size - 1 - a][size - 1 - b] : psf[a][b];
                    if (c != 0.0) {
                        Nd4j.getExecutioner().exec(new Axpy(window[a][b], accFlat, accFlat, c));
                    }
                }
            }
        }

        @Override
        public void close() {
            flat.close();
            acc.close();
        }
    }
}
