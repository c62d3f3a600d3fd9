package bilevel.numerics.primaldual;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Chooses the PDHG tolerance ε and the piggyback tolerance δ adaptively so that the a-posteriori bound of
 * {@link PiggybackErrorBound} falls below a requested hypergradient accuracy η, warm-starting every
 * refinement from the previous iterates.
 *
 * <p>Rule: compute with (ε, δ); stop if the bound is ≤ η. Otherwise split the bound into its lower-level
 * part B_ε (the bound with an exact adjoint, e_w = 0) and its adjoint part B_δ = bound − B_ε. Each part is
 * roughly proportional to its tolerance, so each part above η/2 has its tolerance multiplied by
 * clamp(0.9·(η/2)/part, {@link #MIN_FACTOR}, {@link #MAX_FACTOR}); a part already ≤ η/2 keeps its tolerance.
 * Since the tolerances only decrease and the iterates are warm-started, the total work is close to that of a
 * single solve at the final tolerances, which are only as tight as the bound requires — not the a-priori
 * "safe" tolerances a fixed scheme must use.
 *
 * <p>Stops without reaching η when a tolerance would drop below {@code minTolerance} or after
 * {@code maxRefinements} refinements ({@link Result#reached()} is then false).
 */
public final class AdaptiveTolerances {
    /** Smallest factor by which one refinement tightens a tolerance. */
    public static final double MIN_FACTOR = 1e-3;
    /** Largest factor (a refinement at least halves a tolerance it touches). */
    public static final double MAX_FACTOR = 0.5;

    private AdaptiveTolerances() {
    }

    /**
     * @param hypergradient the last hypergradient (its bound ≤ η iff {@code reached})
     * @param epsilon       the final ε
     * @param delta         the final δ
     * @param refinements   number of recomputations after the first
     * @param computations  PDHG + piggyback iterations over all calls
     * @param reached       whether the bound is ≤ η
     */
    public record Result(PrimalDualHypergradient hypergradient, double epsilon, double delta, int refinements,
                         long computations, boolean reached) {
    }

    /**
     * Refines until the bound is ≤ {@code accuracy}.
     *
     * @param method       the piggyback method of the sample
     * @param target       x† (unchanged)
     * @param accuracy     η &gt; 0
     * @param state        warm start (modified in place)
     * @param epsilon0     initial ε
     * @param delta0       initial δ
     * @param minTolerance smallest admissible ε or δ
     * @param maxRefinements cap on recomputations
     */
    public static Result compute(PiggybackHypergradient method, INDArray target, double accuracy,
                                 PrimalDualState state, double epsilon0, double delta0, double minTolerance,
                                 int maxRefinements) {
        if (!(accuracy > 0) || !(epsilon0 > 0) || !(delta0 > 0) || !(minTolerance > 0)) {
            throw new IllegalArgumentException("accuracy, tolerances must be positive");
        }
        double eps = epsilon0;
        double delta = delta0;
        long computations = 0;
        int refinements = 0;
        while (true) {
            PrimalDualHypergradient h = method.compute(target, eps, delta, state);
            computations += h.computations();
            if (h.errorBound() <= accuracy) {
                return new Result(h, eps, delta, refinements, computations, true);
            }
            double half = 0.5 * accuracy;
            double lower = h.bound().lowerLevelPart();
            double adjoint = h.bound().adjointPart();
            double nextEps = lower > half ? eps * factor(half, lower) : eps;
            double nextDelta = adjoint > half ? delta * factor(half, adjoint) : delta;
            if (refinements >= maxRefinements || nextEps < minTolerance || nextDelta < minTolerance) {
                return new Result(h, eps, delta, refinements, computations, false);
            }
            eps = nextEps;
            delta = nextDelta;
            refinements++;
        }
    }

    private static double factor(double goal, double part) {
        double f = 0.9 * goal / part;
        if (!(f > MIN_FACTOR)) {
            return MIN_FACTOR;   // also for part = ∞
        }
        return Math.min(MAX_FACTOR, f);
    }
}
