package bilevel.numerics.primaldual;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.upper.Oracle;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The upper-level {@link Oracle} of the primal–dual model over a fixed list of training pairs (x†_i, y_i),
 * so that {@link bilevel.numerics.upper.Maid} (backtracking on the inexact loss with adaptive accuracies)
 * can drive it:
 * <pre>
 *   f(θ) = (1/N) Σ_i ‖x*_i(θ) − x†_i‖²,   x*_i(θ) the primal part of the saddle point of sample i.
 * </pre>
 * {@link #evaluate} runs {@link PiggybackHypergradient} per sample at (ε, δ) and returns ℓ̃ = mean ℓ_i,
 * ‖∇ℓ‖ := mean ‖∇ℓ_i‖ = mean 2‖x_i − x†_i‖ (so that |ℓ̃ − f| ≤ ‖∇ℓ‖ε + ε² holds for the mean, as the Oracle
 * contract requires, because every ‖x_i − x*_i‖ ≤ ε is certified by PDHG), z = mean z_i and the bound
 * mean of the per-sample bounds (triangle inequality), certified iff every sample's is. {@link #loss} runs
 * PDHG only. Each sample keeps a warm-start {@link PrimalDualState} across calls. Cost: PDHG + piggyback
 * iterations.
 *
 * <p>Copies the images on construction; owns the states; not thread-safe; {@link #close()} frees them.
 */
public final class PrimalDualOracle implements Oracle, AutoCloseable {

    /**
     * The model: K_θ family, forward operator and the fixed constants of {@link SaddlePointProblem}.
     */
    public record Model(LearnedOperator family, LinearOperator forward, double mu, double huberWeight,
                        double huberSmoothing, double stepBalance, int maxPdhgIterations,
                        int maxAdjointIterations, DataType dataType) {
        public Model {
            Objects.requireNonNull(family, "family");
            Objects.requireNonNull(forward, "forward");
            Objects.requireNonNull(dataType, "dataType");
        }
    }

    private final Model model;
    private final List<INDArray> clean = new ArrayList<>();
    private final List<INDArray> measurements = new ArrayList<>();
    private final List<PrimalDualState> states = new ArrayList<>();
    private long computations;
    private int evaluations;
    private int lossEvaluations;

    /**
     * @param model        the model
     * @param cleanImages  x†_i, [H, W] each (copied)
     * @param measurements y_i, of shape A.rangeShape(x†_i.shape()) (copied)
     */
    public PrimalDualOracle(Model model, List<INDArray> cleanImages, List<INDArray> measurements) {
        if (cleanImages.size() != measurements.size() || cleanImages.isEmpty()) {
            throw new IllegalArgumentException("need as many measurements as clean images, at least one");
        }
        this.model = model;
        for (int i = 0; i < cleanImages.size(); i++) {
            INDArray c = cleanImages.get(i).castTo(model.dataType()).dup('c');
            clean.add(c);
            this.measurements.add(measurements.get(i).castTo(model.dataType()).dup('c'));
            long[] shape = c.shape();
            long[] dual = {model.family().channels(), shape[0], shape[1]};
            states.add(new PrimalDualState(shape, dual, model.dataType()));
        }
    }

    public int size() {
        return clean.size();
    }

    /** Total PDHG + piggyback iterations so far. */
    public long computations() {
        return computations;
    }

    public int evaluations() {
        return evaluations;
    }

    public int lossEvaluations() {
        return lossEvaluations;
    }

    private SaddlePointProblem problem(int i, LearnedOperator.Instance k) {
        return new SaddlePointProblem(model.forward(), measurements.get(i), clean.get(i).shape(), k, model.mu(),
                model.huberWeight(), model.huberSmoothing(), model.stepBalance());
    }

    @Override
    public Evaluation evaluate(double[] theta, double eps, double delta) {
        evaluations++;
        int n = clean.size();
        double[] z = new double[model.family().numParams()];
        double loss = 0;
        double gradNorm = 0;
        double bound = 0;
        boolean certified = true;
        long cost = 0;
        for (int i = 0; i < n; i++) {
            try (LearnedOperator.Instance k = model.family().bind(theta, clean.get(i).shape(), model.dataType());
                 SaddlePointProblem p = problem(i, k);
                 PiggybackHypergradient method = new PiggybackHypergradient(p, model.maxPdhgIterations(),
                         model.maxAdjointIterations())) {
                PrimalDualHypergradient h = method.compute(clean.get(i), eps, delta, states.get(i));
                cost += h.computations();
                loss += h.upperLoss() / n;
                gradNorm += 2 * Math.sqrt(h.upperLoss()) / n;
                // a capped PDHG run does not deliver ‖x − x*‖ ≤ ε: the loss bounds would not hold
                bound += (h.lowerLevel().converged() ? h.errorBound() : Double.POSITIVE_INFINITY) / n;
                certified &= h.certified();
                for (int j = 0; j < z.length; j++) {
                    z[j] += h.z(j) / n;
                }
            }
        }
        computations += cost;
        return new Evaluation(loss, gradNorm, z, new Bound(bound, certified && Double.isFinite(bound)), cost);
    }

    @Override
    public LossEvaluation loss(double[] theta, double eps) {
        lossEvaluations++;
        int n = clean.size();
        double loss = 0;
        double gradNorm = 0;
        long cost = 0;
        for (int i = 0; i < n; i++) {
            try (LearnedOperator.Instance k = model.family().bind(theta, clean.get(i).shape(), model.dataType());
                 SaddlePointProblem p = problem(i, k);
                 Pdhg pdhg = new Pdhg(p)) {
                PrimalDualState s = states.get(i);
                Pdhg.Result r = pdhg.solve(s.primal(), s.dual(), eps, model.maxPdhgIterations());
                cost += r.iterations();
                double d = s.primal().distance2(clean.get(i));
                if (!Double.isFinite(d) || !r.converged()) {
                    computations += cost;
                    return new LossEvaluation(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, cost);
                }
                loss += d * d / n;
                gradNorm += 2 * d / n;
            }
        }
        computations += cost;
        return new LossEvaluation(loss, gradNorm, cost);
    }

    @Override
    public void close() {
        states.forEach(PrimalDualState::close);
        clean.forEach(INDArray::close);
        measurements.forEach(INDArray::close);
    }
}
