package bilevel.numerics.primaldual;

/**
 * The a-posteriori bound on ‖h − ∇f(θ)‖ for the piggyback hypergradient h of {@link PiggybackHypergradient},
 * with its ingredients.
 *
 * <h2>Setting</h2>
 * T(z, θ) is the PDHG map of {@link SaddlePointProblem} (z = (x, p)), a contraction with factor ρ = 1/(1 + c)
 * in ‖·‖_M; z* = T(z*, θ) the saddle point. Norms: ‖w‖_* := ‖w‖_{M⁻¹} for adjoint variables w = (u, v);
 * from (1 − κ)D ⪯ M ⪯ (1 + κ)D (D = diag(I/τ, I/σ)):
 * ‖w‖_*² ≤ (τ‖u‖² + σ‖v‖²)/(1 − κ) and τ‖u‖² + σ‖v‖² ≤ (1 + κ)‖w‖_*².
 * Write B(z) = ∂_zT(z), J(z) = ∂_θT(z), g(z) = (2(x − x†), 0) = ∇_z ℓ. Then (implicit function theorem on
 * z* = T(z*, θ)) ∇f = J(z*)ᵀ w*, w* = B(z*)ᵀ w* + g(z*).
 *
 * <p>At the computed z: x⁺ = prox_{τG}(x − τKᵀp), b = 2x⁺ − x, a = p + σKb (so T(z) = (x⁺, prox_{σF*}(a)));
 * Π' = s·diag(d) with d_i = 1 on the free set |a_i| &lt; λ_F/s and 0 elsewhere. Then
 * <pre>
 *   B(z)ᵀ(u, v) = (r − σKᵀṽ, ṽ − τKr),        ṽ = Π'v,  r = P(u + 2σKᵀṽ),
 *   J(z)ᵀ(u, v) = σ ∂θ⟨ṽ, K_θ b⟩ − τ ∂θ⟨p, K_θ r⟩,
 * </pre>
 * (differentiate x⁺ = P(x − τK_θᵀp + τAᵀy) and p⁺ = prox(p + σK_θ(2x⁺ − x)) in (x, p), resp. θ).
 * B(z) depends on z only through d: for every d ∈ {0,1}^m, B_d is the PDHG map of a linearised saddle
 * problem (F* replaced by (μ_F/2)‖p‖² on the free set plus the indicator of p_i = 0 on the clamped set,
 * which is still μ_F-strongly convex), so ‖B_d‖_M ≤ ρ and ‖B_dᵀ‖_* ≤ ρ.
 *
 * <h2>Computed quantities</h2>
 * ε_M ≥ ‖z − z*‖_M (PDHG), e_x = √(τ/(1−κ))ε_M, e_p = √(σ/(1−κ))ε_M; the piggyback iterate w = (u, v)
 * with e_w ≥ ‖w − w̃‖_*, w̃ = B(z)ᵀw̃ + g(z) (w̃ the exact fixed point of the linearisation at z). Constants:
 * L_K ≥ ‖K‖, Γ with ‖∂θ⟨v, K_θx⟩‖ ≤ Γ‖x‖‖v‖, π ≥ ‖P‖, s.
 *
 * <h2>Derivation</h2>
 * <ol>
 * <li><b>Uncertain set.</b> x⁺* = x*, b* = x*, a* = p* + σKx*. ‖x⁺ − x*‖ ≤ π(e_x + τL_K e_p) =: e_{x⁺},
 *     ‖b − b*‖ ≤ 2e_{x⁺} + e_x =: e_b, ‖a − a*‖_∞ ≤ ‖a − a*‖ ≤ e_p + σL_K e_b =: e_a. Components with
 *     ||a_i| − λ_F/s| &gt; e_a are on the same side of the kink at z and z*, so d and d* differ at most on
 *     U = {i : ||a_i| − λ_F/s| ≤ e_a}; ν_U := ‖v_U‖ (0 if U = ∅). (Assumption: strict complementarity at z*,
 *     i.e. no |a*_i| = λ_F/s; otherwise f is not differentiable at θ and there is no hypergradient.)</li>
 * <li><b>Adjoint.</b> (Bᵀ − B*ᵀ)w = Φ((Π' − Π'*)v) with Φ(y) = ((2P − I)σKᵀy, (I − 2στKPKᵀ)y); since
 *     0 ⪯ P ⪯ I and 2στ‖KPKᵀ‖ ≤ 2κ² &lt; 2: ‖Φ(y)‖_* ≤ φ‖y‖, φ = √(σ(1 + κ²)/(1 − κ)). From
 *     w̃ − w* = B*ᵀ(w̃ − w*) + (Bᵀ − B*ᵀ)w̃ + g − g*:
 *     <pre>  ‖w̃ − w*‖_* ≤ [φ s (ν_U + √((1+κ)/σ) e_w)·[U ≠ ∅] + 2e_x√(τ/(1−κ))] / (1 − ρ),</pre>
 *     and e_adj := e_w + that ≥ ‖w − w*‖_*; e_u = √((1+κ)/τ) e_adj ≥ ‖u − u*‖, e_v = √((1+κ)/σ) e_adj ≥ ‖v − v*‖.</li>
 * <li><b>Hypergradient.</b> h − ∇f = J(z)ᵀ(w − w*) + (J(z) − J(z*))ᵀ w*.
 *     <ul>
 *     <li>‖J(z)ᵀ(w − w*)‖ ≤ Γ[σ‖b‖ s e_v + τ‖p‖ π (e_u + 2σL_K s e_v)] =: A.</li>
 *     <li>With ‖u*‖ ≤ ‖u‖ + e_u, ‖v*‖ ≤ ‖v‖ + e_v, ‖v*_U‖ ≤ (ν_U + e_v)[U ≠ ∅]:
 *         σ(∂θ⟨Π'v*, Kb⟩ − ∂θ⟨Π'*v*, Kb*⟩) ≤ σΓ[e_b s‖v*‖ + (‖b‖ + e_b) s‖v*_U‖] =: B_σ, and with
 *         r' = P(u* + 2σKᵀΠ'v*), r* = P(u* + 2σKᵀΠ'*v*):
 *         τ‖∂θ⟨p, Kr'⟩ − ∂θ⟨p*, Kr*⟩‖ ≤ τΓ[π 2σL_K s‖v*_U‖ ‖p‖ + π(‖u*‖ + 2σL_K s‖v*‖) e_p] =: B_τ.</li>
 *     </ul>
 *     <pre>  ‖h − ∇f(θ)‖ ≤ A + B_σ + B_τ.  ∎</pre></li>
 * </ol>
 * Certified when L_K, λ_min(AᵀA) and Γ are certified and P is applied exactly (A with diagonal AᵀA):
 * every step is an inequality between exact quantities (rounding is not accounted for, as elsewhere in the
 * project). The iteration caps do not affect validity: ε_M and e_w are a-posteriori bounds at the returned
 * iterates whether or not the tolerances were reached.
 *
 * <p>{@link #lowerLevelPart()} is the value with e_w = 0 (what remains with an exact adjoint), and
 * {@link #adjointPart()} = value − lowerLevelPart; {@link AdaptiveTolerances} uses the split.
 *
 * @param metricDistance     ε_M
 * @param primalDistance     e_x
 * @param dualDistance       e_p
 * @param adjointDistance    e_w
 * @param activityRadius     e_a
 * @param uncertainCount     |U|
 * @param uncertainAdjoint   ν_U
 * @param adjointError       e_adj ≥ ‖w − w*‖_*
 * @param value              the bound A + B_σ + B_τ
 * @param lowerLevelPart     the bound with e_w = 0
 * @param adjointPart        value − lowerLevelPart
 */
