package bilevel.numerics.upper;

import java.util.function.UnaryOperator;

/** Argument checks and projection shared by the {@link UpperOptimizer} implementations. */
final class OptimizerSupport {
    private OptimizerSupport() {
    }

    /** Checks the common arguments of {@link UpperOptimizer#step}; returns P. */
    static int checkStepArguments(double[] theta, double[] z, double weight) {
        if (theta == null || z == null) {
            throw new IllegalArgumentException("theta and z must not be null");
        }
        if (theta.length != z.length) {
            throw new IllegalArgumentException("theta has length " + theta.length + " but z has " + z.length);
        }
        for (double v : z) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("hypergradient z has a non-finite entry");
            }
        }
        if (!(weight >= 0) || !Double.isFinite(weight)) {
            throw new IllegalArgumentException("weight must be finite and >= 0, got " + weight);
        }
        return theta.length;
    }

    /** Applies the projection to a fresh array and checks the result's length. */
    static double[] project(UnaryOperator<double[]> projection, double[] candidate) {
        double[] p = projection.apply(candidate);
        if (p == null || p.length != candidate.length) {
            throw new IllegalStateException("projection returned an array of the wrong length");
        }
        return p;
    }
}
