package bilevel.numerics.image;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

/** Synthetic measurement noise, reproducible from a seed. */
public final class Noise {
    private Noise() {
    }

    /**
     * Returns a new array y = clean + (σ/255)·z with z_p ~ N(0, 1) independent, of the same shape and
     * data type as {@code clean}; {@code clean} is not modified and y is not clipped.
     *
     * <p>z is drawn by {@link Random#nextGaussian()} (the polar method, specified by the JDK and hence
     * identical on every Java version) from {@code new Random(seed)}, one draw per pixel in row-major
     * order. The sum is formed in double precision and then rounded to the array's type, so FLOAT and
     * DOUBLE inputs holding the same values give the same result up to that final rounding.
     *
     * @param clean    image of any shape (usually [H, W]) with values in [0, 1]
     * @param sigma255 noise standard deviation on the 0–255 scale (e.g. 25), finite and ≥ 0
     * @param seed     seed of the generator
     */
    public static INDArray addGaussian(INDArray clean, double sigma255, long seed) {
        if (clean == null) {
            throw new IllegalArgumentException("clean image is null");
        }
        if (!(sigma255 >= 0) || Double.isInfinite(sigma255)) {
            throw new IllegalArgumentException("noise level must be finite and non-negative, got " + sigma255);
        }
        Arrays2d.requireFloatingType(clean.dataType());
        double[] values = Arrays2d.toDoubles(clean);
        double sigma = sigma255 / 255.0;
        Random random = new Random(seed);
        for (int i = 0; i < values.length; i++) {
            values[i] += sigma * random.nextGaussian();
        }
        INDArray flat = Arrays2d.fromDoubles(values, 1, values.length, clean.dataType());
        INDArray y = flat.reshape('c', clean.shape());
        return y;
    }
}
