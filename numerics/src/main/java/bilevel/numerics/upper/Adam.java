package bilevel.numerics.upper;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Projected Adam (Kingma &amp; Ba 2015) with bias correction. With t = k+1 (k the state's counter):
 * <pre>
 *   m ← β1 m + (1−β1) z,          v ← β2 v + (1−β2) z⊙z,
 *   m̂ = m / (1 − β1^t),           v̂ = v / (1 − β2^t),
 *   θ ← P(θ − w α_k m̂ / (√v̂ + ε_A))       (componentwise)
 * </pre>
 * The moments use the unweighted z; the weight w only scales the step (w = 0: no-op, see
 * {@link UpperOptimizer}).
 */
public final class Adam implements UpperOptimizer {

    /** Default first-moment decay β1. */
    public static final double DEFAULT_BETA1 = 0.9;
    /** Default second-moment decay β2. */
    public static final double DEFAULT_BETA2 = 0.999;
    /** Default denominator offset ε_A (not the lower-level accuracy). */
    public static final double DEFAULT_EPSILON = 1e-8;

    /**
     * Adam state.
     *
     * <p>Serialised field layout (stable): {@code k} (long, ≥ 0, steps taken), {@code m} (double[P],
     * biased first moment), {@code v} (double[P], biased second moment, ≥ 0). Arrays are copied on
     * construction and on access.
     */
    public record State(long k, double[] m, double[] v) implements UpperOptimizer.State {
        public State {
            if (k < 0) {
                throw new IllegalArgumentException("k must be >= 0, got " + k);
            }
            if (m == null || v == null || m.length != v.length) {
                throw new IllegalArgumentException("m and v must be non-null arrays of equal length");
            }
            m = m.clone();
            v = v.clone();
        }

        @Override
        public double[] m() {
            return m.clone();
        }

        @Override
        public double[] v() {
            return v.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && k == s.k && Arrays.equals(m, s.m) && Arrays.equals(v, s.v);
        }

        @Override
        public int hashCode() {
            return Objects.hash(k, Arrays.hashCode(m), Arrays.hashCode(v));
        }

        @Override
        public String toString() {
            return "Adam.State[k=" + k + ", m=" + Arrays.toString(m) + ", v=" + Arrays.toString(v) + "]";
        }
    }

    private final Schedule stepSize;
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final UnaryOperator<double[]> projection;

    /** Adam with {@link #DEFAULT_BETA1}, {@link #DEFAULT_BETA2}, {@link #DEFAULT_EPSILON}. */
    public Adam(Schedule stepSize, UnaryOperator<double[]> projection) {
        this(stepSize, DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPSILON, projection);
    }

    /**
     * @param beta1   in [0, 1)
     * @param beta2   in [0, 1)
     * @param epsilon ε_A &gt; 0
     */
    public Adam(Schedule stepSize, double beta1, double beta2, double epsilon, UnaryOperator<double[]> projection) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("Adam betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(epsilon > 0) || !Double.isFinite(epsilon)) {
            throw new IllegalArgumentException("Adam epsilon must be positive, got " + epsilon);
        }
        this.stepSize = Objects.requireNonNull(stepSize, "stepSize");
        this.projection = Objects.requireNonNull(projection, "projection");
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
    }

    @Override
    public Schedule stepSize() {
        return stepSize;
    }

    public double beta1() {
        return beta1;
    }

    public double beta2() {
        return beta2;
    }

    public double epsilon() {
        return epsilon;
    }

    @Override
    public State init(int numParams) {
        if (numParams < 0) {
            throw new IllegalArgumentException("numParams must be >= 0");
        }
        return new State(0, new double[numParams], new double[numParams]);
    }

    @Override
    public Step step(double[] theta, UpperOptimizer.State state, double[] z, double weight) {
        int p = OptimizerSupport.checkStepArguments(theta, z, weight);
        if (!(state instanceof State s)) {
            throw new IllegalArgumentException("not an Adam state: " + state);
        }
        if (s.m.length != p) {
            throw new IllegalArgumentException("Adam state has " + s.m.length + " parameters, theta has " + p);
        }
        if (weight == 0) {
            return new Step(theta, s);
        }
        long t = s.k() + 1;
        double scale = weight * stepSize.at(s.k());
        double correction1 = 1 - Math.pow(beta1, (double) t);
        double correction2 = 1 - Math.pow(beta2, (double) t);
        double[] m = new double[p];
        double[] v = new double[p];
        double[] next = new double[p];
        for (int i = 0; i < p; i++) {
            m[i] = beta1 * s.m[i] + (1 - beta1) * z[i];
            v[i] = beta2 * s.v[i] + (1 - beta2) * z[i] * z[i];
            double mHat = m[i] / correction1;
            double vHat = v[i] / correction2;
            next[i] = theta[i] - scale * mHat / (Math.sqrt(vHat) + epsilon);
        }
        return new Step(OptimizerSupport.project(projection, next), new State(t, m, v));
    }
}
