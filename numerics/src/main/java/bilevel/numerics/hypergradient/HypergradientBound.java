package bilevel.numerics.hypergradient;

/**
 * The a-posteriori bound on ‖z − ∇f(θ)‖ of a {@link Hypergradient}, with its method-specific ingredients
 * ({@link HypergradientErrorBound} for the implicit method, {@code primaldual.PiggybackErrorBound} for the
 * piggyback method).
 */
public interface HypergradientBound {

    /** The bound (≥ 0, +∞ when nothing is known). */
    double value();
}
