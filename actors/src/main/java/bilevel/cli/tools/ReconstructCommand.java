package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.eval.ImageFolder;
import bilevel.numerics.image.Images;
import bilevel.numerics.operators.Blur;
import bilevel.numerics.operators.Identity;
import bilevel.numerics.operators.Inpainting;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.TrainingSpec;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code bilevel reconstruct}: applies a model to a user's own measured image (noisy, blurred and noisy,
 * or with missing pixels given by a mask) and writes the reconstruction.
 */
@Command(name = "reconstruct",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Reconstruct your own measured image with a model: x = argmin ½‖Ax − y‖² + R_θ(x) + (μ/2)‖x‖², solved to a "
                        + "certified accuracy, where y is the input image and A the operator (default: the one the model "
                        + "was trained for).",
                "denoise: y is the noisy image. blur: y is blurred (Gaussian PSF of --blur-size/--blur-sigma, default the "
                        + "model's) and noisy. inpaint: --mask IMG is required, the same size as the input, white (1) where "
                        + "a pixel was observed and black (0) where it is missing (use PNG: only exact 0 and 1 are accepted); "
                        + "the input's values at missing pixels are ignored.",
                "The output format follows --out's extension: .png (8-bit, clipped to [0, 1]), .jpg, or .tif "
                        + "(32-bit float, not clipped).",
        })
public final class ReconstructCommand implements Callable<Integer> {

    private static final Set<String> OUTPUT_EXTENSIONS = Set.of("png", "jpg", "jpeg", "tif", "tiff");

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", required = true, description = "Model file (model.json of a run).")
    Path model;

    @Option(names = "--in", paramLabel = "IMG", required = true, description = "The measured image (png, jpg, tif).")
    Path in;

    @Option(names = "--out", paramLabel = "IMG", required = true, description = "Where to write the reconstruction.")
    Path out;

    @Option(names = "--mask", paramLabel = "IMG",
            description = "Inpainting only (required there): white (1) = observed pixel, black (0) = missing.")
    Path mask;

    @Mixin
    ProblemOptions problemOptions;

    @Mixin
    SolverOptions solverOptions;

    @Option(names = "--quiet", description = "Print nothing but errors.")
    boolean quiet;

    @Override
    public Integer call() {
        return ToolSupport.run(this::reconstruct);
    }

    private Integer reconstruct() {
        PrintWriter stdout = spec.commandLine().getOut();
        LoadedModel loaded = LoadedModel.read(model);
        TrainingSpec.ProblemSpec trained = loaded.problem();
        List<String> notes = new ArrayList<>();
        Double sigmaGiven = problemOptions.sigma;
        problemOptions.sigma = null;   // σ does not enter the reconstruction; it is only compared with the model's
        TrainingSpec.ProblemSpec problem = problemOptions.resolve(trained, null, notes, "model");
        if (sigmaGiven != null) {
            if (!(sigmaGiven >= 0) || !Double.isFinite(sigmaGiven)) {
                throw new UsageException("--sigma must be a finite number ≥ 0, got " + sigmaGiven);
            }
            if (sigmaGiven != trained.sigma()) {
                notes.add("your noise level σ = " + ToolSupport.num(sigmaGiven) + " differs from the model's training σ = "
                        + ToolSupport.num(trained.sigma()) + "; σ does not enter the reconstruction, but the model's "
                        + "weights suit σ = " + ToolSupport.num(trained.sigma()) + " best");
            }
        }
        Evaluator.Settings settings = solverOptions.settings();
        if (!OUTPUT_EXTENSIONS.contains(ToolSupport.extension(out))) {
            throw new UsageException("--out " + out + ": unsupported extension (use .png, .jpg, .jpeg, .tif or .tiff)");
        }
        ToolSupport.checkWritableFile(out, "--out");
        if (mask != null && !problem.operator().equals("inpaint")) {
            throw new UsageException("--mask is only used for inpainting (the operator is '" + problem.operator() + "')");
        }
        if (problem.operator().equals("inpaint") && mask == null) {
            throw new UsageException("inpainting needs --mask IMG: an image of the input's size, white (1) where a pixel "
                    + "was observed and black (0) where it is missing");
        }

        INDArray input = Images.read(in, settings.dataType());
        String conversion = ImageFolder.conversion(in);
        if (!conversion.isEmpty()) {
            notes.add(in.getFileName() + ": " + conversion);
        }
        LinearOperator a;
        switch (problem.operator()) {
            case "denoise" -> a = new Identity();
            case "blur" -> a = Blur.gaussian(problem.blurSize(), problem.blurSigma());
            default -> a = new Inpainting(readMask(input));
        }
        Evaluator evaluator = new Evaluator(problem, settings);
        try (INDArray y = input;
             INDArray measured = Nd4j.create(settings.dataType(), a.rangeShape(y.shape()));
             Regularizer.Instance inst = loaded.family().bind(loaded.theta(), settings.dataType())) {
            if (problem.operator().equals("inpaint")) {
                a.apply(y, measured);              // y = m ⊙ input: the values at missing pixels are ignored
            } else {
                measured.assign(y);
            }
            try (INDArray x = evaluator.adjointStart(a, measured, y.shape())) {
                solveAndWrite(evaluator, inst, a, y, measured, x, loaded, problem, settings, notes, stdout);
            }
        }
        return 0;
    }

