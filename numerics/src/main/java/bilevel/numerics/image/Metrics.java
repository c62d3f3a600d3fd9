package bilevel.numerics.image;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.List;

/**
 * Image quality metrics for images with values in [0, 1] (peak value 1). All computations are in double
 * precision on copies; the arguments are not modified.
 */
public final class Metrics {

    /** Side of the SSIM window. */
    public static final int SSIM_WINDOW = 11;
    /** Standard deviation of the SSIM Gaussian window. */
    public static final double SSIM_SIGMA = 1.5;
    public static final double SSIM_K1 = 0.01;
    public static final double SSIM_K2 = 0.03;

    private static final double[] WINDOW_1D = gaussianWindow();

    private Metrics() {
    }

    /** Mean squared error (1/n) Σ (x − ref)². Shapes must be equal. */
    public static double mse(INDArray x, INDArray ref) {
        requireSameShape(x, ref);
        double[] a = Arrays2d.toDoubles(x);
        double[] b = Arrays2d.toDoubles(ref);
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return s / a.length;
    }

    /**
     * Peak signal-to-noise ratio with peak 1: 10·log10(1 / MSE(x, ref)) in dB; +∞ when x = ref.
     */
    public static double psnr(INDArray x, INDArray ref) {
        return 10.0 * Math.log10(1.0 / mse(x, ref));
    }

    /** Mean of the per-image PSNRs, (1/N) Σ_i psnr(xs_i, refs_i). Lists must be non-empty and of equal size. */
    public static double meanPsnr(List<INDArray> xs, List<INDArray> refs) {
        if (xs.isEmpty() || xs.size() != refs.size()) {
            throw new IllegalArgumentException("need equally many (at least one) images and references, got "
                    + xs.size() + " and " + refs.size());
        }
        double s = 0;
        for (int i = 0; i < xs.size(); i++) {
            s += psnr(xs.get(i), refs.get(i));
        }
        return s / xs.size();
    }

    /**
     * Structural similarity index of Wang, Bovik, Sheikh and Simoncelli (IEEE TIP 2004), for [H, W]
     * images with H, W ≥ 11:
     * <pre>
     *   SSIM(x, y) = mean over valid window positions p of
     *       (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
     * </pre>
     * where μ, σ², σxy are local means, variances and covariance weighted by an 11×11 Gaussian window
     * with σ = 1.5 normalized to sum 1 (σx² = w⋆x² − μx², σxy = w⋆(xy) − μx μy), C1 = (K1 L)², C2 = (K2 L)²,
     * K1 = 0.01, K2 = 0.03, L = 1. Only the (H − 10)×(W − 10) positions where the window lies inside the
     * image are used ('valid'); no downsampling. The window is separable (outer product of the normalized
     * 1-D Gaussian), so the local statistics are computed with two 1-D passes.
     */
    public static double ssim(INDArray x, INDArray ref) {
        requireSameShape(x, ref);
        int[] hw = Arrays2d.shape2d(x, "x");
        int h = hw[0];
        int w = hw[1];
        if (h < SSIM_WINDOW || w < SSIM_WINDOW) {
            throw new IllegalArgumentException("SSIM needs images of at least " + SSIM_WINDOW + "×" + SSIM_WINDOW
                    + " pixels, got " + h + "×" + w);
        }
        double[] a = Arrays2d.toDoubles(x);
        double[] b = Arrays2d.toDoubles(ref);
        int n = a.length;
        double[] aa = new double[n];
        double[] bb = new double[n];
        double[] ab = new double[n];
        for (int i = 0; i < n; i++) {
            aa[i] = a[i] * a[i];
            bb[i] = b[i] * b[i];
            ab[i] = a[i] * b[i];
        }
        int oh = h - SSIM_WINDOW + 1;
        int ow = w - SSIM_WINDOW + 1;
        double[] tmp = new double[h * ow];
        double[] muA = filterValid(a, h, w, tmp);
        double[] muB = filterValid(b, h, w, tmp);
        double[] eAA = filterValid(aa, h, w, tmp);
        double[] eBB = filterValid(bb, h, w, tmp);
        double[] eAB = filterValid(ab, h, w, tmp);
        double c1 = SSIM_K1 * SSIM_K1;
        double c2 = SSIM_K2 * SSIM_K2;
        double sum = 0;
        for (int i = 0; i < oh * ow; i++) {
            double ma = muA[i];
            double mb = muB[i];
            double va = eAA[i] - ma * ma;
            double vb = eBB[i] - mb * mb;
            double cov = eAB[i] - ma * mb;
            sum += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
        return sum / ((double) oh * ow);
    }

    /** The normalized 1-D Gaussian window (a copy). */
    public static double[] ssimWindow1d() {
        return WINDOW_1D.clone();
    }

    /** 'Valid' correlation of the [h, w] image with the separable window; result [(h−10), (w−10)] row-major. */
    private static double[] filterValid(double[] img, int h, int w, double[] tmp) {
        int k = SSIM_WINDOW;
        int ow = w - k + 1;
        int oh = h - k + 1;
        for (int r = 0; r < h; r++) {
            int row = r * w;
            for (int c = 0; c < ow; c++) {
                double s = 0;
                for (int t = 0; t < k; t++) {
                    s += WINDOW_1D[t] * img[row + c + t];
                }
                tmp[r * ow + c] = s;
            }
        }
        double[] out = new double[oh * ow];
        for (int r = 0; r < oh; r++) {
            for (int t = 0; t < k; t++) {
                double wt = WINDOW_1D[t];
                int src = (r + t) * ow;
                int dst = r * ow;
                for (int c = 0; c < ow; c++) {
                    out[dst + c] += wt * tmp[src + c];
                }
            }
        }
        return out;
    }

    private static double[] gaussianWindow() {
        double[] g = new double[SSIM_WINDOW];
        int half = SSIM_WINDOW / 2;
        double s = 0;
        for (int i = 0; i < SSIM_WINDOW; i++) {
            double d = i - half;
            g[i] = Math.exp(-d * d / (2 * SSIM_SIGMA * SSIM_SIGMA));
            s += g[i];
        }
        for (int i = 0; i < SSIM_WINDOW; i++) {
            g[i] /= s;
        }
        return g;
    }

    private static void requireSameShape(INDArray x, INDArray ref) {
        if (x == null || ref == null) {
            throw new IllegalArgumentException("image is null");
        }
        if (!Arrays.equals(x.shape(), ref.shape())) {
            throw new IllegalArgumentException("shapes differ: " + Arrays.toString(x.shape()) + " vs "
                    + Arrays.toString(ref.shape()));
        }
        if (x.length() == 0) {
            throw new IllegalArgumentException("empty image");
        }
    }
}
