package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.train.TrainingSpec;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Objects;

/**
 * The reconstruction problem of a tool, as options over a base (the model's training problem, or the
 * defaults of {@code config/reference.conf}): operator, σ, μ, blur and inpainting parameters.
 */
public final class ProblemOptions {

    @Option(names = "--operator", paramLabel = "denoise|blur|inpaint",
            description = "Forward operator (default: the one the model was trained for; without a model: denoise).")
    String operator;

    @Option(names = "--sigma", paramLabel = "S", description = "Noise standard deviation on the 0–255 scale (default: the model's).")
    Double sigma;

    @Option(names = "--mu", paramLabel = "MU", description = "Extra strong convexity μ of the lower level (default: the model's).")
    Double mu;

    @Option(names = "--blur-size", paramLabel = "N", description = "Gaussian blur: odd PSF size (default: the model's, else 5).")
    Integer blurSize;

    @Option(names = "--blur-sigma", paramLabel = "S", description = "Gaussian blur: PSF width in pixels (default: the model's, else 1.0).")
    Double blurSigma;

    /** Whether any option was given. */
    boolean anySet() {
        return operator != null || sigma != null || mu != null || blurSize != null || blurSigma != null;
    }

    /**
     * The base problem with the given options applied; checks the values. Differences from the model's
     * problem are appended to {@code notes} (when {@code baseName} names a model).
     */
    TrainingSpec.ProblemSpec resolve(TrainingSpec.ProblemSpec base, Double missing, List<String> notes, String baseName) {
        String op = operator != null ? operator : base.operator();
        if (!Evaluator.OPERATORS.contains(op)) {
            throw new UsageException("unknown operator '" + op + "' (use " + String.join(", ", Evaluator.OPERATORS) + ")");
        }
        double s = sigma != null ? sigma : base.sigma();
        if (!(s >= 0) || !Double.isFinite(s)) {
            throw new UsageException("--sigma must be a finite number ≥ 0, got " + s);
        }
        double m = mu != null ? mu : base.mu();
        if (!(m >= 0) || !Double.isFinite(m)) {
            throw new UsageException("--mu must be a finite number ≥ 0, got " + m);
        }
        TrainingSpec.ProblemSpec defaults = ToolSupport.defaultProblem();
        boolean sameOperator = op.equals(base.operator());
        int size = blurSize != null ? blurSize : (sameOperator ? base.blurSize() : defaults.blurSize());
        double width = blurSigma != null ? blurSigma : (sameOperator ? base.blurSigma() : defaults.blurSigma());
        double miss = missing != null ? missing : (sameOperator ? base.inpaintMissing() : defaults.inpaintMissing());
        if (op.equals("blur")) {
            if (size < 1 || size % 2 == 0) {
                throw new UsageException("--blur-size must be odd and positive, got " + size);
            }
            if (!(width > 0) || !Double.isFinite(width)) {
                throw new UsageException("--blur-sigma must be positive, got " + width);
            }
        }
        if (op.equals("inpaint") && !(miss >= 0 && miss < 1)) {
            throw new UsageException("--missing must be a fraction in [0, 1), got " + miss);
        }
        TrainingSpec.ProblemSpec p = new TrainingSpec.ProblemSpec(op, s, m, size, width, miss);
        if (baseName != null) {
            if (!sameOperator) {
                notes.add("the model was trained for operator '" + base.operator() + "'; evaluating with '" + op + "'");
            }
            if (s != base.sigma()) {
                notes.add("the model was trained for σ = " + ToolSupport.num(base.sigma()) + "; using σ = " + ToolSupport.num(s));
            }
            if (m != base.mu()) {
                notes.add("the model was trained with μ = " + ToolSupport.num(base.mu()) + "; using μ = " + ToolSupport.num(m));
            }
            if (sameOperator && op.equals("blur") && (size != base.blurSize() || width != base.blurSigma())) {
                notes.add("the model was trained for a " + base.blurSize() + "×" + base.blurSize() + " blur of width "
                        + ToolSupport.num(base.blurSigma()) + "; using " + size + "×" + size + ", width " + ToolSupport.num(width));
            }
        }
        return p;
    }

    /** A one-line description of a problem, e.g. "denoise, σ = 25, μ = 0.0001". */
    static String describe(TrainingSpec.ProblemSpec p) {
        Objects.requireNonNull(p);
        String extra = switch (p.operator()) {
            case "blur" -> ", Gaussian PSF " + p.blurSize() + "×" + p.blurSize() + " of width " + ToolSupport.num(p.blurSigma());
            case "inpaint" -> ", " + ToolSupport.num(100 * p.inpaintMissing()) + " % of pixels missing";
            default -> "";
        };
        return p.operator() + extra + ", σ = " + ToolSupport.num(p.sigma()) + ", μ = " + ToolSupport.num(p.mu());
    }
}
