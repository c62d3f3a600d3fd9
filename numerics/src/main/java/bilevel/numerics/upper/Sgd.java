package bilevel.numerics.upper;

import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Projected stochastic gradient descent: θ_{k+1} = P(θ_k − w α_k z_k).
 */
public final class Sgd implements UpperOptimizer {

    /**
     * SGD state: only the step counter.
     *
     * <p>Serialised field layout (stable): {@code k} (long, ≥ 0).
     *
     * @param k number of steps taken (the index into the step-size schedule for the next step)
     */
    public record State(long k) implements UpperOptimizer.State {
        public State {
            if (k < 0) {
                throw new IllegalArgumentException("k must be >= 0, got " + k);
            }
        }
    }

    private final Schedule stepSize;
    private final UnaryOperator<double[]> projection;

    /**
     * @param stepSize   α_k
     * @param projection P, applied to a fresh array (it may modify and return it, or return a new one)
     */
    public Sgd(Schedule stepSize, UnaryOperator<double[]> projection) {
        this.stepSize = Objects.requireNonNull(stepSize, "stepSize");
        this.projection = Objects.requireNonNull(projection, "projection");
    }

    @Override
    public Schedule stepSize() {
        return stepSize;
    }

    @Override
    public State init(int numParams) {
        if (numParams < 0) {
            throw new IllegalArgumentException("numParams must be >= 0");
        }
        return new State(0);
    }

    @Override
    public Step step(double[] theta, UpperOptimizer.State state, double[] z, double weight) {
        int p = OptimizerSupport.checkStepArguments(theta, z, weight);
        if (!(state instanceof State s)) {
            throw new IllegalArgumentException("not an SGD state: " + state);
        }
        if (weight == 0) {
            return new Step(theta, s);
        }
        double scale = weight * stepSize.at(s.k());
        double[] next = new double[p];
        for (int i = 0; i < p; i++) {
            next[i] = theta[i] - scale * z[i];
        }
        return new Step(OptimizerSupport.project(projection, next), new State(s.k() + 1));
    }
}
