package bilevel.numerics.regularizers;

import java.util.List;

/**
 * Optional capability of a {@link Regularizer} family: what its parameters θ mean, in a form a report can
 * draw. A family with convolution filters (Fields of Experts, convex ridge regularizers, the first layer of
 * an input-convex network) returns them from {@link #filters}; a family with learned scalar functions
 * (potentials, activation profiles) samples them in {@link #profiles}. Families without this capability
 * are shown as a table of θ with {@link Regularizer#paramName}.
 */
public interface LearnedStructure {

    /**
     * The convolution filters encoded by θ, each a square s×s array {@code k[row][column]} (a new array per
     * call; the caller may modify it). Empty when the family has none.
     */
    default List<double[][]> filters(double[] theta) {
        return List.of();
    }

    /** Learned one-dimensional functions, sampled (empty when none). */
    default List<Profile> profiles(double[] theta) {
        return List.of();
    }

    /**
     * A function t ↦ value(t) sampled at increasing points.
     *
     * @param name  what it is, e.g. "potential of filter 3"
     * @param t     sample points (copied)
     * @param value values at the sample points (copied; same length)
     */
    record Profile(String name, double[] t, double[] value) {
        public Profile {
            if (t.length != value.length) {
                throw new IllegalArgumentException("profile '" + name + "' has " + t.length + " points and "
                        + value.length + " values");
            }
            t = t.clone();
            value = value.clone();
        }

        @Override
        public double[] t() {
            return t.clone();
        }

        @Override
        public double[] value() {
            return value.clone();
        }
    }
}
