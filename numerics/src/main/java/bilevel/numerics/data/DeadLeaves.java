package bilevel.numerics.data;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.SplittableRandom;

/**
 * Seeded generator of synthetic "dead leaves" gray images (Matheron; Lee, Mumford &amp; Huang 2001):
 * opaque discs with uniform gray levels in [0, 1] fall on the image and occlude each other.
 *
 * <p><b>Model.</b> Disc n has radius r_n with density p(r) ∝ r^(−3) on [r_min, r_max] (scale-invariant
 * statistics), centre uniform on the image extended by r_max on every side (so every disc position
 * that can touch the image is equally likely and the picture is statistically stationary), and gray
 * level uniform on [0, 1). Discs are generated "front to back": disc n is visible where none of discs
 * 0..n−1 covers the pixel, which is the same law as painting back to front but lets generation stop
 * as soon as every pixel is covered. Pixel (i, j) (row i, column j) is covered by a disc with centre
 * (c_y, c_x) and radius r iff (i − c_y)² + (j − c_x)² ≤ r². If {@code maxDiscs} discs leave pixels
 * uncovered, they get one final background gray level (an event of negligible probability for the
 * defaults).
 *
 * <p><b>Radius sampling</b> by inversion: F(r) = (r_min^(−2) − r^(−2)) / (r_min^(−2) − r_max^(−2)),
 * so r = (r_min^(−2) − u (r_min^(−2) − r_max^(−2)))^(−1/2) for u uniform on [0, 1).
 *
 * <p><b>Determinism.</b> All randomness comes from one {@link SplittableRandom}(seed), drawn in the fixed
 * order (u, c_y, c_x, gray) per disc; the image is a function of (height, width, seed, r_min, r_max,
 * maxDiscs) only. Immutable and thread-safe.
 */
public final class DeadLeaves {
    /** Default smallest radius in pixels. */
    public static final double DEFAULT_R_MIN = 2.0;
    /** Default largest radius in pixels. */
    public static final double DEFAULT_R_MAX = 48.0;
    /** Default cap on the number of discs per image. */
    public static final int DEFAULT_MAX_DISCS = 1_000_000;

    private final double rMin;
    private final double rMax;
    private final int maxDiscs;

    /** Generator with {@link #DEFAULT_R_MIN}, {@link #DEFAULT_R_MAX}, {@link #DEFAULT_MAX_DISCS}. */
    public DeadLeaves() {
        this(DEFAULT_R_MIN, DEFAULT_R_MAX, DEFAULT_MAX_DISCS);
    }

    public DeadLeaves(double rMin, double rMax) {
        this(rMin, rMax, DEFAULT_MAX_DISCS);
    }

    /**
     * @param rMin     smallest radius in pixels, &gt; 0
     * @param rMax     largest radius in pixels, ≥ rMin, finite
     * @param maxDiscs cap on the number of discs, ≥ 1
     */
    public DeadLeaves(double rMin, double rMax, int maxDiscs) {
        if (!(rMin > 0) || !(rMax >= rMin) || !Double.isFinite(rMax)) {
            throw new IllegalArgumentException("need 0 < rMin <= rMax < inf, got rMin=" + rMin + ", rMax=" + rMax);
        }
        if (maxDiscs < 1) {
            throw new IllegalArgumentException("maxDiscs must be >= 1, got " + maxDiscs);
        }
        this.rMin = rMin;
        this.rMax = rMax;
        this.maxDiscs = maxDiscs;
    }

    public double rMin() {
        return rMin;
    }

    public double rMax() {
        return rMax;
    }

    /** The radius for a uniform variate u ∈ [0, 1) (inverse CDF of p(r) ∝ r^(−3) on [r_min, r_max]). */
    public double radius(double u) {
        double a = 1 / (rMin * rMin);
        double b = 1 / (rMax * rMax);
        double r = 1 / Math.sqrt(a - u * (a - b));
        return Math.min(Math.max(r, rMin), rMax); // guard against rounding at the ends
    }

    /** A new height×width image, row-major (index i·width + j), values in [0, 1). */
    public double[] generate(int height, int width, long seed) {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + height + "x" + width);
        }
        double[] image = new double[Math.multiplyExact(height, width)];
        boolean[] covered = new boolean[image.length];
        int remaining = image.length;
        SplittableRandom random = new SplittableRandom(seed);
        double spanY = height - 1 + 2 * rMax;
        double spanX = width - 1 + 2 * rMax;
        for (int n = 0; n < maxDiscs && remaining > 0; n++) {
            double r = radius(random.nextDouble());
            double cy = -rMax + spanY * random.nextDouble();
            double cx = -rMax + spanX * random.nextDouble();
            double gray = random.nextDouble();
            int i0 = Math.max(0, (int) Math.ceil(cy - r));
            int i1 = Math.min(height - 1, (int) Math.floor(cy + r));
            for (int i = i0; i <= i1; i++) {
                double dy = i - cy;
                double halfWidth = Math.sqrt(Math.max(0, r * r - dy * dy));
                int j0 = Math.max(0, (int) Math.ceil(cx - halfWidth));
                int j1 = Math.min(width - 1, (int) Math.floor(cx + halfWidth));
                int row = i * width;
                for (int j = j0; j <= j1; j++) {
                    if (!covered[row + j]) {
                        covered[row + j] = true;
                        image[row + j] = gray;
                        remaining--;
                    }
                }
            }
        }
        if (remaining > 0) {
            double background = random.nextDouble();
            for (int p = 0; p < image.length; p++) {
                if (!covered[p]) {
                    image[p] = background;
                }
            }
        }
        return image;
    }

    /** The same image as {@link #generate(int, int, long)} as a new [height, width] 'c'-order array. */
    public INDArray generate(int height, int width, long seed, DataType dataType) {
        if (!dataType.isFPType()) {
            throw new IllegalArgumentException("data type must be floating point, got " + dataType);
        }
        return Nd4j.create(generate(height, width, seed), new long[]{height, width}, dataType);
    }
}
