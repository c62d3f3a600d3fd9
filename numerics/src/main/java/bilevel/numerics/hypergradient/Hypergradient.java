package bilevel.numerics.hypergradient;

import bilevel.numerics.solvers.Fista;
import bilevel.numerics.solvers.LinearSolveResult;

/**
 * An inexact implicit hypergradient z ≈ ∇f(θ) for one training pair, with a certified error bound.
 * Immutable: {@link #z()} returns a copy.
 *
 * @param z             the hypergradient estimate −J(x)ᵀq, length P
 * @param upperLoss     ℓ(x) = ‖x − x*‖² at the computed lower-level solution x
 * @param errorBound    an upper bound on ‖z − ∇f(θ)‖ (see {@link HypergradientErrorBound})
 * @param certified     whether {@code errorBound} is proven: all constants certified and both solvers converged
 * @param bound         the bound with its ingredients
 * @param lowerLevel    statistics of the lower-level solve
 * @param linearSolve   statistics of the adjoint linear solve
 * @param computations  lower-level iterations + linear-solver iterations of this call (plus, with estimated
 *                      error bounds, the regularizer evaluations of the estimator)
 */
public record Hypergradient(double[] z, double upperLoss, double errorBound, boolean certified,
                            HypergradientErrorBound bound, Fista.Result lowerLevel, LinearSolveResult linearSolve,
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
