package bilevel.numerics.primaldual;

/**
 * An inexact piggyback hypergradient z ≈ ∇f(θ) for one training pair with its a-posteriori error bound, in
 * the shape of {@link bilevel.numerics.hypergradient.Hypergradient} (same accessor names; the two solver
 * statistics are PDHG and the piggyback iteration instead of FISTA and CG). Immutable: {@link #z()} copies.
 *
 * @param z            the hypergradient estimate J(z)ᵀw, length P
 * @param upperLoss    ℓ(x) = ‖x − x†‖² at the returned PDHG iterate x
 * @param errorBound   an upper bound on ‖z − ∇f(θ)‖ (see {@link PiggybackErrorBound})
 * @param certified    whether {@code errorBound} is proven (see {@link PiggybackErrorBound}: all constants
 *                     certified and the prox of G exact)
 * @param bound        the bound with its ingredients
 * @param lowerLevel   PDHG statistics
 * @param linearSolve  piggyback statistics
 * @param computations PDHG iterations + piggyback iterations of this call
 */
public record PrimalDualHypergradient(double[] z, double upperLoss, double errorBound, boolean certified,
                                      PiggybackErrorBound bound, Pdhg.Result lowerLevel,
                                      PiggybackHypergradient.AdjointResult linearSolve, long computations) {
    public PrimalDualHypergradient {
        z = z.clone();
    }

    @Override
    public double[] z() {
        return z.clone();
    }

    public int size() {
        return z.length;
    }

    public double z(int i) {
        return z[i];
    }
}
