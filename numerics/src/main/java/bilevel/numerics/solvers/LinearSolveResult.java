package bilevel.numerics.solvers;

/**
 * Outcome of a {@link LinearSolver} run on H q = b.
 *
 * @param iterations            solver iterations (for CG: steps, each one product with H)
 * @param residual              the <em>true</em> residual ‖H q − b‖ at the returned q, recomputed from H
 *                              (not a recursively updated estimate); +∞ if a non-finite value occurred
 * @param converged             whether residual ≤ tolerance
 * @param tolerance             the requested absolute tolerance δ
 * @param maxIterations         the iteration cap
 * @param operatorApplications  total products with H, including residual recomputations
 */
public record LinearSolveResult(int iterations, double residual, boolean converged, double tolerance,
                                int maxIterations, int operatorApplications)
        implements bilevel.numerics.hypergradient.SolveStatistics {
    /** True when the solver stopped because of the cap rather than the tolerance. */
    @Override
    public boolean reachedIterationCap() {
        return !converged && iterations >= maxIterations;
    }

    /** True: the residual is recomputed from H, not estimated. */
    @Override
    public boolean certified() {
        return true;
    }

    /** The true residual ‖H q − b‖. */
    @Override
    public double accuracy() {
        return residual;
    }
}
