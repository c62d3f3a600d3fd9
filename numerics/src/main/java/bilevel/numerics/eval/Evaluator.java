package bilevel.numerics.eval;

import bilevel.numerics.data.Seeds;
import bilevel.numerics.image.Metrics;
import bilevel.numerics.image.Noise;
import bilevel.numerics.operators.Blur;
import bilevel.numerics.operators.Identity;
import bilevel.numerics.operators.Inpainting;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.SolveStatistics;
import bilevel.numerics.hypergradient.WarmStart;
import bilevel.numerics.primaldual.PrimalDualModel;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.SampleSolver;
import bilevel.numerics.train.TrainingSpec;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Objects;

/**
 * Evaluates a regularizer R_θ on images: simulates a measurement, reconstructs by solving the lower
 * level to a stated accuracy, and measures the quality.
 *
 * <h2>Measurement</h2>
 * For a clean image x* ∈ [0, 1]^{H×W} and a noise seed s, A is given by the {@link TrainingSpec.ProblemSpec}:
 * the identity ({@code denoise}), the Gaussian blur of size {@code blurSize} and width {@code blurSigma}
 * ({@code blur}), or a random inpainting mask with round(missing·HW) missing pixels drawn from
 * {@code Seeds.derive(s, SampleSolver.TAG_MASK)} ({@code inpaint}); then y = A x* + (σ/255) n with
 * n ~ N(0, I) drawn by {@link Noise#addGaussian} from seed s, not clipped. This is exactly the
 * measurement of the training ({@link SampleSolver}), so with s = {@link #noiseSeed}(run seed, i) it
 * reproduces the training's validation measurement of validation image i.
 *
 * <h2>Reconstruction</h2>
 * x̂ = argmin_x h(x) = ½‖Ax − y‖² + R_θ(x) + (μ/2)‖x‖² ({@code LowerLevelProblem}), computed by
 * FISTA from x₀ = Aᵀy until ‖x − x̂‖ ≤ ε·√(HW) is certified (ε is the requested <em>RMS</em>
 * accuracy per pixel, on the [0, 1] scale) or the iteration cap is reached (reported, never silent). For a
 * primal–dual model ({@link PrimalDualModel}) x̂ is the primal part of the saddle point of
 * min_x max_p ⟨K_θx, p⟩ + ½‖Ax − y‖² + (μ/2)‖x‖² − F*(p), computed by PDHG from (Aᵀy, 0) with the same
 * certified stopping rule on ‖x − x̂‖ (the lower-level solver of the model's {@link HypergradientMethod}).
 *
 * <h2>Quality</h2>
 * PSNR with peak 1 and SSIM ({@link Metrics}) of the returned x against x*, x not clipped (as in
 * training). Because x is only within distance d = {@link Solve#distanceBound()} of the exact x̂, the
 * PSNR of x̂ itself is known to within {@link #psnrDeviation} (certified when the distance bound is).
 *
 * <p>Holds one Gaussian blur operator (with its work buffers); not thread-safe. Arrays passed in are
 * not modified unless stated.
 */
public final class Evaluator {

    /** Seed stream tag of the noise of image i: the training's validation tag, see {@link #noiseSeed}. */
    public static final long TAG_NOISE = SampleSolver.TAG_VALIDATION_NOISE;

    /** The operator names this evaluator understands. */
    public static final List<String> OPERATORS = List.of("denoise", "blur", "inpaint");

