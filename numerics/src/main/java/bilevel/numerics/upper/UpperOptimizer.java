package bilevel.numerics.upper;

import java.util.Arrays;

/**
 * An upper-level (outer-loop) optimizer as a pure function: θ_{k+1} = P(θ_k − w α_k d_k), where
 * α_k comes from the optimizer's step-size {@link Schedule} at the state's counter k, d_k is the
 * optimizer's direction built from the hypergradient z (z itself for SGD), w ≥ 0 is a weight (later
 * used to damp stale asynchronous updates), and P is the projection onto the feasible set given at
 * construction (typically {@code Regularizer::project}).
 *
 * <p>Implementations are immutable and thread-safe. {@link #step} never modifies its arguments; states
 * are immutable records that copy their arrays, so they can cross threads and be checkpointed.
 *
 * <p><b>Weight semantics.</b> For w &gt; 0 the state advances (k ← k+1, moments updated with the
 * unweighted z) and only the step is scaled by w. For w = 0 the call is a complete no-op: θ is
 * returned unchanged (not even projected) and the <em>same</em> state is returned, k not incremented
 * — a discarded update must neither advance the schedule nor pollute moment estimates.
 */
public interface UpperOptimizer {

    /** The state before the first step (k = 0, zero moments) for P parameters. */
    State init(int numParams);

    /**
     * One update. Modifies nothing; returns a new θ and a new state.
     *
     * @param theta  θ_k (length P)
     * @param state  the optimizer state for θ_k (as returned by {@link #init} or a previous step)
     * @param z      the hypergradient at θ_k (length P, finite)
     * @param weight w ≥ 0, finite; scales the step (see the class comment for w = 0)
     * @throws IllegalArgumentException on length mismatch, a non-finite z, a negative or non-finite
     *                                  weight, or a state of another optimizer
     */
    Step step(double[] theta, State state, double[] z, double weight);

    /** The step-size schedule α_k. */
    Schedule stepSize();

    /** Optimizer state; k is the number of (non-zero-weight) steps taken so far. */
    sealed interface State permits Sgd.State, Adam.State {
        long k();
    }

    /** Result of {@link #step}: the new parameters and the new state (θ is copied). */
    record Step(double[] theta, State state) {
        public Step {
            theta = theta.clone();
            if (state == null) {
                throw new IllegalArgumentException("state is null");
            }
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Step s && Arrays.equals(theta, s.theta) && state.equals(s.state);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(theta) + state.hashCode();
        }

        @Override
        public String toString() {
            return "Step[theta=" + Arrays.toString(theta) + ", state=" + state + "]";
        }
    }
}
