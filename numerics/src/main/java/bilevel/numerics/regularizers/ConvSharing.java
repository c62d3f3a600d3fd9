package bilevel.numerics.regularizers;

import bilevel.numerics.conv.Conv2d;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Whether one {@link Conv2d} instance may serve {@code adjoint} and then {@code forward}/{@code weightGradient}.
 *
 * <p>The Conv2d of commit 6a537e8 accumulates its adjoint (col2im) into the same padded buffer whose zero border
 * {@code forward} relies on, and {@code forward} only rewrites the interior; so a forward after an adjoint on the
 * same instance is wrong near the image border. Later versions keep separate buffers. Rather than depend on the
 * version, this probes the behaviour once on a 3×3 image; when the probe fails, the regularizers use a second
 * Conv2d instance per layer for adjoints (twice the im2col memory, same time).
 */
final class ConvSharing {
    private static volatile Boolean safe;

    private ConvSharing() {
    }

    /** True when forward after adjoint on one Conv2d instance gives the same result as on a fresh one. */
    static boolean adjointThenForwardIsSafe() {
        Boolean s = safe;
        if (s == null) {
            synchronized (ConvSharing.class) {
                if (safe == null) {
                    safe = probe();
                }
                s = safe;
            }
        }
        return s;
    }

    private static boolean probe() {
        try (Conv2d conv = new Conv2d(1, 1, 3, 3, 3, DataType.DOUBLE);
             INDArray w = Nd4j.create(new double[]{1, 2, 3, 4, 5, 6, 7, 8, 9}, new long[]{1, 9}, DataType.DOUBLE);
             INDArray x = Nd4j.create(new double[]{1, -1, 2, 0, 3, 1, -2, 1, 1}, new long[]{3, 3}, DataType.DOUBLE);
             INDArray v = Nd4j.create(new double[]{1, 1, 1, 1, 1, 1, 1, 1, 1}, new long[]{1, 3, 3}, DataType.DOUBLE);
             INDArray before = Nd4j.create(DataType.DOUBLE, 1, 3, 3);
             INDArray after = Nd4j.create(DataType.DOUBLE, 1, 3, 3);
             INDArray adj = Nd4j.create(DataType.DOUBLE, 3, 3)) {
            conv.forward(w, x, before);
            conv.adjoint(w, v, adj);
            conv.forward(w, x, after);
            for (int i = 0; i < 9; i++) {
                if (before.getDouble(i) != after.getDouble(i)) {
                    return false;
                }
            }
            return true;
        }
    }
}