    private void solveAndWrite(Evaluator evaluator, Regularizer.Instance inst, LinearOperator a, INDArray y,
                               INDArray measured, INDArray x, LoadedModel loaded, TrainingSpec.ProblemSpec problem,
                               Evaluator.Settings settings, List<String> notes, PrintWriter stdout) {
        Evaluator.Solve s = Solves.guard(() -> evaluator.solve(inst, a, measured, x));
        Solves.requireFinite(s, in.toString());
        if (ToolSupport.extension(out).equals("png") || ToolSupport.extension(out).startsWith("jp")) {
            double min = x.minNumber().doubleValue();
            double max = x.maxNumber().doubleValue();
            if (min < 0 || max > 1) {
                notes.add(String.format(Locale.ROOT, "the reconstruction has values in [%.3g, %.3g]; the 8-bit output "
                        + "clips them to [0, 1] (use .tif to keep them)", min, max));
            }
        }
        Images.write(out, x);
        if (!s.converged()) {
            notes.add("iteration cap reached before the requested accuracy (--max-iterations " + settings.maxIterations() + ")");
        }
        if (!quiet) {
            long n = x.length();
            stdout.printf(Locale.ROOT, "reconstructed %s (%dx%d) with %s by %s, %s: %d iterations, %.2f s, "
                            + "‖x − x̂‖ ≤ %.3g (RMS %.3g%s)%n", in, y.size(0), y.size(1), loaded.describe(),
                    Evaluator.lowerLevelSolver(loaded.family()),
                    ProblemOptions.describe(problem).replaceFirst(", σ = [^,]*", ""), s.iterations(), s.seconds(),
                    s.distanceBound(), s.distanceBound() / Math.sqrt(n), s.certified() ? ", certified" : ", not certified");
            for (String note : notes) {
                stdout.println("note: " + note);
            }
            stdout.println("wrote " + out);
            stdout.flush();
        }
    }

    /** The mask image, checked: same size as the input, values exactly 0 or 1. */
    private INDArray readMask(INDArray input) {
        INDArray m = Images.read(mask, DataType.DOUBLE);
        if (m.size(0) != input.size(0) || m.size(1) != input.size(1)) {
            throw new UsageException("mask " + mask + " is " + m.size(0) + "x" + m.size(1) + " but the input " + in + " is "
                    + input.size(0) + "x" + input.size(1));
        }
        double[] v = m.dup('c').data().asDouble();
        for (int i = 0; i < v.length; i++) {
            if (v[i] != 0.0 && v[i] != 1.0) {
                throw new UsageException(String.format(Locale.ROOT, "mask %s must be black (0 = missing) and white "
                        + "(1 = observed) only; found %.4g at (row %d, column %d)", mask, v[i], i / m.size(1), i % m.size(1)));
            }
        }
        return m;
    }
}
