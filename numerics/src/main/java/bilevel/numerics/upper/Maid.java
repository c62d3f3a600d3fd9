package bilevel.numerics.upper;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * MAID, the Method of Adaptive Inexact Descent (M. S. Salehi, S. Mukherjee, L. Roberts, M. J. Ehrhardt,
 * "An adaptively inexact first-order method for bilevel optimization with application to
 * hyperparameter learning", SIAM J. Math. Data Sci., 2025; arXiv:2308.10098), written as a pure state
 * machine that is independent of how hypergradients are computed.
 *
 * <h2>Algorithm</h2>
 * Notation: θ_k the parameters, (ε, δ) the lower-level accuracy and the linear-solve tolerance, z the
 * inexact hypergradient with certified (or estimated) error bound B ≥ ‖z − ∇f(θ_k)‖, ℓ̃ the inexact
 * loss and g = ‖∇ℓ(x_ε)‖ (see {@link Oracle} for the contract). One outer iteration k:
 * <ol>
 *   <li><b>Hypergradient.</b> Ask the oracle for (ℓ̃(θ_k), g_k, z, B) at (ε, δ). If B ≤ (1−η)‖z‖ the
 *       hypergradient is accepted (then ⟨∇f(θ_k), z⟩ ≥ η‖z‖², so −z is a descent direction). Otherwise
 *       set ε ← ν_dec ε, δ ← ν_dec δ and ask again ("refinement").</li>
 *   <li><b>Inexact backtracking.</b> For j = 0, 1, …, J (J = {@code maxBacktracks}) try
 *       θ̂ = θ_k − α ρ^j z and accept the first j with
 *       <pre>
 *   ℓ̃(θ̂) + ĝ ε + (L/2) ε²  ≤  ℓ̃(θ_k) − g_k ε − c α ρ^j ‖z‖²
 *       </pre>
 *       (ĝ = ‖∇ℓ(x_ε(θ̂))‖, same ε at both points). By the oracle contract the left side bounds
 *       f(θ̂) from above and ℓ̃(θ_k) − g_k ε bounds f(θ_k) from below, so an accepted step
 *       <em>certifies</em> f(θ̂) ≤ f(θ_k) − c α ρ^j ‖z‖² for the exact upper-level objective f.</li>
 *   <li><b>Success</b> (outcome {@link Outcome#ACCEPTED}): θ_{k+1} = θ̂, ε ← ν_inc ε, δ ← ν_inc δ,
 *       and the next initial step is α ← α ρ^j · {@code alphaIncrease}.
 *       <b>Failure</b> (all J+1 trials rejected, outcome {@link Outcome#LINE_SEARCH_FAILED}):
 *       θ_{k+1} = θ_k, α unchanged, ε ← ν_dec ε, δ ← ν_dec δ.</li>
 * </ol>
 * Termination: if a tightening would push ε below {@code epsMin} the machine stops in
 * {@link Phase#STALLED} (it cannot certify further progress at the finest accuracy); if the oracle
 * returns z = 0 with bound 0 (exact stationarity) it stops in {@link Phase#CONVERGED}.
 *
 * <h2>Differences from the reference description</h2>
 * <ul>
 *   <li>A failed line search ends the outer iteration (recorded with {@code accepted = false});
 *       the next iteration recomputes the hypergradient at the tighter accuracy. The reference code
 *       retries inside one iteration a fixed number of times (with a growing backtracking budget);
 *       here the number of retries is bounded only by {@code epsMin}, and J is fixed.</li>
 *   <li>The loss at θ_{k+1} is recomputed at the loosened accuracy by the next hypergradient call
 *       (the reference code reuses the line-search value computed at the previous ε); this keeps the
 *       two sides of the test at one ε.</li>
 *   <li>Optional projection P onto a feasible set (not in the paper): trial points are
 *       θ̂ = P(θ_k − α ρ^j z) and c α ρ^j ‖z‖² is replaced by c ‖θ̂ − θ_k‖² / (α ρ^j), the usual
 *       projected-gradient Armijo term (identical when P is the identity). Without a projection
 *       (constructor {@link #Maid(Parameters)}) the paper's test is used literally.</li>
 * </ul>
 *
 * <h2>Using it</h2>
 * Synchronously: {@link #run} / {@link #iterate} with an {@link Oracle}. Asynchronously (e.g. from an
 * actor): {@link #request(State)} tells what to compute next, and {@link #onHypergradient} /
 * {@link #onLoss} consume the result and return the next state, plus the finished {@link Iteration}
 * when an outer iteration ended. All methods are pure; {@code Maid} is immutable and thread-safe
 * provided the projection is.
 */
public final class Maid {

    /** Default initial step size α0 (scale-dependent; the line search reduces it by up to ρ^J per iteration). */
    public static final double DEFAULT_ALPHA0 = 1.0;
    /** Default initial lower-level accuracy ε0 (as in the authors' code). */
    public static final double DEFAULT_EPS0 = 1e-1;
    /** Default initial linear-solve tolerance δ0 (as in the authors' code). */
    public static final double DEFAULT_DELTA0 = 1e-1;
    /** Default η of the hypergradient acceptance test B ≤ (1−η)‖z‖ (as in the authors' code). */
    public static final double DEFAULT_ETA = 1e-4;
    /**
     * Default sufficient-decrease constant c = η² (as in the authors' code). With B ≤ (1−η)‖z‖ the exact
     * directional decrease is ≥ η‖z‖², so any c &lt; η lets the line search succeed once ε and α are
     * small enough.
     */
    public static final double DEFAULT_C = DEFAULT_ETA * DEFAULT_ETA;
    /** Default backtracking factor ρ. */
    public static final double DEFAULT_RHO = 0.5;
    /** Default accuracy tightening factor ν_dec (both ε and δ). */
    public static final double DEFAULT_NU_DEC = 0.5;
    /** Default accuracy loosening factor ν_inc after an accepted step (both ε and δ). */
    public static final double DEFAULT_NU_INC = 1.05;
    /** Default enlargement of the next initial step after an accepted step. */
    public static final double DEFAULT_ALPHA_INCREASE = 1.1;
    /** Default maximal backtracking index J (J+1 trial points per line search). */
    public static final int DEFAULT_MAX_BACKTRACKS = 10;
    /** Default L, the Lipschitz constant of ∇ℓ: 2 for ℓ(x) = ‖x − x†‖² (also for a mean over samples). */
    public static final double DEFAULT_LOSS_LIPSCHITZ = 2.0;
    /** Default smallest admissible ε; tightening below it stops the machine ({@link Phase#STALLED}). */
    public static final double DEFAULT_EPS_MIN = 1e-10;

    /**
     * MAID parameters (see the class comment for their roles).
     *
     * @param alpha0        initial step size α0 &gt; 0
     * @param eps0          initial accuracy ε0 &gt; 0
     * @param delta0        initial linear-solve tolerance δ0 &gt; 0
     * @param eta           η ∈ (0, 1) in B ≤ (1−η)‖z‖
     * @param c             sufficient-decrease constant, c ∈ (0, 1) (theory: c &lt; η)
     * @param rho           backtracking factor ρ ∈ (0, 1)
     * @param nuDec         tightening factor ν_dec ∈ (0, 1)
     * @param nuInc         loosening factor ν_inc ≥ 1
     * @param alphaIncrease step enlargement after success, ≥ 1
     * @param maxBacktracks J ≥ 0
     * @param lossLipschitz L ≥ 0, Lipschitz constant of ∇ℓ
     * @param epsMin        smallest admissible ε, 0 &lt; epsMin ≤ eps0
     */
    public record Parameters(double alpha0, double eps0, double delta0, double eta, double c, double rho,
                             double nuDec, double nuInc, double alphaIncrease, int maxBacktracks,
                             double lossLipschitz, double epsMin) {
        public Parameters {
            positive("alpha0", alpha0);
            positive("eps0", eps0);
            positive("delta0", delta0);
            open01("eta", eta);
            open01("c", c);
            open01("rho", rho);
            open01("nuDec", nuDec);
            atLeastOne("nuInc", nuInc);
            atLeastOne("alphaIncrease", alphaIncrease);
            if (maxBacktracks < 0) {
                throw new IllegalArgumentException("maxBacktracks must be >= 0, got " + maxBacktracks);
            }
            if (!(lossLipschitz >= 0) || !Double.isFinite(lossLipschitz)) {
                throw new IllegalArgumentException("lossLipschitz must be finite and >= 0, got " + lossLipschitz);
            }
            positive("epsMin", epsMin);
            if (epsMin > eps0) {
                throw new IllegalArgumentException("epsMin " + epsMin + " exceeds eps0 " + eps0);
            }
        }

        /** All defaults ({@code DEFAULT_*} constants of {@link Maid}). */
        public static Parameters defaults() {
            return new Parameters(DEFAULT_ALPHA0, DEFAULT_EPS0, DEFAULT_DELTA0, DEFAULT_ETA, DEFAULT_C, DEFAULT_RHO,
                    DEFAULT_NU_DEC, DEFAULT_NU_INC, DEFAULT_ALPHA_INCREASE, DEFAULT_MAX_BACKTRACKS,
                    DEFAULT_LOSS_LIPSCHITZ, DEFAULT_EPS_MIN);
        }

        public Parameters withAlpha0(double v) {
            return new Parameters(v, eps0, delta0, eta, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withEps0(double v) {
            return new Parameters(alpha0, v, delta0, eta, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withDelta0(double v) {
            return new Parameters(alpha0, eps0, v, eta, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withEta(double v) {
            return new Parameters(alpha0, eps0, delta0, v, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withC(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, v, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withRho(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, v, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withNuDec(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, v, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withNuInc(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, nuDec, v, alphaIncrease, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withAlphaIncrease(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, nuDec, nuInc, v, maxBacktracks, lossLipschitz, epsMin);
        }

        public Parameters withMaxBacktracks(int v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, nuDec, nuInc, alphaIncrease, v, lossLipschitz, epsMin);
        }

        public Parameters withLossLipschitz(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, v, epsMin);
        }

        public Parameters withEpsMin(double v) {
            return new Parameters(alpha0, eps0, delta0, eta, c, rho, nuDec, nuInc, alphaIncrease, maxBacktracks, lossLipschitz, v);
        }

        private static void positive(String name, double v) {
            if (!(v > 0) || !Double.isFinite(v)) {
                throw new IllegalArgumentException(name + " must be positive and finite, got " + v);
            }
        }

        private static void open01(String name, double v) {
            if (!(v > 0 && v < 1)) {
                throw new IllegalArgumentException(name + " must be in (0, 1), got " + v);
            }
        }

        private static void atLeastOne(String name, double v) {
            if (!(v >= 1) || !Double.isFinite(v)) {
                throw new IllegalArgumentException(name + " must be finite and >= 1, got " + v);
            }
        }
    }

    /** What the machine is waiting for. */
    public enum Phase {
        /** Waiting for a hypergradient at (θ, ε, δ). */
        HYPERGRADIENT,
        /** Waiting for the loss at the trial point of backtracking index {@code backtracks}. */
        LINE_SEARCH,
        /** Terminal: the oracle reported z = 0 with error bound 0. */
        CONVERGED,
        /** Terminal: ε would have to go below epsMin. */
        STALLED
    }

    /** How an outer iteration ended. */
    public enum Outcome {
        ACCEPTED, LINE_SEARCH_FAILED, CONVERGED, STALLED
    }

    /** A computation the machine needs next. */
    public sealed interface Request permits HypergradientRequest, LossRequest {
        /** The machine state's {@code sequence} when the request was issued (to match responses). */
        long sequence();

        double[] theta();

        double eps();
    }

    /** Compute {@link Oracle#evaluate}(θ, ε, δ). θ is copied. */
    public record HypergradientRequest(long sequence, double[] theta, double eps, double delta) implements Request {
        public HypergradientRequest {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof HypergradientRequest r && sequence == r.sequence && Arrays.equals(theta, r.theta)
                    && Double.compare(eps, r.eps) == 0 && Double.compare(delta, r.delta) == 0;
        }

        @Override
        public int hashCode() {
            return Objects.hash(sequence, Arrays.hashCode(theta), eps, delta);
        }

        @Override
        public String toString() {
            return "HypergradientRequest[sequence=" + sequence + ", theta=" + Arrays.toString(theta) + ", eps=" + eps
                    + ", delta=" + delta + "]";
        }
    }

    /** Compute {@link Oracle#loss}(θ, ε) at a line-search trial point. θ is copied. */
    public record LossRequest(long sequence, double[] theta, double eps) implements Request {
        public LossRequest {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof LossRequest r && sequence == r.sequence && Arrays.equals(theta, r.theta)
                    && Double.compare(eps, r.eps) == 0;
        }

        @Override
        public int hashCode() {
            return Objects.hash(sequence, Arrays.hashCode(theta), eps);
        }

        @Override
        public String toString() {
            return "LossRequest[sequence=" + sequence + ", theta=" + Arrays.toString(theta) + ", eps=" + eps + "]";
        }
    }

    /**
     * The complete machine state: everything needed to continue exactly (plain record of primitives,
     * an enum, arrays and one nested record, for checkpointing).
     *
     * <p>Serialised field layout (stable):
     * {@code k} (long, completed outer iterations), {@code sequence} (long, oracle results consumed),
     * {@code phase} ({@link Phase}), {@code theta} (double[P], θ_k), {@code alpha} (double, initial
     * trial step of the current line search), {@code eps}, {@code delta} (double, current accuracies),
     * {@code current} ({@link Oracle.Evaluation} at θ_k, non-null exactly in {@link Phase#LINE_SEARCH}),
     * {@code backtracks} (int, index j of the pending trial), {@code refinements} (int, accuracy
     * tightenings so far in this iteration), {@code iterationCost}, {@code totalCost} (double).
     */
    public record State(long k, long sequence, Phase phase, double[] theta, double alpha, double eps, double delta,
                        Oracle.Evaluation current, int backtracks, int refinements,
                        double iterationCost, double totalCost) {
        public State {
            Objects.requireNonNull(phase, "phase");
            theta = theta.clone();
            if (k < 0 || sequence < 0 || backtracks < 0 || refinements < 0) {
                throw new IllegalArgumentException("counters must be >= 0");
            }
            if ((current != null) != (phase == Phase.LINE_SEARCH)) {
                throw new IllegalArgumentException("current evaluation must be present exactly in LINE_SEARCH");
            }
            if (current != null && current.hypergradient().length != theta.length) {
                throw new IllegalArgumentException("hypergradient and theta lengths differ");
            }
            if (!(alpha > 0) || !(eps > 0) || !(delta > 0)) {
                throw new IllegalArgumentException("alpha, eps, delta must be positive");
            }
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        /**
         * True in {@link Phase#CONVERGED} and {@link Phase#STALLED}. (Deliberately not named {@code isTerminal}
         * so that bean-style serialisers do not see an extra property.)
         */
        public boolean terminal() {
            return phase == Phase.CONVERGED || phase == Phase.STALLED;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && k == s.k && sequence == s.sequence && phase == s.phase
                    && Arrays.equals(theta, s.theta) && Double.compare(alpha, s.alpha) == 0
                    && Double.compare(eps, s.eps) == 0 && Double.compare(delta, s.delta) == 0
                    && Objects.equals(current, s.current) && backtracks == s.backtracks
                    && refinements == s.refinements && Double.compare(iterationCost, s.iterationCost) == 0
                    && Double.compare(totalCost, s.totalCost) == 0;
        }

        @Override
        public int hashCode() {
            return Objects.hash(k, sequence, phase, Arrays.hashCode(theta), alpha, eps, delta, current, backtracks,
                    refinements, iterationCost, totalCost);
        }

        @Override
        public String toString() {
            return "Maid.State[k=" + k + ", sequence=" + sequence + ", phase=" + phase + ", theta="
                    + Arrays.toString(theta) + ", alpha=" + alpha + ", eps=" + eps + ", delta=" + delta
                    + ", current=" + current + ", backtracks=" + backtracks + ", refinements=" + refinements
                    + ", iterationCost=" + iterationCost + ", totalCost=" + totalCost + "]";
        }
    }

    /**
     * The record of one finished outer iteration, for metrics.
     *
     * <p>Serialised field layout (stable):
     * {@code k} (long, index of this iteration), {@code outcome}, {@code accepted} (outcome ==
     * ACCEPTED), {@code theta} (double[P], θ_{k+1}, i.e. after the iteration), {@code alpha} (step
     * size of the last trial, α ρ^j; NaN if no trial was made), {@code eps}, {@code delta} (accuracies
     * of the last hypergradient and the trials), {@code loss} (ℓ̃(θ_k)), {@code lossGradientNorm}
     * (‖∇ℓ(x_ε(θ_k))‖), {@code trialLoss} (ℓ̃ at the last trial point; NaN if none),
     * {@code hypergradientNorm} (‖z‖), {@code errorBound}, {@code boundCertified},
     * {@code backtracks} (rejected trial points: j on success, J+1 on failure), {@code refinements}
     * (accuracy tightenings before the hypergradient was accepted), {@code cost} (oracle cost of this
     * iteration), {@code totalCost} (cumulative).
     */
    public record Iteration(long k, Outcome outcome, boolean accepted, double[] theta, double alpha, double eps,
                            double delta, double loss, double lossGradientNorm, double trialLoss,
                            double hypergradientNorm, double errorBound, boolean boundCertified, int backtracks,
                            int refinements, double cost, double totalCost) {
        public Iteration {
            Objects.requireNonNull(outcome, "outcome");
            if (accepted != (outcome == Outcome.ACCEPTED)) {
                throw new IllegalArgumentException("accepted must equal (outcome == ACCEPTED)");
            }
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Iteration i && k == i.k && outcome == i.outcome && accepted == i.accepted
                    && Arrays.equals(theta, i.theta) && Double.compare(alpha, i.alpha) == 0
                    && Double.compare(eps, i.eps) == 0 && Double.compare(delta, i.delta) == 0
                    && Double.compare(loss, i.loss) == 0 && Double.compare(lossGradientNorm, i.lossGradientNorm) == 0
                    && Double.compare(trialLoss, i.trialLoss) == 0
                    && Double.compare(hypergradientNorm, i.hypergradientNorm) == 0
                    && Double.compare(errorBound, i.errorBound) == 0 && boundCertified == i.boundCertified
                    && backtracks == i.backtracks && refinements == i.refinements
                    && Double.compare(cost, i.cost) == 0 && Double.compare(totalCost, i.totalCost) == 0;
        }

        @Override
        public int hashCode() {
            return Objects.hash(k, outcome, Arrays.hashCode(theta), alpha, eps, delta, loss, trialLoss,
                    hypergradientNorm, errorBound, backtracks, refinements, cost, totalCost);
        }

        @Override
        public String toString() {
            return "Maid.Iteration[k=" + k + ", outcome=" + outcome + ", theta=" + Arrays.toString(theta)
                    + ", alpha=" + alpha + ", eps=" + eps + ", delta=" + delta + ", loss=" + loss
                    + ", lossGradientNorm=" + lossGradientNorm + ", trialLoss=" + trialLoss
                    + ", hypergradientNorm=" + hypergradientNorm + ", errorBound=" + errorBound
                    + ", boundCertified=" + boundCertified + ", backtracks=" + backtracks
                    + ", refinements=" + refinements + ", cost=" + cost + ", totalCost=" + totalCost + "]";
        }
    }

    /**
     * Result of consuming one oracle result.
     *
     * @param state     the next state
     * @param completed the finished outer iteration, or null if the iteration continues
     */
    public record Transition(State state, Iteration completed) {
        public Transition {
            Objects.requireNonNull(state, "state");
        }
    }

    /** Result of {@link #run}: final state and the iterations in order. */
    public record Run(State state, List<Iteration> iterations) {
        public Run {
            Objects.requireNonNull(state, "state");
            iterations = List.copyOf(iterations);
        }
    }

    private final Parameters parameters;
    private final UnaryOperator<double[]> projection; // null: unconstrained, the paper's test literally

    /** Unconstrained MAID (the paper's algorithm). */
    public Maid(Parameters parameters) {
        this.parameters = Objects.requireNonNull(parameters, "parameters");
        this.projection = null;
    }

    /**
     * MAID with trial points projected by P (see the class comment).
     *
     * @param projection P; receives a fresh array that it may modify and return, or returns a new one
     */
    public Maid(Parameters parameters, UnaryOperator<double[]> projection) {
        this.parameters = Objects.requireNonNull(parameters, "parameters");
        this.projection = Objects.requireNonNull(projection, "projection");
    }

    public Parameters parameters() {
        return parameters;
    }

    /** The state before the first iteration at θ0 (which the caller makes feasible), with α0, ε0, δ0. */
    public State init(double[] theta0) {
        Objects.requireNonNull(theta0, "theta0");
        return new State(0, 0, Phase.HYPERGRADIENT, theta0, parameters.alpha0(), parameters.eps0(),
                parameters.delta0(), null, 0, 0, 0.0, 0.0);
    }

    /**
     * What to compute next.
     *
     * @throws IllegalStateException if the state is terminal
     */
    public Request request(State s) {
        return switch (s.phase()) {
            case HYPERGRADIENT -> new HypergradientRequest(s.sequence(), s.theta, s.eps(), s.delta());
            case LINE_SEARCH -> new LossRequest(s.sequence(), trialTheta(s), s.eps());
            case CONVERGED, STALLED -> throw new IllegalStateException("MAID has terminated: " + s.phase());
        };
    }

    /** The trial step size α ρ^j of a state in {@link Phase#LINE_SEARCH}. */
    public double trialStepSize(State s) {
        return s.alpha() * Math.pow(parameters.rho(), s.backtracks());
    }

    /** The trial point P(θ − α ρ^j z) of a state in {@link Phase#LINE_SEARCH} (a new array). */
    public double[] trialTheta(State s) {
        if (s.phase() != Phase.LINE_SEARCH) {
            throw new IllegalStateException("no trial point in phase " + s.phase());
        }
        double step = trialStepSize(s);
        double[] z = s.current().hypergradient();
        double[] trial = new double[z.length];
        for (int i = 0; i < z.length; i++) {
            trial[i] = s.theta[i] - step * z[i];
        }
        return projection == null ? trial : OptimizerSupport.project(projection, trial);
    }

    /**
     * Consumes the oracle's answer to a {@link HypergradientRequest}.
     *
     * @throws IllegalStateException    if the state is not in {@link Phase#HYPERGRADIENT}
     * @throws IllegalArgumentException if the hypergradient has the wrong length
     */
    public Transition onHypergradient(State s, Oracle.Evaluation e) {
        if (s.phase() != Phase.HYPERGRADIENT) {
            throw new IllegalStateException("not expecting a hypergradient in phase " + s.phase());
        }
        if (e.hypergradient().length != s.theta.length) {
            throw new IllegalArgumentException("hypergradient has length " + e.hypergradient().length
                    + ", theta has " + s.theta.length);
        }
        double iterationCost = s.iterationCost() + e.cost();
        double totalCost = s.totalCost() + e.cost();
        long sequence = s.sequence() + 1;
        double zNorm = e.hypergradientNorm();
        double bound = e.errorBound().value();
        if (zNorm == 0 && bound == 0) {
            State next = new State(s.k() + 1, sequence, Phase.CONVERGED, s.theta, s.alpha(), s.eps(), s.delta(),
                    null, 0, 0, 0.0, totalCost);
            return new Transition(next, record(s, Outcome.CONVERGED, s.theta, Double.NaN, e, Double.NaN, 0,
                    iterationCost, totalCost));
        }
        if (bound <= (1 - parameters.eta()) * zNorm) {
            State next = new State(s.k(), sequence, Phase.LINE_SEARCH, s.theta, s.alpha(), s.eps(), s.delta(), e,
                    0, s.refinements(), iterationCost, totalCost);
            return new Transition(next, null);
        }
        double eps = parameters.nuDec() * s.eps();
        double delta = parameters.nuDec() * s.delta();
        if (eps < parameters.epsMin()) {
            State next = new State(s.k() + 1, sequence, Phase.STALLED, s.theta, s.alpha(), s.eps(), s.delta(),
                    null, 0, 0, 0.0, totalCost);
            return new Transition(next, record(s, Outcome.STALLED, s.theta, Double.NaN, e, Double.NaN, 0,
                    iterationCost, totalCost));
        }
        State next = new State(s.k(), sequence, Phase.HYPERGRADIENT, s.theta, s.alpha(), eps, delta, null, 0,
                s.refinements() + 1, iterationCost, totalCost);
        return new Transition(next, null);
    }

    /**
     * Consumes the oracle's answer to a {@link LossRequest} (the loss at {@link #trialTheta}).
     *
     * @throws IllegalStateException if the state is not in {@link Phase#LINE_SEARCH}
     */
    public Transition onLoss(State s, Oracle.LossEvaluation trial) {
        if (s.phase() != Phase.LINE_SEARCH) {
            throw new IllegalStateException("not expecting a loss in phase " + s.phase());
        }
        Oracle.Evaluation cur = s.current();
        double iterationCost = s.iterationCost() + trial.cost();
        double totalCost = s.totalCost() + trial.cost();
        long sequence = s.sequence() + 1;
        double step = trialStepSize(s);
        double[] trialTheta = trialTheta(s);
        double eps = s.eps();
        double zNorm = cur.hypergradientNorm();
        double decrease;
        if (projection == null) {
            decrease = step * zNorm * zNorm;
        } else {
            double d = Oracle.Evaluation.norm(difference(trialTheta, s.theta));
            decrease = d * d / step;
        }
        double lhs = trial.loss() + trial.lossGradientNorm() * eps + 0.5 * parameters.lossLipschitz() * eps * eps;
        double rhs = cur.loss() - cur.lossGradientNorm() * eps - parameters.c() * decrease;
        if (lhs <= rhs) {
            State next = new State(s.k() + 1, sequence, Phase.HYPERGRADIENT, trialTheta,
                    step * parameters.alphaIncrease(), parameters.nuInc() * eps, parameters.nuInc() * s.delta(),
                    null, 0, 0, 0.0, totalCost);
            return new Transition(next, record(s, Outcome.ACCEPTED, trialTheta, step, cur, trial.loss(),
                    s.backtracks(), iterationCost, totalCost));
        }
        if (s.backtracks() < parameters.maxBacktracks()) {
            State next = new State(s.k(), sequence, Phase.LINE_SEARCH, s.theta, s.alpha(), eps, s.delta(), cur,
                    s.backtracks() + 1, s.refinements(), iterationCost, totalCost);
            return new Transition(next, null);
        }
        int rejected = s.backtracks() + 1;
        double tighterEps = parameters.nuDec() * eps;
        if (tighterEps < parameters.epsMin()) {
            State next = new State(s.k() + 1, sequence, Phase.STALLED, s.theta, s.alpha(), eps, s.delta(), null,
                    0, 0, 0.0, totalCost);
            return new Transition(next, record(s, Outcome.STALLED, s.theta, step, cur, trial.loss(), rejected,
                    iterationCost, totalCost));
        }
        State next = new State(s.k() + 1, sequence, Phase.HYPERGRADIENT, s.theta, s.alpha(), tighterEps,
                parameters.nuDec() * s.delta(), null, 0, 0, 0.0, totalCost);
        return new Transition(next, record(s, Outcome.LINE_SEARCH_FAILED, s.theta, step, cur, trial.loss(),
                rejected, iterationCost, totalCost));
    }

    /**
     * Runs the machine with {@code oracle} until one outer iteration has finished (or the state is
     * already terminal, in which case it is returned unchanged with {@code completed == null}).
     */
    public Transition iterate(State s, Oracle oracle) {
        State state = s;
        while (!state.terminal()) {
            Request request = request(state);
            Transition t;
            if (request instanceof HypergradientRequest r) {
                t = onHypergradient(state, oracle.evaluate(r.theta(), r.eps(), r.delta()));
            } else {
                LossRequest r = (LossRequest) request;
                t = onLoss(state, oracle.loss(r.theta(), r.eps()));
            }
            if (t.completed() != null) {
                return t;
            }
            state = t.state();
        }
        return new Transition(state, null);
    }

    /** Runs at most {@code maxIterations} outer iterations, stopping early at a terminal state. */
    public Run run(State s, Oracle oracle, int maxIterations) {
        List<Iteration> iterations = new ArrayList<>();
        State state = s;
        for (int i = 0; i < maxIterations && !state.terminal(); i++) {
            Transition t = iterate(state, oracle);
            state = t.state();
            if (t.completed() != null) {
                iterations.add(t.completed());
            }
        }
        return new Run(state, iterations);
    }

    private Iteration record(State s, Outcome outcome, double[] thetaAfter, double alpha, Oracle.Evaluation e,
                             double trialLoss, int backtracks, double iterationCost, double totalCost) {
        return new Iteration(s.k(), outcome, outcome == Outcome.ACCEPTED, thetaAfter, alpha, s.eps(), s.delta(),
                e.loss(), e.lossGradientNorm(), trialLoss, e.hypergradientNorm(), e.errorBound().value(),
                e.errorBound().certified(), backtracks, s.refinements(), iterationCost, totalCost);
    }

    private static double[] difference(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
