package bilevel.numerics.train;

import java.util.Map;
import java.util.Objects;

/**
 * Everything a training run is defined by, as plain immutable values (no config library in numerics):
 * the command line and HOCON files are turned into this by the application module.
 *
 * @param seed      master seed (initial θ, crops, noise, minibatch order)
 * @param dtype     "float" or "double": arithmetic of the lower-level solves
 * @param regularizer regularizer type and type-specific options
 * @param problem   forward operator and noise
 * @param data      where the training and validation images come from
 * @param train     method, schedules, budget and caps
 */
public record TrainingSpec(long seed, String dtype, RegularizerSpec regularizer, ProblemSpec problem,
                           DataSpec data, TrainSpec train) {

    public TrainingSpec {
        Objects.requireNonNull(regularizer);
        Objects.requireNonNull(problem);
        Objects.requireNonNull(data);
        Objects.requireNonNull(train);
        if (!dtype.equals("float") && !dtype.equals("double")) {
            throw new IllegalArgumentException("dtype must be float or double, got '" + dtype + "'");
        }
    }

    /** @param options type-specific structure (values are numbers, strings or lists of numbers) */
    public record RegularizerSpec(String type, Map<String, Object> options, String initModel) {
        public RegularizerSpec {
            options = Map.copyOf(options);
        }
    }

    public record ProblemSpec(String operator, double sigma, double mu, int blurSize, double blurSigma,
                              double inpaintMissing) {
        public ProblemSpec {
            if (!(sigma >= 0) || !Double.isFinite(sigma)) {
                throw new IllegalArgumentException("problem.sigma must be a finite number ≥ 0, got " + sigma);
            }
            if (!(mu >= 0) || !Double.isFinite(mu)) {
                throw new IllegalArgumentException("problem.mu must be a finite number ≥ 0, got " + mu);
            }
        }
    }

    /**
     * @param train      "embedded" or a folder of images
     * @param validation "embedded" or a folder of images
     */
    public record DataSpec(String train, String validation, int embeddedTrainImages, int embeddedValidationImages,
                           int embeddedSize, int crop, int cropsPerImage, int maxTrainImages,
                           int maxValidationImages) {
        public DataSpec {
            if (crop < 8) {
                throw new IllegalArgumentException("data.crop must be ≥ 8, got " + crop);
            }
            if (cropsPerImage < 1) {
                throw new IllegalArgumentException("data.crops-per-image must be ≥ 1, got " + cropsPerImage);
            }
        }
    }

    /** MAID's parameters (see {@code bilevel.numerics.upper}). */
    public record MaidSpec(double eta, double rho, double c, double nuDec, double nuInc, double stepGrowth,
                           int maxBacktracks, double alpha0, double eps0) {
    }

    /**
     * @param method      "isgd", "adam" or "maid"
     * @param budget      total computations (lower-level + CG iterations over samples); 0 = unlimited
     * @param maxSteps    upper-level steps; 0 = unlimited
     * @param step        step-size schedule spec, e.g. "poly:0.01:0.5"
     * @param accuracy    lower-level accuracy schedule spec
     * @param cgTolerance "tied:c" or a schedule spec
     * @param errorBound  "certified" (default) or "estimated": how the hypergradient error bounds are
     *                    evaluated (see {@link bilevel.numerics.hypergradient.ErrorBoundMode}); null means certified
     */
    public record TrainSpec(String method, int batch, long budget, long maxSteps, String step, String accuracy,
                            String cgTolerance, int maxLowerIterations, int maxCgIterations, int validateEvery,
                            double validationAccuracy, MaidSpec maid, String errorBound) {

        /** With certified error bounds. */
        public TrainSpec(String method, int batch, long budget, long maxSteps, String step, String accuracy,
                         String cgTolerance, int maxLowerIterations, int maxCgIterations, int validateEvery,
                         double validationAccuracy, MaidSpec maid) {
            this(method, batch, budget, maxSteps, step, accuracy, cgTolerance, maxLowerIterations, maxCgIterations,
                    validateEvery, validationAccuracy, maid, "certified");
        }

        public TrainSpec {
            errorBound = errorBound == null ? "certified" : errorBound;
            bilevel.numerics.hypergradient.ErrorBoundMode.parse(errorBound);   // IllegalArgumentException if unknown
            if (batch < 1) {
                throw new IllegalArgumentException("train.batch must be ≥ 1, got " + batch);
            }
            if (budget <= 0 && maxSteps <= 0) {
                throw new IllegalArgumentException("set train.budget or train.max-steps (both are 0: the run would never stop)");
            }
        }

        /** {@link #errorBound()} as a mode. */
        public bilevel.numerics.hypergradient.ErrorBoundMode errorBoundMode() {
            return bilevel.numerics.hypergradient.ErrorBoundMode.parse(errorBound);
        }
    }
}
