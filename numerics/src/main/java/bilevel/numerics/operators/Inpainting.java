package bilevel.numerics.operators;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Inpainting: A = diag(m) for a binary mask m ∈ {0, 1}^{H×W} (1 = pixel observed, 0 = missing). The
 * measurement keeps the image shape: (A x)_p = m_p x_p, with missing pixels set to 0. A is symmetric and
 * idempotent, so Aᵀ = A and AᵀA = A.
 *
 * <p>‖A‖₂ = max_p m_p ≤ 1 (certified 1). λ_min(AᵀA) = min_p m_p: 1 when no pixel is missing, else 0.
 *
 * <p>The mask is copied on construction; a copy in each requested data type is cached (lazily), so
 * calls allocate nothing after the first one per data type. Because of this cache an instance is
 * <b>not thread-safe</b>: use one instance per thread (or call each data type once before sharing).
 */
public final class Inpainting implements LinearOperator {

    private final long height;
    private final long width;
    private final INDArray mask;          // DOUBLE [H, W], entries 0 or 1
    private final long missing;
    private final Map<DataType, INDArray> typedMask = new EnumMap<>(DataType.class);

    /** @param mask binary mask [H, W] (entries exactly 0 or 1; copied) */
    public Inpainting(INDArray mask) {
        if (mask == null || mask.rank() != 2 || mask.length() == 0) {
            throw new IllegalArgumentException("mask must be a non-empty rank-2 [H, W] array, got shape "
                    + (mask == null ? "null" : Arrays.toString(mask.shape())));
        }
        this.height = mask.size(0);
        this.width = mask.size(1);
        this.mask = mask.castTo(DataType.DOUBLE).dup('c');
        long zeros = 0;
        double[] v = this.mask.data().asDouble();
        for (int i = 0; i < v.length; i++) {
            if (v[i] == 0.0) {
                zeros++;
            } else if (v[i] != 1.0) {
                throw new IllegalArgumentException("mask entries must be 0 or 1, found " + v[i] + " at index " + i);
            }
        }
        this.missing = zeros;
        typedMask.put(DataType.DOUBLE, this.mask);
    }

    /**
     * A mask of shape [h, w] with exactly round(fractionMissing·h·w) missing pixels, chosen uniformly at
     * random without replacement (partial Fisher–Yates shuffle driven by {@code new SplittableRandom(seed)}),
     * hence identical for equal arguments.
     */
    public static Inpainting random(long h, long w, double fractionMissing, long seed) {
        if (h < 1 || w < 1 || h * w > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("unsupported mask size " + h + "×" + w);
        }
        if (!(fractionMissing >= 0 && fractionMissing <= 1)) {
            throw new IllegalArgumentException("fraction of missing pixels must be in [0, 1], got " + fractionMissing);
        }
        int n = (int) (h * w);
        int k = (int) Math.round(fractionMissing * n);
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) {
            perm[i] = i;
        }
        SplittableRandom random = new SplittableRandom(seed);
        double[] m = new double[n];
        Arrays.fill(m, 1.0);
        for (int i = 0; i < k; i++) {
            int j = i + random.nextInt(n - i);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            m[perm[i]] = 0.0;
        }
        return new Inpainting(Nd4j.createFromArray(m).reshape('c', h, w));
    }

    /** The mask as a new DOUBLE [H, W] array. */
    public INDArray mask() {
        return mask.dup();
    }

    /** Number of missing (masked) pixels. */
    public long missingPixels() {
        return missing;
    }

    @Override
    public long[] rangeShape(long[] imageShape) {
        if (imageShape.length != 2 || imageShape[0] != height || imageShape[1] != width) {
            throw new IllegalArgumentException("inpainting mask is " + height + "×" + width + " but the image shape is "
                    + Arrays.toString(imageShape));
        }
        return imageShape.clone();
    }

    /** out ← m ⊙ x. Modifies only {@code out}. */
    @Override
    public void apply(INDArray x, INDArray out) {
        rangeShape(x.shape());
        x.mul(maskFor(x.dataType()), out);
    }

    /** out ← m ⊙ y (A is symmetric). Modifies only {@code out}. */
    @Override
    public void adjoint(INDArray y, INDArray out) {
        apply(y, out);
    }

    /** out ← m ⊙ x (AᵀA = diag(m²) = diag(m)). Modifies only {@code out}. */
    @Override
    public void normal(INDArray x, INDArray out) {
        apply(x, out);
    }

    /** Certified 1 (a diagonal 0/1 matrix has norm ≤ 1). */
    @Override
    public Bound normBound() {
        return Bound.certified(1.0);
    }

    /** 1 when no pixel is missing (A = I), else 0. */
    @Override
    public double gramLowerBound() {
        return missing == 0 ? 1.0 : 0.0;
    }

    @Override
    public String name() {
        return "inpaint";
    }

    private INDArray maskFor(DataType dt) {
        INDArray m = typedMask.get(dt);
        if (m == null) {
            m = mask.castTo(dt);
            typedMask.put(dt, m);
        }
        return m;
    }
}
