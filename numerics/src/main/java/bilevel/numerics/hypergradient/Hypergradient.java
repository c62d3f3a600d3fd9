package bilevel.numerics.hypergradient;

/**
 * An inexact hypergradient z ≈ ∇f(θ) for one training pair with its a-posteriori error bound, as every
 * {@link HypergradientMethod} returns it. Immutable: {@link #z()} returns a copy.
 *
 * @param z             the hypergradient estimate, length P (implicit: −J(x)ᵀq; piggyback: J(z)ᵀw)
 * @param upperLoss     ℓ(x) = ‖x − x*‖² at the computed lower-level solution x
 * @param errorBound    an upper bound on ‖z − ∇f(θ)‖ (= {@code bound.value()}; +∞ when nothing is known)
 * @param certified     whether {@code errorBound} is proven: all constants certified and both solvers converged
 * @param bound         the bound with its method-specific ingredients ({@link HypergradientErrorBound} for the
 *                      implicit method, {@code PiggybackErrorBound} for the piggyback method)
 * @param lowerLevel    statistics of the lower-level solve (FISTA or PDHG)
 * @param linearSolve   statistics of the adjoint solve (CG or the piggyback iteration)
 * @param computations  lower-level iterations + adjoint iterations of this call (plus, with estimated error
 *                      bounds, the regularizer evaluations of the estimator)
 */
public record Hypergradient(double[] z, double upperLoss, double errorBound, boolean certified,
                            HypergradientBound bound, SolveStatistics lowerLevel, SolveStatistics linearSolve,
                            long computations) {
    public Hypergradient {
        z = z.clone();
    }

    @Override
    public double[] z() {
        return z.clone();
    }

    /** Number of parameters P. */
    public int size() {
        return z.length;
    }

    /** Entry i of z. */
    public double z(int i) {
        return z[i];
    }
}
