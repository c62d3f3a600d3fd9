package bilevel.numerics.hypergradient;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Objects;

/**
 * A way of computing the hypergradient ∇f(θ) of f(θ) = ℓ(x*(θ)), ℓ(x) = ‖x − x†‖², for one training pair,
 * in the style of JAXopt: an <em>optimality map</em> of the lower level plus a pluggable <em>solver</em> for
 * it and for its adjoint, and an a-posteriori error bound. Two implementations:
 * <ul>
 * <li>{@link ImplicitMethod} ("implicit"): optimality map ∇ₓh(x, θ) = 0 of
 *     h = ½‖Ax − y‖² + R_θ(x) + (μ/2)‖x‖², solved by FISTA; adjoint ∇²ₓₓh q = ∇ℓ by CG; z = −(∂θ∇ₓh)ᵀq
 *     (implicit function theorem, bound {@link HypergradientErrorBound}). For every smooth regularizer.</li>
 * <li>{@code primaldual.PiggybackMethod} ("piggyback"): fixed-point map z = T(z, θ) of PDHG on the saddle-point
 *     problem of a {@code primaldual.PrimalDualModel}, solved by iterating T; adjoint w = B(z)ᵀw + ∇ℓ by the
 *     piggyback iteration; z = J(z)ᵀw (bound {@code PiggybackErrorBound}).</li>
 * </ul>
 *
 * <p><b>Contract</b> (checked for every implementation by {@code HypergradientMethodContract}): for a sample
 * (x†, y, A, μ), a model R_θ accepted by {@link #accepts}, accuracies ε (on ‖x − x*‖, Euclidean) and δ (the
 * adjoint tolerance, in the method's own norm), {@link #compute} returns z with
 * {@code errorBound ≥ ‖z − ∇f(θ)‖} (never an under-estimate; certified only with a proof), the loss ℓ(x) at the
 * returned x, both solvers' iteration counts and achieved accuracies ({@link SolveStatistics}), and the
 * updated warm start. Continuing from a warm start never changes what is certified, only the work.
 *
 * <p>Implementations are immutable and thread-safe; every call allocates its own work buffers.
 */
public interface HypergradientMethod {

    /** "implicit" or "piggyback". */
    String name();

    /** Name of the lower-level solver, e.g. "FISTA", "PDHG" (for reports). */
    String lowerLevelSolver();

    /** Name of the adjoint solver, e.g. "CG", "piggyback" (for reports). */
    String adjointSolver();

    /** Whether {@code model} is a model this method can differentiate (e.g. piggyback needs a primal–dual model). */
    boolean accepts(Regularizer.Instance model);

    /**
     * One training pair. The arrays are not owned and not modified; all have the model's data type.
     *
     * @param clean       x†, [H, W]
     * @param measurement y, of shape A.rangeShape([H, W])
     * @param operator    A
     * @param mu          μ ≥ 0 of the lower level
     */
    record Sample(INDArray clean, INDArray measurement, LinearOperator operator, double mu) {
        public Sample {
            Objects.requireNonNull(clean, "clean");
            Objects.requireNonNull(measurement, "measurement");
            Objects.requireNonNull(operator, "operator");
            if (!(mu >= 0)) {
                throw new IllegalArgumentException("mu must be >= 0, got " + mu);
            }
        }

        public long[] imageShape() {
            return clean.shape();
        }
    }

    /**
     * Result of {@link #compute}.
     *
     * @param hypergradient z with its bound and solver statistics
     * @param warmStart     the updated warm start (the one passed in, or a new one owned by the caller)
     */
    record Result(Hypergradient hypergradient, WarmStart warmStart) {
    }

    /** A zero (cold) warm start for images of the given shape [H, W]. */
    WarmStart newWarmStart(long[] imageShape, DataType dataType);

    /**
     * A warm start made of {@code arrays} (in the order of {@link WarmStart#arrays()}), which it adopts (the
     * caller must not close them). Used to restore checkpoints.
     *
     * @throws IllegalArgumentException if the number or shapes of the arrays do not fit this method
     */
    WarmStart restoreWarmStart(List<INDArray> arrays);

    /**
     * The hypergradient of the sample at the model's θ.
     *
     * @param model   R_θ bound to the sample's data type ({@link #accepts} must hold)
     * @param sample  the training pair (unchanged)
     * @param epsilon ε &gt; 0: the lower level is solved until ‖x − x*‖ ≤ ε is certified (or the cap)
     * @param delta   δ &gt; 0: the adjoint tolerance
     * @param warm    the warm start (modified in place), or null for a cold start (a new state is returned)
     */
    Result compute(Regularizer.Instance model, Sample sample, double epsilon, double delta, WarmStart warm);

    /**
     * Solves the lower level alone (validation, line-search trial points, reconstructions) until
     * ‖x − x*‖ ≤ ε is certified or {@code maxIterations}, continuing from {@code warm}, whose primal iterate
     * (and, for piggyback, dual iterate) it updates in place; x* is the minimiser of
     * ½‖Ax − y‖² + R_θ(x) + (μ/2)‖x‖² (for a primal–dual model: the primal part of the saddle point).
     *
     * @param model R_θ ({@link #accepts} must hold)
     * @param a     A
     * @param y     y (unchanged)
     * @param mu    μ ≥ 0
     * @param warm  the state to continue from, modified in place (its shape gives the image shape)
     */
    SolveStatistics solveLowerLevel(Regularizer.Instance model, LinearOperator a, INDArray y, double mu, WarmStart warm,
                                    double epsilon, int maxIterations);
}