public record PiggybackErrorBound(double metricDistance, double primalDistance, double dualDistance,
                                  double adjointDistance, double activityRadius, int uncertainCount,
                                  double uncertainAdjoint, double adjointError, double value,
                                  double lowerLevelPart, double adjointPart)
        implements bilevel.numerics.hypergradient.HypergradientBound {

    /** Constants of the bound that depend on the problem only. */
    record Constants(double tau, double sigma, double kappa, double c, double normK, double gamma,
                     double proxNorm, double dualScale) {
    }

    /** Norms at the computed point: ‖b‖, ‖p‖, ‖u‖, ‖v‖. */
    record Norms(double b, double p, double u, double v) {
    }

    /** e_a = e_p + σL_K(2π(e_x + τL_K e_p) + e_x), the radius of the uncertain set. */
    static double activityRadius(Constants k, double ex, double ep) {
        double exPlus = k.proxNorm() * (ex + k.tau() * k.normK() * ep);
        double eb = 2 * exPlus + ex;
        return ep + k.sigma() * k.normK() * eb;
    }

    static PiggybackErrorBound evaluate(Constants k, Norms n, double metricDistance, double ex, double ep,
                                        double ew, int uncertainCount, double nuU) {
        double[] all = value(k, n, ex, ep, ew, uncertainCount, nuU);
        double[] noAdjoint = value(k, n, ex, ep, 0.0, uncertainCount, nuU);
        double v = Double.isNaN(all[0]) ? Double.POSITIVE_INFINITY : all[0];   // e.g. 0·∞ after a failed solve
        double lower = Double.isNaN(noAdjoint[0]) ? Double.POSITIVE_INFINITY : Math.min(v, noAdjoint[0]);
        return new PiggybackErrorBound(metricDistance, ex, ep, ew, activityRadius(k, ex, ep), uncertainCount, nuU,
                all[1], v, lower, v - lower);
    }

    /** {value, e_adj}. */
    private static double[] value(Constants k, Norms n, double ex, double ep, double ew, int uncertainCount,
                                  double nuU) {
        double tau = k.tau();
        double sigma = k.sigma();
        double kappa = k.kappa();
        double s = k.dualScale();
        double lk = k.normK();
        double pi = k.proxNorm();
        double gamma = k.gamma();
        double oneMinusRho = k.c() / (1 + k.c());
        boolean uncertain = uncertainCount > 0;
        double phi = Math.sqrt(sigma * (1 + kappa * kappa) / (1 - kappa));
        double vFactor = Math.sqrt((1 + kappa) / sigma);
        double uFactor = Math.sqrt((1 + kappa) / tau);
        double switching = uncertain ? phi * s * (nuU + vFactor * ew) : 0.0;
        double dataError = 2 * ex * Math.sqrt(tau / (1 - kappa));
        double adjointError = ew + (switching + dataError) / oneMinusRho;
        double eu = uFactor * adjointError;
        double ev = vFactor * adjointError;
        double a = gamma * (sigma * n.b() * s * ev + tau * n.p() * pi * (eu + 2 * sigma * lk * s * ev));
        double uStar = n.u() + eu;
        double vStar = n.v() + ev;
        double vStarU = uncertain ? nuU + ev : 0.0;
        double exPlus = pi * (ex + tau * lk * ep);
        double eb = 2 * exPlus + ex;
        double bSigma = sigma * gamma * (eb * s * vStar + (n.b() + eb) * s * vStarU);
        double bTau = tau * gamma * (pi * 2 * sigma * lk * s * vStarU * n.p() + pi * (uStar + 2 * sigma * lk * s * vStar) * ep);
        return new double[]{a + bSigma + bTau, adjointError};
    }
}
