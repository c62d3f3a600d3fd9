package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One synthetic training pair (x*, y = A x* + noise) on an H×W image, as Java arrays and INDArrays (DOUBLE).
 */
public final class BilevelFixture {
    public final LinearOperator operator;
    public final int height;
    public final int width;
    public final double[] clean;
    public final double[] measurement;

    public BilevelFixture(LinearOperator operator, int height, int width, long seed, double noise) {
        this.operator = operator;
        this.height = height;
        this.width = width;
        this.clean = TestImages.clean(height, width, seed);
        double[][] a = Dense.matrixOf(height, width, new long[]{height, width}, operator::apply);
        this.measurement = TestImages.measure(a, clean, noise, seed);
    }

    public long[] shape() {
        return new long[]{height, width};
    }

    public INDArray target() {
        return Dense.image(clean, height, width);
    }

    public INDArray data() {
        return Dense.image(measurement, height, width);
    }
}
