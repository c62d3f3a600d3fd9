package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.eval.ImageFolder;
import bilevel.numerics.eval.TvBaseline;
import bilevel.numerics.image.Images;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.TrainingSpec;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code bilevel eval}: reconstructs every clean image of a folder from a simulated measurement with a
 * learned model (and/or the tuned TV baseline) and reports PSNR and SSIM per image and on average.
 */
@Command(name = "eval",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Evaluate a model on a folder of clean images: each image is measured (operator + Gaussian noise, "
                        + "seeded per image from --seed and its index), reconstructed by solving the lower level to a "
                        + "certified accuracy, and compared with the clean image (PSNR, SSIM).",
                "With --baseline tv --validation DIR, also (or, without --model, only) evaluates total variation with "
                        + "its weight tuned on the validation images, to show the gain of the model.",
                "Images: png, jpg, jpeg, tif, tiff in name order; colour images are converted to gray by luma, "
                        + "16-bit samples scaled to [0, 1] (stated in the output).",
        })
public final class EvalCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "FILE", description = "Model file (model.json of a run).")
    Path model;

    @Option(names = "--images", paramLabel = "DIR", required = true, description = "Folder of clean test images.")
    Path images;

    @Mixin
    ProblemOptions problemOptions;

    @Option(names = "--missing", paramLabel = "FRACTION",
            description = "Inpainting: fraction of pixels removed by the random mask (default: the model's, else 0.3).")
    Double missing;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1",
            description = "Noise seed: image i (in name order) gets noise seed Seeds.derive(S, 202, i), as a run's "
                    + "validation image i (default: ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    SolverOptions solverOptions;

    @Option(names = "--baseline", paramLabel = "tv", description = "Also evaluate this hand-tuned baseline (only 'tv').")
    String baseline;

    @Option(names = "--validation", paramLabel = "DIR", description = "Clean images on which the baseline's weight is tuned.")
    Path validation;

    @Option(names = "--save", paramLabel = "DIR",
            description = "Save each reconstruction as DIR/<name>.png (the baseline's as <name>.tv-baseline.png) and the "
                    + "measurement as <name>.input.png (8-bit, clipped to [0, 1]).")
    Path save;

    @Option(names = "--csv", paramLabel = "FILE", description = "Write the table as CSV (one row per image and method, then the means).")
    Path csv;

    @Option(names = "--json", description = "Print one JSON document instead of the table.")
    boolean json;

    @Option(names = "--quiet", description = "No progress on stderr.")
    boolean quiet;

    /** One evaluated image. */
    record ImageRow(String name, long height, long width, long noiseSeed, double inputPsnr, double inputSsim,
                    String conversion) {
    }

    /** A method's result on one image. */
    record MethodRow(double psnr, double ssim, double psnrDeviation, int iterations, double distanceBound,
                     boolean certified, boolean converged, double seconds) {
    }

    /** A method: the model or the baseline. */
    record Method(String name, String description, Regularizer family, double[] theta, String fileSuffix,
                  List<MethodRow> rows) {
    }

    @Override
    public Integer call() {
        return ToolSupport.run(this::evaluate);
    }

    private Integer evaluate() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (model == null && baseline == null) {
            throw new UsageException("give --model FILE, or --baseline tv --validation DIR (or both)");
        }
        if (baseline != null && !baseline.equals("tv")) {
            throw new UsageException("unknown --baseline '" + baseline + "' (only 'tv')");
        }
        if (baseline != null && validation == null) {
            throw new UsageException("--baseline tv needs --validation DIR (clean images to tune the TV weight on)");
        }
        if (baseline == null && validation != null) {
            throw new UsageException("--validation is only used with --baseline tv");
        }
        List<String> notes = new ArrayList<>();
        LoadedModel loaded = model == null ? null : LoadedModel.read(model);
        TrainingSpec.ProblemSpec base = loaded != null ? loaded.problem() : ToolSupport.defaultProblem();
        TrainingSpec.ProblemSpec problem = problemOptions.resolve(base, missing, notes, loaded == null ? null : "model");
        Evaluator.Settings settings = solverOptions.settings();
        if (csv != null) {
            ToolSupport.checkWritableFile(csv, "--csv");
        }
        if (save != null) {
            if (Files.exists(save) && !Files.isDirectory(save)) {
                throw new UsageException("--save " + save + " exists and is not a folder");
            }
            if (Files.isDirectory(images) && Files.isDirectory(save) && Files.isSameFile(save, images)) {
                throw new UsageException("--save must not be the --images folder (it would overwrite the clean images)");
            }
        }

        List<ImageFolder.Entry> test = new ArrayList<>();
        List<ImageFolder.Entry> val = new ArrayList<>();
        try (OutputFiles outputs = new OutputFiles()) {
            test.addAll(ImageFolder.load(images, "images"));
            if (validation != null) {
                val.addAll(ImageFolder.load(validation, "validation"));
            }
            Evaluator evaluator = new Evaluator(problem, settings);
            List<Method> methods = new ArrayList<>();
            if (loaded != null) {
                methods.add(new Method("model", loaded.describe() + " from " + model, loaded.family(), loaded.theta(), "",
                        new ArrayList<>()));
            }
            Progress progress = new Progress(err, quiet, test.size() * (methods.size() + (baseline != null ? 1 : 0)));
            TvBaseline.Tuning tuning = null;
            if (baseline != null) {
                progress.addToTotal(TvBaseline.GRID_POINTS + TvBaseline.GOLDEN_STEPS + 1);
                List<INDArray> clean = val.stream().map(ImageFolder.Entry::image).toList();
                tuning = Solves.guard(() -> TvBaseline.tune(evaluator, clean, seed,
                        t -> progress.step(ToolSupport.f("tuning TV: λ = %.4g, mean validation PSNR %.2f dB", t.lambda(), t.meanPsnr()))));
                methods.add(new Method("tv-baseline", ToolSupport.f("TV, λ = %.4g, γ = %s (%s)", tuning.lambda(),
                        ToolSupport.num(tuning.gamma()), tuning.method()), TvBaseline.regularizer(), tuning.theta(),
                        ".tv-baseline", new ArrayList<>()));
            }

            Map<String, String> stems = stems(test);
            List<ImageRow> rows = new ArrayList<>();
            for (int i = 0; i < test.size(); i++) {
                ImageFolder.Entry e = test.get(i);
                INDArray clean = e.image();
                long noiseSeed = Evaluator.noiseSeed(seed, i);
                ImageRow row = null;
                for (Method m : methods) {
                    try (Regularizer.Instance inst = m.family().bind(m.theta(), settings.dataType());
                         INDArray y = Nd4j.create(clean.dataType(), clean.shape());
                         INDArray x = Nd4j.create(clean.dataType(), clean.shape())) {
                        Evaluator.Outcome o = Solves.guard(() -> evaluator.evaluate(inst, clean, noiseSeed, y, x));
                        Solves.requireFinite(o, e.name(), m.name());
                        if (row == null) {
                            row = new ImageRow(e.name(), clean.size(0), clean.size(1), noiseSeed, o.inputPsnr(), o.inputSsim(),
                                    e.conversion());
                            if (save != null) {
                                Images.write(outputs.stage(save.resolve(stems.get(e.name()) + ".input.png")), y);
                            }
                        }
                        Evaluator.Solve s = o.solve();
                        m.rows().add(new MethodRow(o.psnr(), o.ssim(), o.psnrDeviation(), s.iterations(), s.distanceBound(),
                                s.certified(), s.converged(), s.seconds()));
                        if (save != null) {
                            Images.write(outputs.stage(save.resolve(stems.get(e.name()) + m.fileSuffix() + ".png")), x);
                        }
                        progress.step(ToolSupport.f("%s %s: PSNR %.2f dB, SSIM %.4f (%d iterations, %.2f s)", e.name(), m.name(),
                                o.psnr(), o.ssim(), s.iterations(), s.seconds()));
                    }
                }
                rows.add(row);
            }
            progress.finish();

            EvalReport report = new EvalReport(loaded, model, images, problem, settings, seed, rows, methods, tuning, notes);
            if (csv != null) {
                outputs.put(csv, report.csv().getBytes(StandardCharsets.UTF_8));
            }
            List<Path> written = outputs.commit();
            if (json) {
                ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
                out.println(mapper.writeValueAsString(report.json()));
            } else {
                out.print(report.table());
                if (save != null) {
                    out.println("saved " + (written.size() - (csv != null ? 1 : 0)) + " PNG files in " + save);
                }
                if (csv != null) {
                    out.println("csv: " + csv);
                }
            }
            out.flush();
            return 0;
        } finally {
            test.forEach(e -> e.image().close());
            val.forEach(e -> e.image().close());
        }
    }

    /** Output name stems: the file name without extension, or with "_ext" when two images share a stem. */
    private static Map<String, String> stems(List<ImageFolder.Entry> entries) {
        Map<String, Integer> count = new LinkedHashMap<>();
        for (ImageFolder.Entry e : entries) {
            count.merge(ToolSupport.stem(e.name()), 1, Integer::sum);
        }
        Map<String, String> out = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        for (ImageFolder.Entry e : entries) {
            String stem = ToolSupport.stem(e.name());
            String s = count.get(stem) > 1 ? e.name().replace('.', '_') : stem;
            while (!used.add(s)) {
                s = s + "_";
            }
            out.put(e.name(), s);
        }
        return out;
    }

    /** The stated noise rule, e.g. "Seeds.derive(1, 202, i)". */
    static String noiseRule(long seed) {
        return "noise seed of image i = Seeds.derive(" + seed + ", " + Evaluator.TAG_NOISE + ", i) (SplitMix64; "
                + "images in name order from i = 0; inpainting masks from Seeds.derive(noise seed, 201))";
    }
}
