package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.ConjugateGradient;
import bilevel.numerics.solvers.Fista;
import bilevel.numerics.solvers.LinearSolveResult;
import bilevel.numerics.solvers.LinearSolver;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Inexact hypergradient of f(θ) = ℓ(x̂(θ)), ℓ(x) = ‖x − x*‖², x̂(θ) = argmin h(·, θ) of a
 * {@link LowerLevelProblem}, by the implicit function theorem, with a certified a-posteriori error bound:
 * <pre>
 *   ∇f(θ) = −(∂θ∇ₓh(x̂))ᵀ ∇²ₓₓh(x̂)⁻¹ ∇ℓ(x̂).
 * </pre>
 * One {@link #compute} call
 * <ol>
 * <li>runs {@link Fista} from the state's x until ‖x − x̂‖ ≤ ε is certified;</li>
 * <li>forms g = ∇ℓ(x) = 2(x − x*) (so L_ℓ = 2);</li>
 * <li>runs the {@link LinearSolver} (CG by default) from the state's q on ∇²ₓₓh(x) q = g until
 *     ‖∇²ₓₓh(x) q − g‖ ≤ δ;</li>
 * <li>returns z = −(∂θ∇ₓR_θ(x))ᵀ q ({@link Regularizer.Instance#mixedAdjoint}) with the bound of
 *     {@link HypergradientErrorBound} evaluated at the achieved ε and δ, using μ = μ_h, M =
 *     {@link Regularizer.Instance#mixedNorm}(x), L_H = {@link Regularizer.Instance#hessianLipschitz()},
 *     L_J = {@link Regularizer.Instance#mixedLipschitz(double)} on the ball of radius ‖x‖ + ε, which contains
 *     the segment [x, x̂] the derivation uses.</li>
 * </ol>
 * The result is certified iff μ_h, M, L_H, L_J are all certified and both solvers converged.
 *
 * <p>In {@link ErrorBoundMode#ESTIMATED} mode (constructor with a mode) M, L_H and L_J are replaced by the
 * local estimates of {@link LocalConstantEstimator} at (x, q) (each at most the certified constant); the
 * result is then never certified, and {@link Hypergradient#computations()} also counts the estimator's
 * regularizer evaluations.
 *
 * <p>Holds the FISTA buffers, the linear solver and one image buffer for g; not thread-safe (use one
 * per worker). {@link #close()} releases them (and the linear solver if this object created it), not the problem.
 */
public final class ImplicitHypergradient implements AutoCloseable {

    /** L_ℓ: ∇ℓ(x) = 2(x − x*) is 2-Lipschitz. */
    public static final double UPPER_LOSS_GRADIENT_LIPSCHITZ = 2.0;

    private final LowerLevelProblem problem;
    private final Fista fista;
    private final LinearSolver linearSolver;
    private final boolean ownsLinearSolver;
    private final int maxLowerIterations;
    private final int maxLinearIterations;
    private final INDArray upperGradient;
    private final ErrorBoundMode mode;
    private LocalConstantEstimator estimator;

    /** Seed of the estimator's probes: fixed, so estimates depend only on (θ, x, q, ε). */
    static final long PROBE_SEED = 0x5EEDL;

    /** With conjugate gradients as the linear solver. */
    public ImplicitHypergradient(LowerLevelProblem problem, int maxLowerIterations, int maxLinearIterations) {
        this(problem, maxLowerIterations, maxLinearIterations, ErrorBoundMode.CERTIFIED);
    }

    /** With conjugate gradients as the linear solver and the given error-bound mode. */
    public ImplicitHypergradient(LowerLevelProblem problem, int maxLowerIterations, int maxLinearIterations,
                                 ErrorBoundMode mode) {
        this(problem, new ConjugateGradient(problem.imageShape(), problem.dataType()), true, maxLowerIterations,
                maxLinearIterations, mode);
    }

    /** With the given linear solver (not owned: the caller closes it). */
    public ImplicitHypergradient(LowerLevelProblem problem, LinearSolver linearSolver, int maxLowerIterations,
                                 int maxLinearIterations) {
        this(problem, linearSolver, false, maxLowerIterations, maxLinearIterations, ErrorBoundMode.CERTIFIED);
    }

    private ImplicitHypergradient(LowerLevelProblem problem, LinearSolver linearSolver, boolean ownsLinearSolver,
                                  int maxLowerIterations, int maxLinearIterations, ErrorBoundMode mode) {
        this.mode = java.util.Objects.requireNonNull(mode, "mode");
        this.problem = problem;
        this.fista = new Fista(problem);
        this.linearSolver = linearSolver;
        this.ownsLinearSolver = ownsLinearSolver;
        this.maxLowerIterations = maxLowerIterations;
        this.maxLinearIterations = maxLinearIterations;
        this.upperGradient = problem.newImage();
    }

    public ErrorBoundMode errorBoundMode() {
        return mode;
    }

    public LowerLevelProblem problem() {
        return problem;
    }

    /** A new zero warm-start state for this problem (the caller owns and closes it). */
    public HypergradientState newState() {
        return new HypergradientState(problem.imageShape(), problem.dataType());
    }

    /**
     * Hypergradient from a cold start (x = 0, q = 0).
     *
     * @param target  the clean image x* (unchanged)
     * @param epsilon requested ε: bound on ‖x − x̂‖
     * @param delta   requested δ: absolute tolerance on the adjoint residual
     */
    public Hypergradient compute(INDArray target, double epsilon, double delta) {
        try (HypergradientState state = newState()) {
            return compute(target, epsilon, delta, state);
        }
    }

    /**
     * Hypergradient warm-started from {@code state}, whose x and q are updated in place to the new iterates
     * (so calling again with tighter tolerances continues rather than restarts).
     *
     * @param target  the clean image x* (unchanged; same shape and data type as the problem)
     * @param epsilon requested ε: bound on ‖x − x̂‖
     * @param delta   requested δ: absolute tolerance on the adjoint residual
     * @param state   warm start; modified in place
     */
    public Hypergradient compute(INDArray target, double epsilon, double delta, HypergradientState state) {
        INDArray x = state.lowerLevel();
        INDArray q = state.adjoint();
        Fista.Result lower = fista.solve(x, epsilon, maxLowerIterations);

        upperGradient.assign(x).subi(target).muli(2.0);          // g = ∇ℓ(x) = 2(x − x*)
        double gnorm = VectorOps.norm(upperGradient);
        double upperLoss = 0.25 * gnorm * gnorm;                  // ℓ(x) = ‖x − x*‖² = ‖g‖²/4

        LinearSolveResult adjoint = linearSolver.solve((v, out) -> problem.hessianVector(x, v, out), upperGradient,
                q, delta, maxLinearIterations);

        Regularizer.Instance reg = problem.regularizer();
        double[] z = reg.mixedAdjoint(x, q);
        for (int i = 0; i < z.length; i++) {
            z[i] = -z[i];
        }
        Bound mu = problem.strongConvexity();
        Bound mixedNorm = reg.mixedNorm(x);
        Bound hessianLipschitz = reg.hessianLipschitz();
        // x and x̂ both lie in the ball of radius ‖x‖ + ε (‖x − x̂‖ ≤ ε), which is all the bound needs
        Bound mixedLipschitz = reg.mixedLipschitz(VectorOps.norm(x) + lower.distanceBound());
        long estimatorEvaluations = 0;
        if (mode == ErrorBoundMode.ESTIMATED) {
            if (estimator == null) {
                estimator = new LocalConstantEstimator(problem.imageShape(), problem.dataType());
            }
            LocalConstantEstimator.Estimates e = estimator.estimate(reg, x, q, lower.distanceBound(),
                    new double[]{mixedNorm.value(), hessianLipschitz.value(), mixedLipschitz.value()}, PROBE_SEED);
            mixedNorm = e.mixedNorm();
            hessianLipschitz = e.hessianLipschitz();
            mixedLipschitz = e.mixedLipschitz();
            estimatorEvaluations = e.evaluations();
        }
        boolean constantsCertified = mu.certified() && mixedNorm.certified() && hessianLipschitz.certified()
                && mixedLipschitz.certified();
        HypergradientErrorBound bound = HypergradientErrorBound.evaluate(mu.value(), lower.distanceBound(),
                adjoint.residual(), gnorm, UPPER_LOSS_GRADIENT_LIPSCHITZ, mixedNorm.value(), hessianLipschitz.value(),
                mixedLipschitz.value(), constantsCertified);
        boolean certified = constantsCertified && lower.converged() && adjoint.converged()
                && Double.isFinite(bound.value());
        return new Hypergradient(z, upperLoss, bound.value(), certified, bound, lower, adjoint,
                (long) lower.iterations() + adjoint.iterations() + estimatorEvaluations);
    }

    @Override
    public void close() {
        fista.close();
        upperGradient.close();
        if (estimator != null) {
            estimator.close();
        }
        if (ownsLinearSolver) {
            linearSolver.close();
        }
    }
}