    /**
     * How the lower level is solved.
     *
     * @param accuracyRms   ε &gt; 0: the solve stops once ‖x − x̂‖ ≤ ε·√(HW) is certified
     * @param maxIterations cap on FISTA (or PDHG) iterations per image
     * @param dataType      arithmetic of the solve (FLOAT or DOUBLE)
     */
    public record Settings(double accuracyRms, int maxIterations, DataType dataType) {
        public Settings {
            if (!(accuracyRms > 0) || !Double.isFinite(accuracyRms)) {
                throw new IllegalArgumentException("accuracy must be a positive number, got " + accuracyRms);
            }
            if (maxIterations < 1) {
                throw new IllegalArgumentException("the iteration cap must be at least 1, got " + maxIterations);
            }
            if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
                throw new IllegalArgumentException("data type must be FLOAT or DOUBLE, got " + dataType);
            }
        }
    }

    /**
     * Outcome of one lower-level solve.
     *
     * @param iterations    FISTA iterations (gradient evaluations), or PDHG iterations for a primal–dual model
     * @param distanceBound d ≥ ‖x − x̂‖ (Euclidean, whole image; +∞ when the solve failed)
     * @param certified     whether d is a proven bound (μ_h certified)
     * @param converged     whether d ≤ ε√(HW) was reached within the cap
     * @param seconds       wall time of the solve
     */
    public record Solve(int iterations, double distanceBound, boolean certified, boolean converged, double seconds) {
    }

    /**
     * Outcome of {@link #evaluate}.
     *
     * @param noiseSeed     the seed s of the measurement
     * @param inputPsnr     PSNR of the measurement y against x* (dB)
     * @param inputSsim     SSIM of y against x*
     * @param psnr          PSNR of the reconstruction x against x* (dB)
     * @param ssim          SSIM of x against x*
     * @param psnrDeviation bound on |PSNR(x̂) − PSNR(x)| for the exact minimiser x̂ (dB; +∞ if unknown)
     * @param solve         the solve
     */
    public record Outcome(long noiseSeed, double inputPsnr, double inputSsim, double psnr, double ssim,
                          double psnrDeviation, Solve solve) {
    }

    /** A simulated measurement: its operator and y (owned; {@link #close()} frees y). */
    public record Measurement(LinearOperator operator, INDArray y) implements AutoCloseable {
        @Override
        public void close() {
            y.close();
        }
    }

    private final TrainingSpec.ProblemSpec problem;
    private final Settings settings;
    private final Identity identity = new Identity();
    private final Blur blur;

    /**
     * @param problem operator, σ (0–255 scale), μ, blur and inpainting parameters
     * @param settings accuracy, iteration cap and data type of the solves
     */
    public Evaluator(TrainingSpec.ProblemSpec problem, Settings settings) {
        this.problem = Objects.requireNonNull(problem, "problem");
        this.settings = Objects.requireNonNull(settings, "settings");
        if (!OPERATORS.contains(problem.operator())) {
            throw new IllegalArgumentException("unknown operator '" + problem.operator() + "' (known: "
                    + String.join(", ", OPERATORS) + ")");
        }
        this.blur = problem.operator().equals("blur") ? Blur.gaussian(problem.blurSize(), problem.blurSigma()) : null;
        if (problem.operator().equals("inpaint") && !(problem.inpaintMissing() >= 0 && problem.inpaintMissing() <= 1)) {
            throw new IllegalArgumentException("fraction of missing pixels must be in [0, 1], got " + problem.inpaintMissing());
        }
    }

    public TrainingSpec.ProblemSpec problem() {
        return problem;
    }

    public Settings settings() {
        return settings;
    }

    /** s_i = Seeds.derive(seed, {@value #TAG_NOISE}, i): the noise seed of image i (the training's validation rule). */
    public static long noiseSeed(long seed, int index) {
        return Seeds.derive(seed, TAG_NOISE, index);
    }

    /**
     * The forward operator for an image of size h×w and noise seed s (see the class comment). The blur
     * operator is shared by all calls of this evaluator.
     */
    public LinearOperator operator(long h, long w, long noiseSeed) {
        return switch (problem.operator()) {
            case "denoise" -> identity;
            case "blur" -> blur;
            case "inpaint" -> Inpainting.random(h, w, problem.inpaintMissing(), Seeds.derive(noiseSeed, SampleSolver.TAG_MASK));
            default -> throw new IllegalStateException(problem.operator());
        };
    }

    /** y = A x* + (σ/255) n(s) for the clean [H, W] image x* (not modified); y has the evaluator's data type. */
    public Measurement measure(INDArray clean, long noiseSeed) {
        LinearOperator a = operator(clean.size(0), clean.size(1), noiseSeed);
        boolean cast = clean.dataType() != settings.dataType();
        INDArray typed = cast ? clean.castTo(settings.dataType()) : clean;   // castTo to the same type is no copy
        try (INDArray ax = Nd4j.create(settings.dataType(), a.rangeShape(clean.shape()))) {
            a.apply(typed, ax);
            return new Measurement(a, Noise.addGaussian(ax, problem.sigma(), noiseSeed));
        } finally {
            if (cast) {
                typed.close();
            }
        }
    }

    /**
     * Solves the lower level for measurement y with operator A.
     *
     * @param regularizer R_θ, bound to the evaluator's data type
     * @param x           in: the starting point (e.g. {@link #adjointStart} or a warm start); out: the
     *                    reconstruction. An [H, W] array of the evaluator's data type; modified in place.
     * @throws IllegalArgumentException if h is not strongly convex (λ_min(AᵀA) + m_R + μ = 0)
     */
    public Solve solve(Regularizer.Instance regularizer, LinearOperator a, INDArray y, INDArray x) {
        long n = x.length();
        double epsilon = settings.accuracyRms() * Math.sqrt(n);
        long t0 = System.nanoTime();
        HypergradientMethod method = RegularizerFactory.methodFor(regularizer, settings.maxIterations());
        try (WarmStart state = method.newWarmStart(x.shape(), x.dataType())) {
            state.primal().assign(x);
            SolveStatistics r = method.solveLowerLevel(regularizer, a, y, problem.mu(), state, epsilon,
                    settings.maxIterations());
            x.assign(state.primal());
            return new Solve(r.iterations(), r.accuracy(), r.certified(), r.converged(), (System.nanoTime() - t0) * 1e-9);
        }
    }

    /** The solver {@link #solve} uses for models of {@code family}: "PDHG" for a primal–dual model, else "FISTA". */
    public static String lowerLevelSolver(Regularizer family) {
        return family instanceof PrimalDualModel ? "PDHG" : "FISTA";
    }

    /** A new [H, W] array x₀ = Aᵀy (the data mapped back to the image; for denoising, y itself). */
    public INDArray adjointStart(LinearOperator a, INDArray y, long[] imageShape) {
        INDArray x = Nd4j.create(settings.dataType(), imageShape);
        a.adjoint(y, x);
        return x;
    }

    /**
     * Measures {@code clean} with seed s, reconstructs from x₀ = Aᵀy, and compares with {@code clean}.
     *
     * @param measurement    if non-null, receives y (an [H, W] array; any floating type)
     * @param reconstruction if non-null, receives x (an [H, W] array; any floating type)
     */
    public Outcome evaluate(Regularizer.Instance regularizer, INDArray clean, long noiseSeed, INDArray measurement,
                            INDArray reconstruction) {
        try (Measurement m = measure(clean, noiseSeed);
             INDArray x = adjointStart(m.operator(), m.y(), clean.shape())) {
            Solve s = solve(regularizer, m.operator(), m.y(), x);
            if (measurement != null) {
                measurement.assign(m.y());
            }
            if (reconstruction != null) {
                reconstruction.assign(x);
            }
            return outcome(noiseSeed, clean, m.y(), x, s);
        }
    }

    /** The quality record of a reconstruction x of {@code clean} from y with solve s. */
    public static Outcome outcome(long noiseSeed, INDArray clean, INDArray y, INDArray x, Solve s) {
        double mse = Metrics.mse(x, clean);
        return new Outcome(noiseSeed, Metrics.psnr(y, clean), Metrics.ssim(y, clean), 10 * Math.log10(1 / mse),
                Metrics.ssim(x, clean), psnrDeviation(mse, x.length(), s.distanceBound()), s);
    }

    /**
     * A bound on |PSNR(x̂) − PSNR(x)| over all x̂ with ‖x̂ − x‖ ≤ d, for PSNR(x) = −10 log10(mse) with
     * mse = ‖x − x*‖²/n.
     *
     * <p>Proof: by the triangle inequality | ‖x̂ − x*‖ − ‖x − x*‖ | ≤ d, so with r = √mse and δ = d/√n the
     * RMS error of x̂ lies in [r − δ, r + δ] and PSNR(x̂) = −20 log10 RMSE(x̂) in
     * [PSNR(x) − 20 log10(1 + δ/r), PSNR(x) + 20 log10(r/(r − δ))] (the upper end only when δ &lt; r). Since
     * (1 + t)(1 − t) ≤ 1, log(1/(1 − t)) ≥ log(1 + t), so the larger deviation is −20 log10(1 − δ/r). Both
     * ends are attained (x̂ = x ± d·(x − x*)/‖x − x*‖), so the bound is tight. ∎ Returns +∞ when δ ≥ r
     * (x̂ could equal x*) or d is not finite, and 0 when d = 0.
     */
    public static double psnrDeviation(double mse, long n, double d) {
        if (d == 0) {
            return 0;
        }
        double r = Math.sqrt(mse);
        double delta = d / Math.sqrt(n);
        if (!Double.isFinite(delta) || delta >= r) {
            return Double.POSITIVE_INFINITY;
        }
        return -20 * Math.log10(1 - delta / r);
    }
}
