package bilevel.numerics.primaldual;

import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Hypergradient of f(θ) = ℓ(x*(θ)), ℓ(x) = ‖x − x†‖², for the primal–dual lower level of a
 * {@link SaddlePointProblem}, by <em>piggyback</em> differentiation of PDHG, with the a-posteriori bound of
 * {@link PiggybackErrorBound}.
 *
 * <p>One {@link #compute} call
 * <ol>
 * <li>runs {@link Pdhg} from the state's z = (x, p) until ‖x − x*‖ ≤ ε is certified;</li>
 * <li>linearises the PDHG map T at z: x⁺ = prox_{τG}(x − τKᵀp), b = 2x⁺ − x, a = p + σKb and the free set
 *     d_i = [|a_i| &lt; λ_F/s] of prox_{σF*} (one extra K and Kᵀ);</li>
 * <li>iterates the adjoint of the linearised map, w_{k+1} = B(z)ᵀ w_k + g with g = (2(x − x†), 0), i.e.
 *     <pre>  ṽ = s·d⊙v,  r = P(u + 2σKᵀṽ),  u⁺ = r − σKᵀṽ + 2(x − x†),  v⁺ = ṽ − τKr,</pre>
 *     (one K and one Kᵀ per iteration) from the state's w until e_w := ‖w_{k+1} − w_k‖_* / c ≤ δ, which
 *     bounds ‖w_{k+1} − w̃‖_* because Bᵀ is a ρ-contraction in ‖·‖_* (same argument as for PDHG), with
 *     ‖w‖_*² ≤ (τ‖u‖² + σ‖v‖²)/(1 − κ) evaluated on the step;</li>
 * <li>returns h = J(z)ᵀw = σ∂θ⟨ṽ, K_θb⟩ − τ∂θ⟨p, K_θr⟩ (r recomputed for the final w) and the bound.</li>
 * </ol>
 * The tolerances: ε bounds ‖x − x*‖ (Euclidean, as the {@code Oracle} contract needs), δ bounds the
 * adjoint's distance to the exact fixed point of the linearisation in ‖·‖_{M⁻¹}.
 *
 * <p>Holds image- and dual-sized buffers and a {@link Pdhg}; not thread-safe; {@link #close()} frees them
 * (not the problem).
 */
public final class PiggybackHypergradient implements AutoCloseable {

    /**
     * Statistics of the piggyback (adjoint) iteration.
     *
     * @param iterations           adjoint iterations (each one K and one Kᵀ)
     * @param stepNorm             the bound on ‖w_{k+1} − w_k‖_* of the last iteration
     * @param residual             e_w ≥ ‖w − w̃‖_*, the distance to the linearisation's exact adjoint
     * @param converged            whether e_w ≤ tolerance within the cap
     * @param tolerance            δ
     * @param maxIterations        the cap
     * @param operatorApplications products with K or Kᵀ, including the linearisation and the final r
     * @param certified            whether e_w is a proven bound (the contraction factor is certified)
     */
    public record AdjointResult(int iterations, double stepNorm, double residual, boolean converged,
                                double tolerance, int maxIterations, int operatorApplications, boolean certified)
            implements bilevel.numerics.hypergradient.SolveStatistics {
        @Override
        public boolean reachedIterationCap() {
            return !converged && iterations >= maxIterations;
        }

        /** e_w, the distance bound of the adjoint iterate the method stops on. */
        @Override
        public double accuracy() {
            return residual;
        }
    }

    private final SaddlePointProblem problem;
    private final LearnedOperator.Instance k;
    private final Pdhg pdhg;
    private final int maxPdhgIterations;
    private final int maxAdjointIterations;
    private final PiggybackErrorBound.Constants constants;
    private final INDArray xPlus;
    private final INDArray b;
    private final INDArray t;
    private final INDArray rhs;
    private final INDArray r;
    private final INDArray g;
    private final INDArray du;
    private INDArray u;
    private INDArray uNew;
    private final INDArray a;
    private final INDArray mask;
    private final INDArray vt;
    private final INDArray kr;
    private final INDArray dv;
    private INDArray v;
    private INDArray vNew;

    public PiggybackHypergradient(SaddlePointProblem problem, int maxPdhgIterations, int maxAdjointIterations) {
        this.problem = problem;
        this.k = problem.coupling();
        this.pdhg = new Pdhg(problem);
        this.maxPdhgIterations = maxPdhgIterations;
        this.maxAdjointIterations = maxAdjointIterations;
        this.constants = new PiggybackErrorBound.Constants(problem.tau(), problem.sigma(), problem.kappa(),
                problem.contractionMargin(), problem.normK().value(), k.parameterGradientBound().value(),
                problem.proxNorm(), problem.dualScale());
        xPlus = problem.newImage();
        b = problem.newImage();
        t = problem.newImage();
        rhs = problem.newImage();
        r = problem.newImage();
        g = problem.newImage();
        du = problem.newImage();
        u = problem.newImage();
        uNew = problem.newImage();
        a = problem.newDual();
        mask = problem.newDual();
        vt = problem.newDual();
        kr = problem.newDual();
        dv = problem.newDual();
        v = problem.newDual();
        vNew = problem.newDual();
    }

    public SaddlePointProblem problem() {
        return problem;
    }

    /** A new zero warm-start state (the caller owns and closes it). */
    public PrimalDualState newState() {
        return new PrimalDualState(problem.imageShape(), problem.dualShape(), problem.dataType());
    }

    /** Whether the bound's constants are all certified (L_K, μ_G, Γ, exact prox of G). */
    public boolean constantsCertified() {
        return problem.contractionCertified() && k.parameterGradientBound().certified();
    }

    /** Hypergradient from a cold start. */
    public PrimalDualHypergradient compute(INDArray target, double epsilon, double delta) {
        try (PrimalDualState state = newState()) {
            return compute(target, epsilon, delta, state);
        }
    }

    /**
     * Hypergradient warm-started from {@code state} (updated in place).
     *
     * @param target  x† (unchanged)
     * @param epsilon ε: bound on ‖x − x*‖
     * @param delta   δ: bound on the adjoint's distance to the linearisation's fixed point, in ‖·‖_{M⁻¹}
     * @param state   warm start; modified in place
     */
    public PrimalDualHypergradient compute(INDArray target, double epsilon, double delta, PrimalDualState state) {
        if (!(delta > 0)) {
            throw new IllegalArgumentException("delta must be positive, got " + delta);
        }
        INDArray x = state.primal();
        INDArray p = state.dual();
        Pdhg.Result lower = pdhg.solve(x, p, epsilon, maxPdhgIterations);

        double tau = problem.tau();
        double sigma = problem.sigma();
        double s = problem.dualScale();
        double kappa = problem.kappa();
        double c = problem.contractionMargin();

        // linearisation at z = (x, p)
        k.adjoint(p, t);
        rhs.assign(x);
        VectorOps.axpy(-tau, t, rhs);
        VectorOps.axpy(1.0, problem.tauAty(), rhs);
        xPlus.assign(x);
        problem.applyP(rhs, xPlus);
        b.assign(xPlus);
        VectorOps.scale(2.0, b);
        VectorOps.axpy(-1.0, x, b);                       // b = 2x⁺ − x
        k.apply(b, kr);
        a.assign(p);
        VectorOps.axpy(sigma, kr, a);                     // a = p + σKb
        int applications = 2;
        double kink = problem.huberWeight() / s;
        double ea = PiggybackErrorBound.activityRadius(constants, lower.primalDistance(), lower.dualDistance());
        double[] aValues = a.data().asDouble();
        double[] freeSet = new double[aValues.length];
        boolean[] uncertain = new boolean[aValues.length];
        int uncertainCount = 0;
        for (int i = 0; i < aValues.length; i++) {
            double margin = Math.abs(aValues[i]) - kink;
            freeSet[i] = margin < 0 ? 1.0 : 0.0;
            if (!(Math.abs(margin) > ea)) {
                uncertain[i] = true;
                uncertainCount++;
            }
        }
        try (INDArray m = Nd4j.create(freeSet, problem.dualShape(), DataType.DOUBLE)) {
            mask.assign(m);
        }

        g.assign(x);
        g.subi(target);
        VectorOps.scale(2.0, g);                          // g = ∇ℓ(x) = 2(x − x†)
        double gnorm = VectorOps.norm(g);
        double upperLoss = 0.25 * gnorm * gnorm;

        // piggyback iteration w ← B(z)ᵀ w + g
        u.assign(state.adjointPrimal());
        v.assign(state.adjointDual());
        double uFactor = tau / (1 - kappa);
        double vFactor = sigma / (1 - kappa);
        double stepNorm = Double.POSITIVE_INFINITY;
        double ew = Double.POSITIVE_INFINITY;
        int it = 0;
        while (it < maxAdjointIterations) {
            v.mul(mask, vt);
            VectorOps.scale(s, vt);                       // ṽ = s d ⊙ v
            k.adjoint(vt, t);                             // Kᵀṽ
            rhs.assign(u);
            VectorOps.axpy(2 * sigma, t, rhs);
            problem.applyP(rhs, r);                       // r = P(u + 2σKᵀṽ) (r: warm start for CG)
            uNew.assign(r);
            VectorOps.axpy(-sigma, t, uNew);
            VectorOps.axpy(1.0, g, uNew);                 // u⁺ = r − σKᵀṽ + g
            k.apply(r, kr);
            vNew.assign(vt);
            VectorOps.axpy(-tau, kr, vNew);               // v⁺ = ṽ − τKr
            applications += 2;
            it++;
            du.assign(uNew);
            VectorOps.axpy(-1.0, u, du);
            dv.assign(vNew);
            VectorOps.axpy(-1.0, v, dv);
            stepNorm = Math.sqrt(uFactor * VectorOps.dot(du, du) + vFactor * VectorOps.dot(dv, dv));
            ew = stepNorm / c;
            INDArray tmp = u; u = uNew; uNew = tmp;
            tmp = v; v = vNew; vNew = tmp;
            if (!Double.isFinite(ew) || ew <= delta) {
                break;
            }
        }
        if (!Double.isFinite(ew)) {
            ew = Double.POSITIVE_INFINITY;
        }
        state.adjointPrimal().assign(u);
        state.adjointDual().assign(v);
        AdjointResult adjoint = new AdjointResult(it, stepNorm, ew, ew <= delta, delta, maxAdjointIterations,
                applications + 1, problem.contractionCertified());

        // h = σ ∂θ⟨ṽ, K b⟩ − τ ∂θ⟨p, K r⟩ at the final w
        v.mul(mask, vt);
        VectorOps.scale(s, vt);
        k.adjoint(vt, t);
        rhs.assign(u);
        VectorOps.axpy(2 * sigma, t, rhs);
        problem.applyP(rhs, r);
        double[] h = new double[k.theta().length];
        k.accumulateParameterGradient(b, vt, sigma, h);
        k.accumulateParameterGradient(r, p, -tau, h);

        double nuU2 = 0;
        if (uncertainCount > 0) {
            double[] vValues = v.data().asDouble();
            for (int i = 0; i < vValues.length; i++) {
                if (uncertain[i]) {
                    nuU2 += vValues[i] * vValues[i];
                }
            }
        }
        PiggybackErrorBound.Norms norms = new PiggybackErrorBound.Norms(VectorOps.norm(b), VectorOps.norm(p),
                VectorOps.norm(u), VectorOps.norm(v));
        PiggybackErrorBound bound = PiggybackErrorBound.evaluate(constants, norms, lower.metricDistance(),
                lower.primalDistance(), lower.dualDistance(), ew, uncertainCount, Math.sqrt(nuU2));
        boolean finite = Double.isFinite(bound.value());
        for (double hi : h) {
            finite &= Double.isFinite(hi);
        }
        boolean certified = constantsCertified() && finite;
        return new PrimalDualHypergradient(h, upperLoss, finite ? bound.value() : Double.POSITIVE_INFINITY, certified,
                bound, lower, adjoint, (long) lower.iterations() + adjoint.iterations());
    }

    @Override
    public void close() {
        pdhg.close();
        for (INDArray buf : new INDArray[]{xPlus, b, t, rhs, r, g, du, u, uNew, a, mask, vt, kr, dv, v, vNew}) {
            buf.close();
        }
    }
}
