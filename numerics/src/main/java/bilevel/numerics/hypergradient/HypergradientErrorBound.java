package bilevel.numerics.hypergradient;

/**
 * The a-posteriori bound on ‖z − ∇f(θ)‖ for an inexact implicit hypergradient z, with its ingredients.
 *
 * <h2>Setting</h2>
 * h(·, θ) is μ-strongly convex (∇²h ⪰ μI), x̂ its minimiser, ℓ the upper loss with L_ℓ-Lipschitz
 * gradient, H(x) = ∇²ₓₓh(x), J(x) = ∂θ∇ₓh(x) (= ∂θ∇ₓR_θ(x): the data term does not depend on θ), and
 * <pre>
 *   ∇f(θ) = z* = −J(x̂)ᵀ q̂,   q̂ = H(x̂)⁻¹ ĝ,   ĝ = ∇ℓ(x̂)            (implicit function theorem).
 * </pre>
 * The computed quantities are x with ‖x − x̂‖ ≤ ε, g = ∇ℓ(x), q with ‖H(x) q − g‖ ≤ δ, and z = −J(x)ᵀ q.
 * Constants: L_H with ‖H(u) − H(v)‖ ≤ L_H‖u − v‖ and L_J with ‖J(u) − J(v)‖ ≤ L_J‖u − v‖ (for h these are
 * the regularizer's, the other terms being quadratic in x and independent of θ), and M ≥ ‖J(x)‖.
 *
 * <h2>Derivation</h2>
 * <ol>
 * <li>‖ĝ‖ ≤ ‖g‖ + ‖ĝ − g‖ ≤ ‖g‖ + L_ℓ ε, and ‖H(x̂)⁻¹‖ ≤ 1/μ, so
 *     ‖q̂‖ ≤ Q := (‖g‖ + L_ℓ ε)/μ.</li>
 * <li>Let q̃ = H(x)⁻¹ g. Then q − q̃ = H(x)⁻¹(H(x)q − g), so ‖q − q̃‖ ≤ δ/μ.</li>
 * <li>q̃ − q̂ = H(x)⁻¹(g − ĝ) + (H(x)⁻¹ − H(x̂)⁻¹) ĝ, and H(x)⁻¹ − H(x̂)⁻¹ = H(x)⁻¹(H(x̂) − H(x))H(x̂)⁻¹,
 *     so (H(x)⁻¹ − H(x̂)⁻¹)ĝ = H(x)⁻¹(H(x̂) − H(x)) q̂ and ‖q̃ − q̂‖ ≤ (L_ℓ ε + L_H ε Q)/μ.</li>
 * <li>Hence ‖q − q̂‖ ≤ (δ + L_ℓ ε + L_H ε Q)/μ.</li>
 * <li>z − z* = −J(x)ᵀq + J(x̂)ᵀq̂ = −J(x)ᵀ(q − q̂) − (J(x) − J(x̂))ᵀ q̂, so
 *     <pre>  ‖z − z*‖ ≤ M (δ + L_ℓ ε + L_H ε Q)/μ + L_J ε Q.  ∎</pre></li>
 * </ol>
 * The bound is applied with the <em>achieved</em> ε = ‖∇h(x)‖/μ (see {@code Fista}) and the achieved,
 * recomputed δ = ‖H(x)q − g‖ (see {@code ConjugateGradient}), not the requested tolerances. Every step is
 * an inequality between exact quantities, so the bound is proven whenever μ, M, L_H, L_J are certified;
 * it does not account for floating-point rounding in evaluating the certificates themselves.
 *
 * @param strongConvexity         μ
 * @param distance                ε ≥ ‖x − x̂‖
 * @param residual                δ ≥ ‖H(x)q − ∇ℓ(x)‖
 * @param upperGradientNorm       ‖g‖ = ‖∇ℓ(x)‖
 * @param upperGradientLipschitz  L_ℓ
 * @param adjointNormBound        Q = (‖g‖ + L_ℓ ε)/μ ≥ ‖q̂‖
 * @param adjointError            (δ + L_ℓ ε + L_H ε Q)/μ ≥ ‖q − q̂‖
 * @param mixedNorm               M ≥ ‖J(x)‖
 * @param hessianLipschitz        L_H
 * @param mixedLipschitz          L_J
 * @param value                   M·adjointError + L_J ε Q ≥ ‖z − ∇f(θ)‖
 * @param constantsCertified      whether μ, M, L_H and L_J are all certified
 */
public record HypergradientErrorBound(double strongConvexity, double distance, double residual,
                                      double upperGradientNorm, double upperGradientLipschitz,
                                      double adjointNormBound, double adjointError, double mixedNorm,
                                      double hessianLipschitz, double mixedLipschitz, double value,
                                      boolean constantsCertified) implements HypergradientBound {

    /** Evaluates the bound from its ingredients (see the class documentation). */
    public static HypergradientErrorBound evaluate(double strongConvexity, double distance, double residual,
                                                   double upperGradientNorm, double upperGradientLipschitz,
                                                   double mixedNorm, double hessianLipschitz,
                                                   double mixedLipschitz, boolean constantsCertified) {
        double mu = strongConvexity;
        double eps = distance;
        double q = (upperGradientNorm + upperGradientLipschitz * eps) / mu;
        double adjointError = (residual + upperGradientLipschitz * eps + hessianLipschitz * eps * q) / mu;
        double value = mixedNorm * adjointError + mixedLipschitz * eps * q;
        if (Double.isNaN(value)) {
            value = Double.POSITIVE_INFINITY;   // e.g. 0·∞ from a failed solve: no information
        }
        return new HypergradientErrorBound(mu, eps, residual, upperGradientNorm, upperGradientLipschitz, q,
                adjointError, mixedNorm, hessianLipschitz, mixedLipschitz, value, constantsCertified);
    }
}
