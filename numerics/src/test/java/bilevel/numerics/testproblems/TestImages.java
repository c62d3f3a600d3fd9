package bilevel.numerics.testproblems;

import java.util.Random;

/** Small synthetic training pairs: a piecewise-smooth clean image and a noisy measurement. */
public final class TestImages {
    private TestImages() {
    }

    /** A clean image in [0, 1]: a bright disc on a gradient background, with seeded position. */
    public static double[] clean(int h, int w, long seed) {
        Random r = new Random(seed);
        double cr = h * (0.3 + 0.4 * r.nextDouble());
        double cc = w * (0.3 + 0.4 * r.nextDouble());
        double rad = Math.min(h, w) * (0.2 + 0.15 * r.nextDouble());
        double[] x = new double[h * w];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                double bg = 0.2 + 0.3 * j / (double) w;
                boolean in = (i - cr) * (i - cr) + (j - cc) * (j - cc) < rad * rad;
                x[i * w + j] = in ? 0.9 : bg;
            }
        }
        return x;
    }

    /** y = A x* + σ·noise, A given as a dense matrix. */
    public static double[] measure(double[][] a, double[] clean, double sigma, long seed) {
        Random r = new Random(seed ^ 0x5DEECE66DL);
        double[] y = Dense.times(a, clean);
        for (int i = 0; i < y.length; i++) {
            y[i] += sigma * r.nextGaussian();
        }
        return y;
    }
}
