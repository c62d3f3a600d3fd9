package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;

/**
 * Dense closed form of the quadratic bilevel problem (independent of the production code except for the
 * test operator A): with H(θ) = AᵀA + Σ_j w_j D_jᵀD_j + μI (D₀ = I optional),
 * <pre>
 *   x̂ = H⁻¹Aᵀy,   f(θ) = ‖x̂ − x*‖²,   ∇f_j = −w_j ⟨D_j x̂, D_j q̂⟩,   q̂ = H⁻¹ 2(x̂ − x*).
 * </pre>
 */
public final class QuadraticReference {
    public final double[] solution;
    public final double[] hypergradient;
    public final double upperLoss;

    public QuadraticReference(LinearOperator a, double[] y, double[] target, int h, int w, double[] theta,
                              boolean identityTerm, double mu) {
        long[] shape = {h, w};
        double[][] am = Dense.matrixOf(h, w, a.rangeShape(shape), a::apply);
        int n = h * w;
        double[][][] d = identityTerm
                ? new double[][][]{Dense.identity(n), Dense.verticalDifference(h, w), Dense.horizontalDifference(h, w)}
                : new double[][][]{Dense.verticalDifference(h, w), Dense.horizontalDifference(h, w)};
        double[][] hess = Dense.plus(Dense.transposeTimes(am, am), mu, Dense.identity(n));
        for (int j = 0; j < d.length; j++) {
            hess = Dense.plus(hess, Math.exp(theta[j]), Dense.transposeTimes(d[j], d[j]));
        }
        double[][] chol = Dense.cholesky(hess);
        solution = Dense.choleskySolve(chol, Dense.transposeTimes(am, y));
        double[] residual = Dense.minus(solution, target);
        upperLoss = Dense.dot(residual, residual);
        double[] g = residual.clone();
        for (int i = 0; i < g.length; i++) {
            g[i] *= 2;
        }
        double[] q = Dense.choleskySolve(chol, g);
        hypergradient = new double[d.length];
        for (int j = 0; j < d.length; j++) {
            hypergradient[j] = -Math.exp(theta[j]) * Dense.dot(Dense.times(d[j], solution), Dense.times(d[j], q));
        }
    }
}
