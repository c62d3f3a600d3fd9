package bilevel.numerics.hypergradient;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.Fista;
import bilevel.numerics.solvers.LowerLevelProblem;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/**
 * The implicit-function {@link HypergradientMethod}: FISTA on ∇ₓh(x, θ) = 0, CG on ∇²ₓₓh q = ∇ℓ, and the bound
 * of {@link HypergradientErrorBound} (see {@link ImplicitHypergradient}, which does the work). The warm start
 * is a {@link HypergradientState} (x, q). Immutable.
 *
 * @param maxLowerIterations   cap on FISTA iterations per call
 * @param maxAdjointIterations cap on CG iterations per call
 * @param errorBoundMode       how the constants of the error bound are obtained (certified or estimated,
 *                             see {@link ErrorBoundMode})
 */
public record ImplicitMethod(int maxLowerIterations, int maxAdjointIterations, ErrorBoundMode errorBoundMode)
        implements HypergradientMethod {
    public static final String NAME = "implicit";

    public ImplicitMethod {
        if (maxLowerIterations < 1 || maxAdjointIterations < 1) {
            throw new IllegalArgumentException("iteration caps must be at least 1");
        }
        java.util.Objects.requireNonNull(errorBoundMode, "errorBoundMode");
    }

    /** With certified error bounds. */
    public ImplicitMethod(int maxLowerIterations, int maxAdjointIterations) {
        this(maxLowerIterations, maxAdjointIterations, ErrorBoundMode.CERTIFIED);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String lowerLevelSolver() {
        return "FISTA";
    }

    @Override
    public String adjointSolver() {
        return "CG";
    }

    /** Every regularizer. */
    @Override
    public boolean accepts(Regularizer.Instance model) {
        return model != null;
    }

    @Override
    public WarmStart newWarmStart(long[] imageShape, DataType dataType) {
        return new HypergradientState(imageShape, dataType);
    }

    @Override
    public WarmStart restoreWarmStart(List<INDArray> arrays) {
        if (arrays.size() != 2) {
            throw new IllegalArgumentException("an implicit warm start has 2 arrays (x, q), got " + arrays.size());
        }
        return new HypergradientState(arrays.get(0), arrays.get(1));
    }

    @Override
    public Result compute(Regularizer.Instance model, Sample sample, double epsilon, double delta, WarmStart warm) {
        HypergradientState state = state(warm, sample.imageShape(), sample.clean().dataType());
        try (LowerLevelProblem p = new LowerLevelProblem(sample.operator(), sample.measurement(), sample.imageShape(),
                model, sample.mu());
             ImplicitHypergradient ih = new ImplicitHypergradient(p, maxLowerIterations, maxAdjointIterations,
                     errorBoundMode)) {
            return new Result(ih.compute(sample.clean(), epsilon, delta, state), state);
        } catch (RuntimeException e) {
            if (warm == null) {
                state.close();
            }
            throw e;
        }
    }

    @Override
    public SolveStatistics solveLowerLevel(Regularizer.Instance model, LinearOperator a, INDArray y, double mu,
                                           WarmStart warm, double epsilon, int maxIterations) {
        INDArray x = warm.primal();
        try (LowerLevelProblem p = new LowerLevelProblem(a, y, x.shape(), model, mu);
             Fista fista = new Fista(p)) {
            return fista.solve(x, epsilon, maxIterations);
        }
    }

    private static HypergradientState state(WarmStart warm, long[] shape, DataType dataType) {
        if (warm == null) {
            return new HypergradientState(shape, dataType);
        }
        if (!(warm instanceof HypergradientState s)) {
            throw new IllegalArgumentException("the implicit method continues from an implicit warm start, got "
                    + warm.getClass().getSimpleName());
        }
        return s;
    }
}
