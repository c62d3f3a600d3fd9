package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.SolveStatistics;
import bilevel.numerics.hypergradient.WarmStart;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Objects;

/**
 * The piggyback {@link HypergradientMethod} of a {@link PrimalDualModel}: optimality map = the PDHG fixed point
 * z = T(z, θ) of the sample's {@link SaddlePointProblem}, solved by {@link Pdhg}; adjoint w = B(z)ᵀw + ∇ℓ by
 * the piggyback iteration; z = J(z)ᵀw with the bound of {@link PiggybackErrorBound} (all in
 * {@link PiggybackHypergradient}). ε bounds ‖x − x*‖ (certified by the contraction of T), δ the adjoint's
 * distance e_w to the linearisation's fixed point in ‖·‖_{M⁻¹}. The warm start is a {@link PrimalDualState}
 * (x, p, u, v).
 *
 * <p>The returned {@link Hypergradient} is certified iff {@link PrimalDualHypergradient#certified()} (all
 * constants certified and the prox of G exact, i.e. AᵀA diagonal) and both iterations converged, as for the
 * implicit method. Immutable.
 */
public final class PiggybackMethod implements HypergradientMethod {
    public static final String NAME = "piggyback";

    private final PrimalDualModel model;
    private final int maxLowerIterations;
    private final int maxAdjointIterations;

    /**
     * @param model                the primal–dual model whose instances this method differentiates
     * @param maxLowerIterations   cap on PDHG iterations per call
     * @param maxAdjointIterations cap on piggyback iterations per call
     */
    public PiggybackMethod(PrimalDualModel model, int maxLowerIterations, int maxAdjointIterations) {
        this.model = Objects.requireNonNull(model, "model");
        if (maxLowerIterations < 1 || maxAdjointIterations < 1) {
            throw new IllegalArgumentException("iteration caps must be at least 1");
        }
        this.maxLowerIterations = maxLowerIterations;
        this.maxAdjointIterations = maxAdjointIterations;
    }

    public PrimalDualModel model() {
        return model;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String lowerLevelSolver() {
        return "PDHG";
    }

    @Override
    public String adjointSolver() {
        return "piggyback";
    }

    /** Instances of this method's {@link PrimalDualModel} (or of one with the same structure, {@link PrimalDualModel#sameModel}). */
    @Override
    public boolean accepts(Regularizer.Instance instance) {
        return instance instanceof PrimalDualModel.Instance i && model.sameModel(i.model());
    }

    @Override
    public WarmStart newWarmStart(long[] imageShape, DataType dataType) {
        return new PrimalDualState(imageShape, dualShape(imageShape), dataType);
    }

    @Override
    public WarmStart restoreWarmStart(List<INDArray> arrays) {
        if (arrays.size() != 4) {
            throw new IllegalArgumentException("a primal–dual warm start has 4 arrays (x, p, u, v), got " + arrays.size());
        }
        INDArray p = arrays.get(1);
        if (p.rank() != 3 || p.size(0) != model.coupling().channels()) {
            throw new IllegalArgumentException("a primal–dual warm start of this model has duals of "
                    + model.coupling().channels() + " channels");
        }
        return new PrimalDualState(arrays.get(0), p, arrays.get(2), arrays.get(3));
    }

    private long[] dualShape(long[] imageShape) {
        return new long[]{model.coupling().channels(), imageShape[0], imageShape[1]};
    }

    private PrimalDualModel.Instance instance(Regularizer.Instance m) {
        if (!accepts(m)) {
            throw new IllegalArgumentException("the piggyback method differentiates instances of its own primal–dual model, got "
                    + (m == null ? null : m.getClass().getSimpleName()));
        }
        return (PrimalDualModel.Instance) m;
    }

    private SaddlePointProblem problem(PrimalDualModel.Instance m, LinearOperator a, INDArray y, long[] shape, double mu) {
        return new SaddlePointProblem(a, y, shape, m.coupling(shape), mu, model.huberWeight(), model.huberSmoothing(),
                model.stepBalance());
    }

    @Override
    public Result compute(Regularizer.Instance instance, Sample sample, double epsilon, double delta, WarmStart warm) {
        PrimalDualModel.Instance m = instance(instance);
        long[] shape = sample.imageShape();
        PrimalDualState state = state(warm, shape, sample.clean().dataType());
        try (SaddlePointProblem p = problem(m, sample.operator(), sample.measurement(), shape, sample.mu());
             PiggybackHypergradient method = new PiggybackHypergradient(p, maxLowerIterations, maxAdjointIterations)) {
            PrimalDualHypergradient h = method.compute(sample.clean(), epsilon, delta, state);
            return new Result(toHypergradient(h), state);
        } catch (RuntimeException e) {
            if (warm == null) {
                state.close();
            }
            throw e;
        }
    }

    /** The common record of a piggyback result: certified iff h is and both iterations converged. */
    static Hypergradient toHypergradient(PrimalDualHypergradient h) {
        boolean certified = h.certified() && h.lowerLevel().converged() && h.linearSolve().converged();
        return new Hypergradient(h.z(), h.upperLoss(), h.errorBound(), certified, h.bound(), h.lowerLevel(),
                h.linearSolve(), h.computations());
    }

    /** PDHG from the state's (x, p), which it updates; u, v are left as they are. */
    @Override
    public SolveStatistics solveLowerLevel(Regularizer.Instance instance, LinearOperator a, INDArray y, double mu,
                                           WarmStart warm, double epsilon, int maxIterations) {
        PrimalDualModel.Instance m = instance(instance);
        long[] shape = warm.primal().shape();
        PrimalDualState state = state(warm, shape, warm.primal().dataType());
        try (SaddlePointProblem p = problem(m, a, y, shape, mu); Pdhg pdhg = new Pdhg(p)) {
            return pdhg.solve(state.primal(), state.dual(), epsilon, maxIterations);
        }
    }

    private PrimalDualState state(WarmStart warm, long[] shape, DataType dataType) {
        if (warm == null) {
            return new PrimalDualState(shape, dualShape(shape), dataType);
        }
        if (!(warm instanceof PrimalDualState s)) {
            throw new IllegalArgumentException("the piggyback method continues from a primal–dual warm start, got "
                    + warm.getClass().getSimpleName());
        }
        if (s.dual().size(0) != model.coupling().channels()) {
            throw new IllegalArgumentException("warm start has " + s.dual().size(0) + " dual channels, the model "
                    + model.coupling().channels());
        }
        return s;
    }

    @Override
    public String toString() {
        return "PiggybackMethod[" + model.type() + ", caps " + maxLowerIterations + "/" + maxAdjointIterations + "]";
    }
}
