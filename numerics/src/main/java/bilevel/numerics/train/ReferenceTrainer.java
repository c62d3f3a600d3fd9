package bilevel.numerics.train;

import bilevel.numerics.data.MinibatchSampler;
import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.upper.Adam;
import bilevel.numerics.upper.Maid;
import bilevel.numerics.upper.Oracle;
import bilevel.numerics.upper.Schedule;
import bilevel.numerics.upper.Sgd;
import bilevel.numerics.upper.UpperOptimizer;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The synchronous reference trainer: single thread, deterministic for a seed (same spec → same θ bit
 * for bit). It is the oracle the actor runtime is checked against.
 *
 * <p><b>ISGD / Adam-ISGD.</b> At step k: ε_k, δ_k, α_k from their schedules; the next minibatch of the
 * epoch-ordered sampler; for each sample the inexact hypergradient z_i with its a-posteriori bound
 * (warm-started from the sample's previous solution); z = mean z_i; θ ← P(θ − α_k z) (SGD) or the Adam
 * update followed by the projection. The bound on ‖z − ∇f_B(θ)‖ of the minibatch objective is the
 * mean of the per-sample bounds (triangle inequality).
 *
 * <p><b>MAID.</b> Full batch (all samples of the crop plan), driven by {@link Maid} with an
 * {@link Oracle} over all samples: ℓ̃ = mean ℓ_i, ‖∇ℓ‖ := mean ‖∇ℓ_i‖ (so that
 * |ℓ̃ − f| ≤ ‖∇ℓ‖ε + ε² holds for the mean), bound = mean of the bounds.
 *
 * <p>Cost is counted in total computations (lower-level + CG iterations over samples); training stops
 * once the budget or the step limit is reached (the step that crosses the budget is completed).
 */
public final class ReferenceTrainer {

    /** What a run produced. */
    public record Result(double[] theta, long steps, long computations, double seconds, double validationPsnr,
                         double secondsPerHypergradient, long hypergradients) {
        public Result {
            theta = theta.clone();
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        public double computationsPerSecond() {
            return computations / Math.max(1e-9, seconds);
        }
    }

    private final TrainingSpec spec;
    private final Consumer<StepMetrics> listener;

    /** Checks the spec's method, schedules and regularizer type (a {@link TrainingException} when bad). */
    public ReferenceTrainer(TrainingSpec spec, Consumer<StepMetrics> listener) {
        this.spec = spec;
        this.listener = listener;
        try {
            Schedule accuracy = Schedule.parse(spec.train().accuracy());
            Schedule.parseTied(spec.train().cgTolerance(), accuracy);
            Schedule.parse(spec.train().step());
        } catch (IllegalArgumentException e) {
            throw new TrainingException("bad schedule: " + e.getMessage());
        }
        if (!java.util.List.of("isgd", "adam", "maid").contains(spec.train().method())) {
            throw new TrainingException("unknown train.method '" + spec.train().method() + "' (isgd, adam, maid)");
        }
        RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
    }

    public DataType dataType() {
        return spec.dtype().equals("double") ? DataType.DOUBLE : DataType.FLOAT;
    }

    /** Initial θ: from {@code regularizer.init-model} if set, else the family's seeded initial point (projected). */
    public double[] initialTheta(Regularizer reg) {
        String init = spec.regularizer().initModel();
        if (init != null && !init.isBlank()) {
            ModelFile m = ModelFile.read(Path.of(init));
            if (m.type().equals(reg.type()) && m.theta().length == reg.numParams()) {
                return reg.project(m.theta());
            }
            if (m.type().equals(reg.type())) {
                Regularizer from = RegularizerFactory.create(m.type(), m.options());
                if (from.numParams() == m.theta().length) {
                    java.util.Optional<double[]> grown = reg.embed(from, m.theta(), spec.seed());
                    if (grown.isPresent()) {
                        return grown.get();
                    }
                }
            }
            throw new TrainingException("init-model " + init + " is a '" + m.type() + "' model " + m.options() + " with "
                    + m.theta().length + " parameters; this run trains '" + reg.type() + "' "
                    + spec.regularizer().options() + " with " + reg.numParams() + " and cannot start from it");
        }
        return reg.project(reg.initialTheta(spec.seed()));
    }

    /**
     * Runs the training on {@code data}, writing {@code metrics.jsonl} and {@code model.json} into {@code outDir}.
     */
    public Result run(TrainingData data, Path outDir) {
        Regularizer reg = RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
        try {
            Files.createDirectories(outDir);
        } catch (java.io.IOException e) {
            throw new TrainingException("cannot create output folder " + outDir + ": " + e.getMessage());
        }
        double[] theta0 = initialTheta(reg);
        int cache = Math.max(64, Math.min(4096, data.plan().size()));
        try (SampleSolver solver = new SampleSolver(data, spec.problem(), spec.train(), dataType(), spec.seed(), cache,
                RegularizerFactory.hypergradientMethod(reg, spec.train()));
             MetricsWriter metrics = new MetricsWriter(outDir.resolve("metrics.jsonl"))) {
            Consumer<StepMetrics> sink = m -> {
                metrics.write(m);
                listener.accept(m);
            };
            Result r = spec.train().method().equals("maid")
                    ? runMaid(reg, theta0, data, solver, sink)
                    : runStochastic(reg, theta0, data, solver, sink);
            Map<String, Object> training = new LinkedHashMap<>();
            training.put("steps", r.steps());
            training.put("computations", r.computations());
            training.put("seconds", r.seconds());
            training.put("validationPsnr", r.validationPsnr());
            training.put("secondsPerHypergradient", r.secondsPerHypergradient());
            ModelFile.of(reg.type(), RegularizerFactory.resolvedOptions(spec.regularizer().type(), spec.regularizer().options()),
                    r.theta(), spec.problem(), data.fingerprint(),
                    spec.seed(), training, spec).write(outDir.resolve("model.json"));
            return r;
        }
    }

    /** The upper-level optimizer of {@code train.method} (isgd or adam) with the step-size schedule and P = reg.project. */
    public UpperOptimizer optimizer(Regularizer reg) {
        Schedule step = Schedule.parse(spec.train().step());
        return switch (spec.train().method()) {
            case "isgd" -> new Sgd(step, reg::project);
            case "adam" -> new Adam(step, reg::project);
            default -> throw new TrainingException("unknown train.method '" + spec.train().method() + "' (isgd, adam, maid)");
        };
    }

    /** Whether a run with this many steps and computations has reached its budget or step limit. */
    public boolean done(long steps, long computations) {
        TrainingSpec.TrainSpec t = spec.train();
        return (t.budget() > 0 && computations >= t.budget()) || (t.maxSteps() > 0 && steps >= t.maxSteps());
    }

    /** The pure upper-level state machine of the stochastic methods (shared with the actor runtime's sync mode). */
    public UpperLevelStepper stepper(Regularizer reg) {
        return new UpperLevelStepper(optimizer(reg), UpperLevelStepper.Staleness.synchronous());
    }

    private Result runStochastic(Regularizer reg, double[] theta0, TrainingData data, SampleSolver solver,
                                 Consumer<StepMetrics> sink) {
        UpperLevelStepper stepper = stepper(reg);
        Schedule accuracy = Schedule.parse(spec.train().accuracy());
        Schedule cg = Schedule.parseTied(spec.train().cgTolerance(), accuracy);
        MinibatchSampler sampler = new MinibatchSampler(data.plan(), spec.train().batch());
        MinibatchSampler.Position position = sampler.start(spec.seed());
        UpperLevelStepper.State state = stepper.init(theta0);
        long computations = 0;
        long hypergradients = 0;
        double hypergradientSeconds = 0;
        long start = System.nanoTime();
        double psnr = validate(reg, theta0, solver, data);
        long k = 0;
        while (!done(k, computations)) {
            double eps = accuracy.at(k);
            double delta = cg.at(k);
            MinibatchSampler.Batch batch = sampler.next(position);
            position = batch.next();
            int[] indices = batch.indices();
            double[] z = new double[reg.numParams()];
            double loss = 0;
            double bound = 0;
            boolean certified = true;
            int lowerCaps = 0;
            int cgCaps = 0;
            try (Regularizer.Instance inst = reg.bind(state.theta(), dataType())) {
                for (int index : indices) {
                    long t0 = System.nanoTime();
                    Hypergradient hg = solver.hypergradient(inst, index, eps, delta);
                    hypergradientSeconds += (System.nanoTime() - t0) * 1e-9;
                    hypergradients++;
                    computations += hg.computations();
                    loss += hg.upperLoss() / indices.length;
                    bound += hg.errorBound() / indices.length;
                    certified &= hg.certified();
                    lowerCaps += hg.lowerLevel().reachedIterationCap() ? 1 : 0;
                    cgCaps += hg.linearSolve().reachedIterationCap() ? 1 : 0;
                    UpperLevelStepper.addMean(z, hg.z(), indices.length);
                }
            }
            if (!UpperLevelStepper.finite(z)) {
                throw new TrainingException("non-finite hypergradient at step " + k
                        + " (the lower level diverged?); try a smaller step size");
            }
            double alpha = stepper.stepSize(state);
            state = stepper.apply(state, z, state.version()).state();
            boolean validateNow = spec.train().validateEvery() > 0 && (k + 1) % spec.train().validateEvery() == 0;
            boolean last = done(k + 1, computations);
            Double val = null;
            if (validateNow || last) {
                psnr = validate(reg, state.theta(), solver, data);
                val = psnr;
            }
            sink.accept(new StepMetrics(k, computations, (System.nanoTime() - start) * 1e-9, loss, eps, delta, alpha,
                    UpperLevelStepper.norm(z), bound, certified, true, val, lowerCaps, cgCaps));
            k++;
        }
        double seconds = (System.nanoTime() - start) * 1e-9;
        return new Result(state.theta(), k, computations, seconds, psnr, hypergradientSeconds / Math.max(1, hypergradients),
                hypergradients);
    }

    private Result runMaid(Regularizer reg, double[] theta0, TrainingData data, SampleSolver solver,
                           Consumer<StepMetrics> sink) {
        TrainingSpec.MaidSpec m = spec.train().maid();
        Maid maid = new Maid(Maid.Parameters.defaults().withAlpha0(m.alpha0()).withEps0(m.eps0()).withDelta0(m.eps0())
                .withEta(m.eta()).withC(m.c()).withRho(m.rho()).withNuDec(m.nuDec()).withNuInc(m.nuInc())
                .withAlphaIncrease(m.stepGrowth()).withMaxBacktracks(m.maxBacktracks()), reg::project);
        FullBatchOracle oracle = new FullBatchOracle(reg, solver, data.plan().size(), dataType());
        long start = System.nanoTime();
        double psnr = validate(reg, theta0, solver, data);
        Maid.State state = maid.init(theta0);
        long k = 0;
        while (!done(k, oracle.computations) && !state.terminal()) {
            Maid.Transition t = iterateWithinBudget(maid, state, oracle, k);
            state = t.state();
            Maid.Iteration it = t.completed();
            if (it == null) {
                // the budget ran out inside an outer iteration (while MAID tightened its accuracy or searched
                // for a step): stop at the last accepted θ, which state.theta() still is
                if (!state.terminal()) {
                    psnr = validate(reg, state.theta(), solver, data);
                }
                break;
            }
            boolean validateNow = spec.train().validateEvery() > 0 && (k + 1) % spec.train().validateEvery() == 0;
            boolean last = done(k + 1, oracle.computations) || state.terminal();
            Double val = null;
            if (validateNow || last) {
                psnr = validate(reg, state.theta(), solver, data);
                val = psnr;
            }
            sink.accept(new StepMetrics(k, oracle.computations, (System.nanoTime() - start) * 1e-9, it.loss(), it.eps(),
                    it.delta(), it.alpha(), it.hypergradientNorm(), it.errorBound(), it.boundCertified(), it.accepted(),
                    val, oracle.lowerCaps, oracle.cgCaps));
            oracle.lowerCaps = 0;
            oracle.cgCaps = 0;
            k++;
        }
        double seconds = (System.nanoTime() - start) * 1e-9;
        return new Result(state.theta(), k, oracle.computations, seconds, psnr,
                oracle.hypergradientSeconds / Math.max(1, oracle.hypergradients), oracle.hypergradients);
    }

    /**
     * One outer MAID iteration ({@link Maid#iterate}), but checking the budget after every oracle call: an outer
     * iteration can repeat its full-batch hypergradient many times while it tightens ε and δ, so without this
     * check a run could exceed its budget by orders of magnitude. Returns a transition without a completed
     * iteration when the budget ran out first (the state's θ is then the last accepted one). The oracle call
     * that crosses the budget is completed, so a run overshoots by at most one full-batch evaluation.
     */
    private Maid.Transition iterateWithinBudget(Maid maid, Maid.State s, FullBatchOracle oracle, long k) {
        Maid.State state = s;
        while (!state.terminal()) {
            Maid.Request request = maid.request(state);
            Maid.Transition t = request instanceof Maid.HypergradientRequest r
                    ? maid.onHypergradient(state, oracle.evaluate(r.theta(), r.eps(), r.delta()))
                    : maid.onLoss(state, oracle.loss(((Maid.LossRequest) request).theta(), ((Maid.LossRequest) request).eps()));
            if (t.completed() != null) {
                return t;
            }
            state = t.state();
            if (done(k, oracle.computations)) {
                return new Maid.Transition(state, null);
            }
        }
        return new Maid.Transition(state, null);
    }

    /** The full-batch oracle MAID needs, over all samples of the crop plan. */
    private static final class FullBatchOracle implements Oracle {
        private final Regularizer reg;
        private final SampleSolver solver;
        private final int n;
        private final DataType dataType;
        long computations;
        long hypergradients;
        double hypergradientSeconds;
        int lowerCaps;
        int cgCaps;

        FullBatchOracle(Regularizer reg, SampleSolver solver, int n, DataType dataType) {
            this.reg = reg;
            this.solver = solver;
            this.n = n;
            this.dataType = dataType;
        }

        @Override
        public Evaluation evaluate(double[] theta, double eps, double delta) {
            double[] z = new double[reg.numParams()];
            double loss = 0, gradNorm = 0, bound = 0, cost = 0;
            boolean certified = true;
            try (Regularizer.Instance inst = reg.bind(theta, dataType)) {
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    Hypergradient hg = solver.hypergradient(inst, i, eps, delta);
                    hypergradientSeconds += (System.nanoTime() - t0) * 1e-9;
                    hypergradients++;
                    cost += hg.computations();
                    loss += hg.upperLoss() / n;
                    gradNorm += 2 * Math.sqrt(hg.upperLoss()) / n;   // ‖∇ℓ_i‖ = 2‖x − x*‖
                    bound += hg.errorBound() / n;
                    certified &= hg.certified();
                    lowerCaps += hg.lowerLevel().reachedIterationCap() ? 1 : 0;
                    cgCaps += hg.linearSolve().reachedIterationCap() ? 1 : 0;
                    for (int j = 0; j < z.length; j++) {
                        z[j] += hg.z(j) / n;
                    }
                }
            }
            computations += (long) cost;
            for (double v : z) {
                if (!Double.isFinite(v)) {
                    throw new TrainingException("non-finite hypergradient (the lower level diverged?)");
                }
            }
            return new Evaluation(loss, gradNorm, z, new Bound(bound, certified), cost);
        }

        @Override
        public LossEvaluation loss(double[] theta, double eps) {
            double loss = 0, gradNorm = 0;
            long cost = 0;
            try (Regularizer.Instance inst = reg.bind(theta, dataType)) {
                for (int i = 0; i < n; i++) {
                    SampleSolver.LowerSolve s = solver.lowerLevel(inst, i, eps);
                    cost += s.iterations();
                    lowerCaps += s.capped() ? 1 : 0;
                    if (!Double.isFinite(s.loss())) {
                        computations += cost;
                        return new LossEvaluation(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, cost);
                    }
                    loss += s.loss() / n;
                    gradNorm += 2 * Math.sqrt(s.loss()) / n;
                }
            }
            computations += cost;
            return new LossEvaluation(loss, gradNorm, cost);
        }
    }

    /** Mean validation PSNR at θ (solved to the configured validation accuracy). */
    private double validate(Regularizer reg, double[] theta, SampleSolver solver, TrainingData data) {
        if (data.validation().isEmpty()) {
            return Double.NaN;
        }
        double sum = 0;
        try (Regularizer.Instance inst = reg.bind(theta, dataType())) {
            for (int i = 0; i < data.validation().size(); i++) {
                sum += solver.reconstructValidation(inst, i, spec.train().validationAccuracy(), null).psnr();
            }
        }
        return sum / data.validation().size();
    }
}
