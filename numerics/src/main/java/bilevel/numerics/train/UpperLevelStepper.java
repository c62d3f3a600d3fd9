package bilevel.numerics.train;

import bilevel.numerics.upper.UpperOptimizer;

import java.util.Arrays;
import java.util.Objects;

/**
 * The upper-level state transitions of stochastic training, as a pure class (no threads, no actors):
 * θ_{v+1} = P(θ_v − w α_k d_k) through an {@link UpperOptimizer}, where v is the <em>version</em> of θ
 * (the number of updates applied so far), d_k the optimizer's direction from a hypergradient z, and w a
 * weight from the staleness policy.
 *
 * <p><b>Synchronous use</b> (the {@link ReferenceTrainer} and the actor runtime's sync mode): the
 * minibatch mean is accumulated sample by sample in batch order with {@link #addMean}
 * (z ← z + z_i/n, componentwise — the floating-point order is part of the definition), then
 * {@link #apply}(state, z, state.version()) takes the step with staleness 0 and weight 1. Both callers
 * use exactly these two methods, so the actor runtime's sync mode reproduces the reference trainer's θ
 * bit for bit by construction.
 *
 * <p><b>Asynchronous use</b>: a hypergradient computed at version u arrives when θ has version v ≥ u;
 * its <em>staleness</em> is s = v − u. The {@link Staleness} policy turns s into a weight
 * (w = 1/(1+s), or w = 1) and rejects it (w = 0: nothing changes, see {@link UpperOptimizer}) when
 * s exceeds the maximum. {@link #apply} does this for one hypergradient (or the mean of a group, with
 * the group's weight {@link #groupWeight}).
 *
 * <p>Immutable and thread-safe if the optimizer is.
 */
public final class UpperLevelStepper {

    /** How a stale hypergradient is weighted. */
    public enum Policy {
        /** w = 1/(1+s) for s ≤ max, rejected above. */
        WEIGHT,
        /** w = 1 for s ≤ max, rejected above. */
        REJECT;

        /** Parses "weight" or "reject" (case-insensitive). */
        public static Policy parse(String s) {
            return switch (s.strip().toLowerCase(java.util.Locale.ROOT)) {
                case "weight" -> WEIGHT;
                case "reject" -> REJECT;
                default -> throw new IllegalArgumentException("staleness policy must be weight or reject, got '" + s + "'");
            };
        }
    }

    /**
     * Staleness policy.
     *
     * @param policy       weighting rule
     * @param maxStaleness largest accepted staleness s (≥ 0); larger ones are rejected
     */
    public record Staleness(Policy policy, long maxStaleness) {
        public Staleness {
            Objects.requireNonNull(policy, "policy");
            if (maxStaleness < 0) {
                throw new IllegalArgumentException("max staleness must be >= 0, got " + maxStaleness);
            }
        }

        /** Accepts only fresh hypergradients (s = 0), weight 1: the synchronous algorithm. */
        public static Staleness synchronous() {
            return new Staleness(Policy.REJECT, 0);
        }

        /** The weight w(s) ≥ 0 of a hypergradient of staleness s ≥ 0 (0 = rejected). */
        public double weight(long staleness) {
            if (staleness < 0) {
                throw new IllegalArgumentException("staleness must be >= 0, got " + staleness);
            }
            if (staleness > maxStaleness) {
                return 0.0;
            }
            return policy == Policy.WEIGHT ? 1.0 / (1.0 + staleness) : 1.0;
        }
    }

    /**
     * The upper-level state: θ, the optimizer's state and the version of θ. Immutable (arrays copied).
     *
     * <p>Serialised field layout (stable): {@code theta} (double[P]), {@code optimizer} (the optimizer's
     * state), {@code version} (long ≥ 0, updates applied so far).
     */
    public record State(double[] theta, UpperOptimizer.State optimizer, long version) {
        public State {
            theta = theta.clone();
            Objects.requireNonNull(optimizer, "optimizer");
            if (version < 0) {
                throw new IllegalArgumentException("version must be >= 0, got " + version);
            }
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        /** The schedule index k of the next step (the optimizer's step counter). */
        public long k() {
            return optimizer.k();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && version == s.version && Arrays.equals(theta, s.theta)
                    && optimizer.equals(s.optimizer);
        }

        @Override
        public int hashCode() {
            return Objects.hash(Arrays.hashCode(theta), optimizer, version);
        }

        @Override
        public String toString() {
            return "UpperLevelStepper.State[version=" + version + ", theta=" + Arrays.toString(theta) + ", optimizer="
                    + optimizer + "]";
        }
    }

