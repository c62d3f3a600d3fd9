package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.SolveStatistics;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The primal–dual hybrid gradient method (Chambolle–Pock) for a {@link SaddlePointProblem}, with a
 * certified a-posteriori stopping rule.
 *
 * <h2>Iteration</h2>
 * <pre>
 *   x⁺ = prox_{τG}(x − τKᵀp) = P(x − τKᵀp + τAᵀy),
 *   p⁺ = prox_{σF*}(p + σK(2x⁺ − x)),
 * </pre>
 * computed with one product with K and one with Kᵀ per iteration (K x is carried over, so K(2x⁺ − x) =
 * 2Kx⁺ − Kx and K(x⁺ − x) come for free).
 *
 * <h2>Stopping rule (certified when {@link SaddlePointProblem#contractionCertified()})</h2>
 * The PDHG map T is a contraction in ‖·‖_M with factor ρ = 1/(1 + c) (see {@link SaddlePointProblem}),
 * ‖z‖²_M = ‖x‖²/τ − 2⟨Kx, p⟩ + ‖p‖²/σ. For z_{k+1} = T(z_k) and the saddle point z* = T(z*):
 * ‖z_{k+1} − z*‖_M ≤ ρ‖z_k − z*‖_M ≤ ρ(‖z_k − z_{k+1}‖_M + ‖z_{k+1} − z*‖_M), so
 * <pre>
 *   ε_M := ρ/(1 − ρ) ‖z_{k+1} − z_k‖_M = ‖z_{k+1} − z_k‖_M / c  ≥  ‖z_{k+1} − z*‖_M,
 * </pre>
 * and from M ⪰ (1 − κ) diag(I/τ, I/σ):
 * ‖x_{k+1} − x*‖ ≤ √(τ/(1 − κ)) ε_M and ‖p_{k+1} − p*‖ ≤ √(σ/(1 − κ)) ε_M. The method returns z_{k+1}
 * as soon as the primal bound is ≤ ε (the tolerance is on x, as the upper-level {@code Oracle} contract
 * requires). Every call performs at least one iteration (the bound needs a step). The bound is exact
 * arithmetic on computed quantities; floating-point rounding in ‖z_{k+1} − z_k‖_M is not accounted for
 * (it matters only near machine precision).
 *
 * <p><b>Warm start.</b> The method has no memory beyond z: each call continues from the given (x, p).
 * Owns image- and dual-sized buffers; allocates no ND4J memory per iteration on the exact-prox path. Not
 * thread-safe.
 */
public final class Pdhg implements AutoCloseable {

    /**
     * Outcome of {@link #solve}.
     *
     * @param iterations      PDHG iterations (each: one K, one Kᵀ, one prox of each function)
     * @param stepNorm        ‖z_{k+1} − z_k‖_M of the last iteration
     * @param metricDistance  ε_M ≥ ‖z − z*‖_M
     * @param primalDistance  √(τ/(1−κ)) ε_M ≥ ‖x − x*‖
     * @param dualDistance    √(σ/(1−κ)) ε_M ≥ ‖p − p*‖
     * @param certified       whether the distance bounds are proven (see the class comment)
     * @param converged       whether primalDistance ≤ tolerance was reached within the cap
     * @param tolerance       the requested ε
     * @param maxIterations   the cap
     */
    public record Result(int iterations, double stepNorm, double metricDistance, double primalDistance,
                         double dualDistance, boolean certified, boolean converged, double tolerance,
                         int maxIterations) implements SolveStatistics {
        @Override
        public boolean reachedIterationCap() {
            return !converged && iterations >= maxIterations;
        }

        /** The distance bound e_x ≥ ‖x − x*‖ the method stops on. */
        @Override
        public double accuracy() {
            return primalDistance;
        }
    }

    private final SaddlePointProblem problem;
    private final LearnedOperator.Instance k;
    private INDArray x;
    private INDArray xNew;
    private INDArray p;
    private INDArray pNew;
    private INDArray kx;
    private INDArray kxNew;
    private final INDArray image;    // Kᵀp, then x⁺ − x
    private final INDArray rhs;      // argument of P
    private final INDArray a;        // p + σK(2x⁺ − x)
    private final INDArray dp;
    private final INDArray dkx;

    public Pdhg(SaddlePointProblem problem) {
        this.problem = problem;
        this.k = problem.coupling();
        this.x = problem.newImage();
        this.xNew = problem.newImage();
        this.p = problem.newDual();
        this.pNew = problem.newDual();
        this.kx = problem.newDual();
        this.kxNew = problem.newDual();
        this.image = problem.newImage();
        this.rhs = problem.newImage();
        this.a = problem.newDual();
        this.dp = problem.newDual();
        this.dkx = problem.newDual();
    }

    /**
     * Runs PDHG from (x, p) until ‖x − x*‖ ≤ ε is certified or {@code maxIterations} iterations.
     *
     * @param xState  in: starting primal point; out: the returned x. Modified in place.
     * @param pState  in: starting dual point [C, H, W]; out: the returned p. Modified in place.
     * @param epsilon ε &gt; 0
     * @param maxIterations ≥ 1
     */
    public Result solve(INDArray xState, INDArray pState, double epsilon, int maxIterations) {
        if (!(epsilon > 0) || maxIterations < 1) {
            throw new IllegalArgumentException("need ε > 0 and maxIterations ≥ 1");
        }
        double tau = problem.tau();
        double sigma = problem.sigma();
        double c = problem.contractionMargin();
        double kappa = problem.kappa();
        double primalFactor = Math.sqrt(tau / (1 - kappa));
        double dualFactor = Math.sqrt(sigma / (1 - kappa));
        x.assign(xState);
        p.assign(pState);
        k.apply(x, kx);
        double stepNorm = Double.POSITIVE_INFINITY;
        double metric = Double.POSITIVE_INFINITY;
        int it = 0;
        while (it < maxIterations) {
            k.adjoint(p, image);                       // Kᵀp
            rhs.assign(x);
            VectorOps.axpy(-tau, image, rhs);
            VectorOps.axpy(1.0, problem.tauAty(), rhs);
            xNew.assign(x);                            // warm start of the CG path
            problem.applyP(rhs, xNew);                 // x⁺
            k.apply(xNew, kxNew);                      // Kx⁺
            a.assign(p);
            VectorOps.axpy(2 * sigma, kxNew, a);
            VectorOps.axpy(-sigma, kx, a);
            problem.proxDual(a, pNew);                 // p⁺
            it++;
            image.assign(xNew);
            VectorOps.axpy(-1.0, x, image);
            dp.assign(pNew);
            VectorOps.axpy(-1.0, p, dp);
            dkx.assign(kxNew);
            VectorOps.axpy(-1.0, kx, dkx);
            double m2 = VectorOps.dot(image, image) / tau - 2 * VectorOps.dot(dkx, dp) + VectorOps.dot(dp, dp) / sigma;
            stepNorm = Math.sqrt(Math.max(0.0, m2));
            metric = stepNorm / c;
            INDArray t = x; x = xNew; xNew = t;
            t = p; p = pNew; pNew = t;
            t = kx; kx = kxNew; kxNew = t;
            if (!Double.isFinite(metric) || primalFactor * metric <= epsilon) {
                break;
            }
        }
        xState.assign(x);
        pState.assign(p);
        if (!Double.isFinite(metric)) {
            metric = Double.POSITIVE_INFINITY;
        }
        double primal = primalFactor * metric;
        return new Result(it, stepNorm, metric, primal, dualFactor * metric, problem.contractionCertified(),
                primal <= epsilon, epsilon, maxIterations);
    }

    @Override
    public void close() {
        for (INDArray b : new INDArray[]{x, xNew, p, pNew, kx, kxNew, image, rhs, a, dp, dkx}) {
            b.close();
        }
    }
}
