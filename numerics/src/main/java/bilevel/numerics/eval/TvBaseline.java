package bilevel.numerics.eval;

import bilevel.numerics.data.Seeds;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The hand-tuned total-variation baseline: smoothed TV (θ = (log λ, log γ), {@link TotalVariation}) with
 * γ fixed at {@value #GAMMA} and the weight λ chosen to maximise the mean PSNR on a validation set.
 *
 * <p><b>Search.</b> t = log λ on [log {@value #LAMBDA_MIN}, log {@value #LAMBDA_MAX}] by
 * {@link LineSearch1d}: a grid of {@value #GRID_POINTS} log-spaced values (half a decade apart), then
 * {@value #GOLDEN_STEPS} golden-section steps on the bracket around the best grid value (final interval
 * 0.5·2·φ^{−10} ≈ 0.008 decades, i.e. λ to within 2 %, if the mean PSNR is unimodal in log λ there). The
 * returned λ is the best of all evaluations.
 *
 * <p><b>Validation measurements.</b> Validation image i is measured with noise seed
 * Seeds.derive(seed, {@value #TAG_TUNING_NOISE}, i) — a stream separate from the evaluation's
 * ({@link Evaluator#TAG_NOISE}), so the tuning never sees the noise of the images it is compared on.
 * Each image's measurement is drawn once and reused for every λ; each solve is warm-started from the
 * image's previous reconstruction (this changes iteration counts, not the certified accuracy).
 */
public final class TvBaseline {

    /** Fixed smoothing parameter γ of the baseline (TV's default). */
    public static final double GAMMA = TotalVariation.INITIAL_GAMMA;
    public static final double LAMBDA_MIN = 1e-3;
    public static final double LAMBDA_MAX = 1.0;
    public static final int GRID_POINTS = 7;
    public static final int GOLDEN_STEPS = 10;
    /** Seed stream tag of the validation noise used for tuning. */
    public static final long TAG_TUNING_NOISE = 203;

    /** One tried λ with the mean validation PSNR it gave. */
    public record Trial(double lambda, double meanPsnr, long iterations, boolean allCertified) {
    }

    /**
     * @param lambda          the chosen λ
     * @param gamma           the fixed γ
     * @param meanPsnr        mean validation PSNR at λ (dB)
     * @param validationImages number of validation images
     * @param trials          every λ tried, in order
     */
    public record Tuning(double lambda, double gamma, double meanPsnr, int validationImages, List<Trial> trials) {
        public Tuning {
            trials = List.copyOf(trials);
        }

        /** θ = (log λ, log γ) of the tuned TV. */
        public double[] theta() {
            return new double[]{Math.log(lambda), Math.log(gamma)};
        }

        /** A one-line statement of how λ was chosen. */
        public String method() {
            return String.format(Locale.ROOT, "TV weight λ tuned on %d validation image(s): grid of %d log-spaced λ in "
                            + "[%s, %s], then %d golden-section steps on log λ (%d solves of each image); γ = %s fixed",
                    validationImages, GRID_POINTS, compact(LAMBDA_MIN), compact(LAMBDA_MAX), GOLDEN_STEPS, trials.size(),
                    compact(gamma));
        }
    }

    private TvBaseline() {
    }

    private static String compact(double v) {
        return java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }

    /** The TV family of the baseline. */
    public static Regularizer regularizer() {
        return new TotalVariation();
    }

    /**
     * Tunes λ on {@code validation} (clean [H, W] images, not modified) with the evaluator's problem and
     * accuracy.
     *
     * @param seed     seed of the validation noise (see the class comment)
     * @param progress receives each trial as it completes (may be null)
     */
    public static Tuning tune(Evaluator evaluator, List<INDArray> validation, long seed, Consumer<Trial> progress) {
        if (validation.isEmpty()) {
            throw new IllegalArgumentException("the TV baseline needs at least one validation image");
        }
        Regularizer tv = regularizer();
        List<Evaluator.Measurement> measurements = new ArrayList<>();
        List<INDArray> iterates = new ArrayList<>();
        List<Trial> trials = new ArrayList<>();
        try {
            for (int i = 0; i < validation.size(); i++) {
                INDArray clean = validation.get(i);
                Evaluator.Measurement m = evaluator.measure(clean, Seeds.derive(seed, TAG_TUNING_NOISE, i));
                measurements.add(m);
                iterates.add(evaluator.adjointStart(m.operator(), m.y(), clean.shape()));
            }
            LineSearch1d.Result r = LineSearch1d.maximize(t -> {
                double lambda = Math.exp(t);
                double sum = 0;
                long iterations = 0;
                boolean certified = true;
                try (Regularizer.Instance inst = tv.bind(new double[]{t, Math.log(GAMMA)}, evaluator.settings().dataType())) {
                    for (int i = 0; i < validation.size(); i++) {
                        Evaluator.Measurement m = measurements.get(i);
                        INDArray x = iterates.get(i);
                        Evaluator.Solve s = evaluator.solve(inst, m.operator(), m.y(), x);
                        iterations += s.iterations();
                        certified &= s.certified() && s.converged();
                        sum += bilevel.numerics.image.Metrics.psnr(x, validation.get(i));
                    }
                }
                Trial trial = new Trial(lambda, sum / validation.size(), iterations, certified);
                trials.add(trial);
                if (progress != null) {
                    progress.accept(trial);
                }
                return trial.meanPsnr();
            }, Math.log(LAMBDA_MIN), Math.log(LAMBDA_MAX), GRID_POINTS, GOLDEN_STEPS);
            return new Tuning(Math.exp(r.best().t()), GAMMA, r.best().value(), validation.size(), trials);
        } finally {
            measurements.forEach(Evaluator.Measurement::close);
            iterates.forEach(INDArray::close);
        }
    }
}
