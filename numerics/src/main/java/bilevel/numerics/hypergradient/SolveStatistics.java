package bilevel.numerics.hypergradient;

/**
 * What every iterative solve inside a {@link HypergradientMethod} reports, whatever the solver: the lower
 * level (FISTA, PDHG) and the adjoint (CG, the piggyback iteration).
 *
 * <p>{@link #accuracy()} is the a-posteriori accuracy the solver stops on, evaluated at the returned iterate
 * (FISTA: the certified distance ‖∇h(x)‖/μ_h ≥ ‖x − x̂‖; PDHG: the certified distance bound on ‖x − x*‖; CG: the
 * recomputed residual ‖Hq − g‖; piggyback: the distance bound e_w of the adjoint iterate); the solve has
 * {@link #converged()} iff accuracy ≤ {@link #tolerance()}.
 */
public interface SolveStatistics {

    /** Iterations performed by this call (≥ 0). */
    int iterations();

    /** Whether {@link #accuracy()} ≤ {@link #tolerance()} was reached within the cap. */
    boolean converged();

    /** The requested tolerance. */
    double tolerance();

    /** The achieved accuracy at the returned iterate (+∞ after a non-finite value). */
    double accuracy();

    /**
     * Whether {@link #accuracy()} is proven (FISTA, PDHG, piggyback: their constants are certified; CG: the
     * residual is recomputed from the operator, so always).
     */
    boolean certified();

    /** The iteration cap. */
    int maxIterations();

    /** True when the solver stopped because of the cap rather than the tolerance. */
    default boolean reachedIterationCap() {
        return !converged() && iterations() >= maxIterations();
    }
}
