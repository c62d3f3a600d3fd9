package bilevel.numerics.solvers;

import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Accelerated gradient descent with a <em>certified</em> stopping rule for the strongly convex lower level
 * h of a {@link LowerLevelProblem}.
 *
 * <h2>Scheme</h2>
 * Nesterov's constant-momentum method for μ-strongly convex, L-smooth functions (Nesterov 2004, scheme
 * (2.2.19)): with step 1/L and β = (√L − √μ)/(√L + √μ),
 * <pre>
 *   x_{k+1} = y_k − ∇h(y_k)/L,     y_{k+1} = x_{k+1} + β (x_{k+1} − x_k),     y_0 = x_0,
 * </pre>
 * which converges linearly, h(x_k) − h* = O((1 − √(μ/L))^k). Here μ = μ_h = {@link LowerLevelProblem#strongConvexity()}
 * and L = {@link LowerLevelProblem#smoothness()}. As a cheap safeguard against a pessimistic μ_h (which
 * makes β too close to 1 and the iterates oscillate) the momentum is dropped for one step
 * (y_{k+1} = x_{k+1}) whenever ⟨∇h(y_k), x_{k+1} − x_k⟩ &gt; 0, the gradient restart test of
 * O'Donoghue &amp; Candès (2015). A restarted step is a plain gradient step, which decreases h for
 * L ≥ Lip(∇h); the stopping rule below does not depend on the path taken, so the safeguard cannot affect
 * the certificate.
 *
 * <p><b>Backtracking.</b> When L is not certified (or {@code alwaysBacktrack} is set), each step checks
 * the sufficient-decrease condition h(x_{k+1}) ≤ h(y_k) − ‖∇h(y_k)‖²/(2L) (plus a slack of a few
 * units of rounding of h) and doubles L until it holds; the condition holds for every L ≥ Lip(∇h),
 * so L stays finite and every step decreases h relative to y_k: the method cannot diverge because of a
 * too-small estimate. With a certified L no function values are evaluated.
 *
 * <h2>Certified stopping rule</h2>
 * Every iteration evaluates g_k = ∇h(y_k) (the only gradient the method needs) and stops, returning
 * y_k, as soon as ‖g_k‖ ≤ μ_h ε. This certifies ‖y_k − x̂‖ ≤ ‖g_k‖/μ_h ≤ ε for the exact minimiser x̂:
 * <blockquote>
 * h − (μ_h/2)‖·‖² is convex, so ∇h is μ_h-strongly monotone: ⟨∇h(u) − ∇h(v), u − v⟩ ≥ μ_h‖u − v‖².
 * With u = y_k, v = x̂ and ∇h(x̂) = 0, Cauchy–Schwarz gives μ_h‖y_k − x̂‖² ≤ ⟨∇h(y_k), y_k − x̂⟩ ≤
 * ‖∇h(y_k)‖ ‖y_k − x̂‖, hence ‖y_k − x̂‖ ≤ ‖∇h(y_k)‖/μ_h. ∎
 * </blockquote>
 * The bound is exact arithmetic on the computed gradient; it is as reliable as μ_h (reported by
 * {@link Result#certified()}) and as accurate as the floating-point evaluation of ∇h, whose rounding
 * error (≈ u·L_h‖x‖ for unit roundoff u) must stay well below μ_h ε — relevant for FLOAT, where an
 * unreachable ε simply ends in the iteration cap with {@code converged = false}.
 *
 * <p>The iteration cap is never silent: when it is reached the last extrapolated point y_k is returned
 * together with its own gradient norm, so {@link Result#distanceBound()} is still a valid (if larger
 * than requested) bound, and {@link Result#converged()} is false. A non-finite gradient stops the
 * method, keeps the last finite iterate and reports an infinite distance bound.
 *
 * <p><b>Warm start.</b> Each call continues from the given x (typically the iterate of an earlier call with
 * a looser ε, or of a nearby θ) with fresh momentum (y₀ = x₀); only x carries over between calls.
 *
 * <p>The solver owns three work buffers for the problem's image size and allocates no ND4J memory per
 * iteration (given a problem that does not). Not thread-safe; {@link #close()} releases the buffers.
 */
public final class Fista implements AutoCloseable {

    /** Most doublings of L in one backtracking step before the method gives up (L grew by 2^60). */
    private static final int MAX_DOUBLINGS = 60;

    /**
     * Outcome of {@link #solve}.
     *
     * @param iterations      gradient evaluations performed (each iteration evaluates ∇h once, at y_k,
     *                        including the one that certified the returned point; ≥ 1)
     * @param gradientNorm    ‖∇h(x)‖ at the returned x (+∞ if a non-finite value occurred)
     * @param distanceBound   ‖∇h(x)‖/μ_h ≥ ‖x − x̂‖ (+∞ if a non-finite value occurred)
     * @param certified       whether μ_h is certified, i.e. whether {@code distanceBound} is a proven bound
     * @param converged       whether distanceBound ≤ tolerance was reached within the cap
     * @param tolerance       the requested ε
     * @param maxIterations   the iteration cap
     * @param smoothness      the L used at the end (larger than the initial one after backtracking)
     */
    public record Result(int iterations, double gradientNorm, double distanceBound, boolean certified,
                         boolean converged, double tolerance, int maxIterations, double smoothness)
            implements bilevel.numerics.hypergradient.SolveStatistics {
        /** True when the method stopped because of the cap rather than the tolerance. */
        @Override
        public boolean reachedIterationCap() {
            return !converged && iterations >= maxIterations;
        }

        /** The certified distance bound ‖∇h(x)‖/μ_h ≥ ‖x − x̂‖. */
        @Override
        public double accuracy() {
            return distanceBound;
        }
    }

    private final LowerLevelProblem problem;
    private final boolean alwaysBacktrack;
    private final INDArray extrapolated;   // y_k
    private final INDArray previous;       // x_{k-1}
    private final INDArray gradient;       // ∇h(y_k)

    /** A solver for {@code problem}, backtracking only when its smoothness bound is not certified. */
    public Fista(LowerLevelProblem problem) {
        this(problem, false);
    }

    /**
     * @param problem         the lower level (not owned)
     * @param alwaysBacktrack backtrack on L even when it is certified (useful when the certified L is
     *                        very pessimistic: backtracking never increases L beyond what the problem needs,
     *                        but it does not decrease it either, so this only guards, never accelerates)
     */
    public Fista(LowerLevelProblem problem, boolean alwaysBacktrack) {
        this.problem = problem;
        this.alwaysBacktrack = alwaysBacktrack;
        this.extrapolated = problem.newImage();
        this.previous = problem.newImage();
        this.gradient = problem.newImage();
    }

    /**
     * Minimises h starting from {@code x} until ‖∇h‖ ≤ μ_h ε or {@code maxIterations} gradient evaluations.
     *
     * @param x             in: the starting point (warm start); out: the returned iterate. Modified in place.
     * @param epsilon       ε &gt; 0, the requested bound on ‖x − x̂‖
     * @param maxIterations cap on gradient evaluations (≥ 1)
     */
    public Result solve(INDArray x, double epsilon, int maxIterations) {
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("epsilon must be positive, got " + epsilon);
        }
        if (maxIterations < 1) {
            throw new IllegalArgumentException("maxIterations must be at least 1, got " + maxIterations);
        }
        Bound strong = problem.strongConvexity();
        Bound smooth = problem.smoothness();
        double mu = strong.value();
        double lip = Math.max(smooth.value(), mu);
        boolean backtrack = alwaysBacktrack || !smooth.certified();
        double tolerance = mu * epsilon;
        double slackScale = 16 * unitRoundoff(problem.dataType());

        extrapolated.assign(x);
        for (int k = 1; ; k++) {
            problem.gradient(extrapolated, gradient);
            double gnorm = VectorOps.norm(gradient);
            if (!Double.isFinite(gnorm)) {
                return new Result(k, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, strong.certified(), false,
                        epsilon, maxIterations, lip);
            }
            if (gnorm <= tolerance || k >= maxIterations) {
                x.assign(extrapolated);
                return new Result(k, gnorm, gnorm / mu, strong.certified(), gnorm <= tolerance, epsilon,
                        maxIterations, lip);
            }
            previous.assign(x);                       // x_k
            x.assign(extrapolated);                   // x_{k+1} = y_k − g/L
            VectorOps.axpy(-1.0 / lip, gradient, x);
            if (backtrack) {
                double hy = problem.value(extrapolated);
                double target = gnorm * gnorm;
                int doublings = 0;
                while (true) {
                    double hx = problem.value(x);
                    double slack = slackScale * (Math.abs(hy) + Math.abs(hx));
                    if (hx <= hy - target / (2 * lip) + slack) {
                        break;
                    }
                    if (++doublings > MAX_DOUBLINGS || !Double.isFinite(hy)) {
                        x.assign(previous);
                        return new Result(k, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY,
                                strong.certified(), false, epsilon, maxIterations, lip);
                    }
                    lip *= 2;
                    x.assign(extrapolated);
                    VectorOps.axpy(-1.0 / lip, gradient, x);
                }
            }
            double beta = (Math.sqrt(lip) - Math.sqrt(mu)) / (Math.sqrt(lip) + Math.sqrt(mu));
            // gradient restart: ⟨∇h(y_k), x_{k+1} − x_k⟩ > 0 means the momentum points uphill
            if (VectorOps.dot(gradient, x) - VectorOps.dot(gradient, previous) > 0) {
                beta = 0;
            }
            extrapolated.assign(x);                   // y_{k+1} = (1 + β) x_{k+1} − β x_k
            if (beta != 0) {
                VectorOps.scale(1 + beta, extrapolated);
                VectorOps.axpy(-beta, previous, extrapolated);
            }
        }
    }

    static double unitRoundoff(DataType type) {
        return switch (type) {
            case DOUBLE -> 0x1.0p-53;
            case FLOAT -> 0x1.0p-24;
            default -> 0x1.0p-11;
        };
    }

    @Override
    public void close() {
        extrapolated.close();
        previous.close();
        gradient.close();
    }
}
