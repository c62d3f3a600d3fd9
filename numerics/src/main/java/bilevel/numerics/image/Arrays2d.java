package bilevel.numerics.image;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Conversions between [H, W] INDArrays and row-major Java arrays (not hot-loop code). */
final class Arrays2d {
    private Arrays2d() {
    }

    /** Checks that {@code a} is a non-empty rank-2 array and returns {H, W} as ints. */
    static int[] shape2d(INDArray a, String what) {
        if (a == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (a.rank() != 2) {
            throw new IllegalArgumentException(what + " must be a rank-2 [H, W] array, got shape "
                    + java.util.Arrays.toString(a.shape()));
        }
        long h = a.size(0);
        long w = a.size(1);
        if (h < 1 || w < 1 || h * w > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(what + " has unsupported size " + h + "×" + w);
        }
        return new int[]{(int) h, (int) w};
    }

    /** The entries of {@code a} in row-major ('c') order, as doubles (a fresh Java array). */
    static double[] toDoubles(INDArray a) {
        INDArray d = a.dataType() == DataType.DOUBLE ? a : a.castTo(DataType.DOUBLE);
        try (INDArray c = d.dup('c')) {
            return c.data().asDouble();
        } finally {
            if (d != a) {
                d.close();
            }
        }
    }

    /** A new [h, w] array of the given type holding {@code values} (row-major), rounded to that type. */
    static INDArray fromDoubles(double[] values, int h, int w, DataType dataType) {
        INDArray d = Nd4j.createFromArray(values).reshape('c', h, w);
        if (dataType == DataType.DOUBLE) {
            return d;
        }
        INDArray out = d.castTo(dataType);
        d.close();
        return out;
    }

    static void requireFloatingType(DataType dataType) {
        if (dataType != DataType.DOUBLE && dataType != DataType.FLOAT) {
            throw new IllegalArgumentException("images are FLOAT or DOUBLE arrays, not " + dataType);
        }
    }
}