    /**
     * Result of {@link #apply}.
     *
     * @param state     the next state (the same state when not applied)
     * @param applied   whether θ changed (weight &gt; 0)
     * @param staleness s = version − computed-at version
     * @param weight    w(s) (0 when rejected)
     */
    public record Outcome(State state, boolean applied, long staleness, double weight) {
        public Outcome {
            Objects.requireNonNull(state, "state");
        }
    }

    private final UpperOptimizer optimizer;
    private final Staleness staleness;

    public UpperLevelStepper(UpperOptimizer optimizer, Staleness staleness) {
        this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
        this.staleness = Objects.requireNonNull(staleness, "staleness");
    }

    public UpperOptimizer optimizer() {
        return optimizer;
    }

    public Staleness staleness() {
        return staleness;
    }

    /** The state at θ0 (version 0, the optimizer's initial state). θ0 is copied, not projected. */
    public State init(double[] theta0) {
        return new State(theta0, optimizer.init(theta0.length), 0);
    }

    /** α_k of the next step from {@code state}. */
    public double stepSize(State state) {
        return optimizer.stepSize().at(state.k());
    }

    /**
     * Adds z_i/n to the running mean {@code sum} (componentwise {@code sum[j] += z[j] / n}); calling it for
     * the n samples of a minibatch in batch order yields the mean hypergradient. Modifies {@code sum}.
     */
    public static void addMean(double[] sum, double[] z, int n) {
        if (sum.length != z.length) {
            throw new IllegalArgumentException("mean has length " + sum.length + " but z has " + z.length);
        }
        for (int j = 0; j < sum.length; j++) {
            sum[j] += z[j] / n;
        }
    }

    /** Whether every entry of z is finite. */
    public static boolean finite(double[] z) {
        for (double v : z) {
            if (!Double.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /** ‖z‖₂. */
    public static double norm(double[] z) {
        double s = 0;
        for (double v : z) {
            s += v * v;
        }
        return Math.sqrt(s);
    }

    /**
     * The weight of a group of hypergradients applied as one mean: the mean of the members' weights
     * w(s_i) (members with weight 0 should have been left out of the group).
     *
     * @param stalenesses s_i of the members at the time of application
     */
    public double groupWeight(long... stalenesses) {
        if (stalenesses.length == 0) {
            throw new IllegalArgumentException("empty group");
        }
        double w = 0;
        for (long s : stalenesses) {
            w += staleness.weight(s);
        }
        return w / stalenesses.length;
    }

    /**
     * Applies a hypergradient z computed at version {@code computedAt} ≤ state.version(): staleness
     * s = state.version() − computedAt, weight w(s); if w &gt; 0 the optimizer steps with weight w and
     * the version increases by one, otherwise nothing changes. Modifies nothing.
     *
     * @throws IllegalArgumentException if z is not finite, has the wrong length, or computedAt is in the future
     */
    public Outcome apply(State state, double[] z, long computedAt) {
        if (computedAt > state.version() || computedAt < 0) {
            throw new IllegalArgumentException("hypergradient computed at version " + computedAt
                    + " but theta has version " + state.version());
        }
        long s = state.version() - computedAt;
        return applyWeighted(state, z, s, staleness.weight(s));
    }

    /**
     * Applies z with an explicit weight w ≥ 0 (e.g. {@link #groupWeight} of a group's mean), reporting
     * staleness s. w = 0 changes nothing.
     */
    public Outcome applyWeighted(State state, double[] z, long s, double weight) {
        if (!finite(z)) {
            throw new IllegalArgumentException("hypergradient z has a non-finite entry");
        }
        if (weight == 0) {
            return new Outcome(state, false, s, 0.0);
        }
        UpperOptimizer.Step step = optimizer.step(state.theta, state.optimizer(), z, weight);
        return new Outcome(new State(step.theta(), step.state(), state.version() + 1), true, s, weight);
    }
}
