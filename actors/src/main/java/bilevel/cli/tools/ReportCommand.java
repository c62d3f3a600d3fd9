package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.regularizers.LearnedStructure;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.MetricsLog;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.util.AtomicFiles;
import bilevel.numerics.util.Version;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code bilevel report}: one self-contained HTML file about a run — configuration, training curves, the
 * learned regularizer, validation reconstructions regenerated from the model and the run's configuration,
 * and a timing and cost summary. Every picture is embedded as a base64 {@code data:} URI.
 */
@Command(name = "report",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Write one self-contained HTML report of a run (DIR/report.html): its configuration, the training "
                        + "charts, the learned filters (or profiles, or the parameters θ), validation reconstructions "
                        + "beside the noisy and clean images, and the timing and cost. Pictures are embedded, so the file "
                        + "can be mailed or archived alone.",
                "The reconstructions are regenerated from the model and the run's data and seed: validation image i is "
                        + "measured with noise seed Seeds.derive(seed, 202, i), exactly as during training.",
        })
public final class ReportCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "DIR", description = "Run folder (output of 'bilevel train').")
    Path dir;

    @Option(names = "--out", paramLabel = "FILE", description = "The HTML file (default: DIR/report.html).")
    Path out;

    @Option(names = "--model", paramLabel = "FILE", description = "Model file (default: DIR/model.json).")
    Path modelFile;

    @Option(names = "--images", paramLabel = "N", defaultValue = "3",
            description = "Validation reconstructions to show (default: ${DEFAULT-VALUE}; 0 = none).")
    int images;

    @Mixin
    SolverOptions solverOptions;

    @Option(names = "--quiet", description = "Print nothing but errors.")
    boolean quiet;

    /** One regenerated validation reconstruction. */
    record Shown(String name, byte[] clean, byte[] noisy, byte[] reconstruction, int width, Evaluator.Outcome outcome) {
    }

    @Override
    public Integer call() {
        return ToolSupport.run(this::report);
    }

    private Integer report() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!Files.isDirectory(dir)) {
            throw new UsageException("run folder not found: " + dir);
        }
        if (images < 0) {
            throw new UsageException("--images must be ≥ 0, got " + images);
        }
        Path target = out != null ? out : dir.resolve("report.html");
        ToolSupport.checkWritableFile(target, "--out");
        Evaluator.Settings settings = solverOptions.settings();
        List<String> notes = new ArrayList<>();

        Path metricsFile = dir.resolve("metrics.jsonl");
        MetricsLog metrics = Files.isRegularFile(metricsFile) ? MetricsLog.read(metricsFile) : null;
        if (metrics != null && metrics.tornLastLine()) {
            notes.add("an incomplete last line of metrics.jsonl was skipped (run in progress or interrupted)");
        }
        Path mf = modelFile != null ? modelFile : dir.resolve("model.json");
        if (modelFile != null && !Files.exists(modelFile)) {
            throw new UsageException("model file not found: " + modelFile);
        }
        LoadedModel model = Files.exists(mf) ? LoadedModel.read(mf) : null;
        if (metrics == null && model == null) {
            throw new UsageException(dir + " has neither metrics.jsonl nor model.json (is it the output folder of 'bilevel train'?)");
        }
        if (model == null) {
            notes.add("no model.json (run in progress or interrupted): the learned regularizer and reconstructions are left out");
        }
        if (metrics == null) {
            notes.add("no metrics.jsonl: the training charts are left out");
        } else if (metrics.isEmpty()) {
            notes.add("metrics.jsonl has no complete step yet: the training charts are left out");
        }
        Path configFile = dir.resolve("config.conf");
        String configText = Files.isRegularFile(configFile) ? Files.readString(configFile, StandardCharsets.UTF_8) : null;
        TrainingSpec run = model != null && model.model().config() != null ? model.model().config() : null;
        if (run == null && configText != null) {
            try {
                run = ExperimentConfig.toSpec(ExperimentConfig.load(configFile, Map.of()));
            } catch (ExperimentConfig.ConfigError e) {
                notes.add("config.conf could not be read (" + e.getMessage() + ")");
            }
        }

        List<Charts.Rendered> charts = metrics == null || metrics.isEmpty() ? List.of() : Charts.fromMetrics(metrics, notes);
        List<Shown> shown = new ArrayList<>();
        String reconstructionRule = null;
        if (model != null && images > 0) {
            if (run == null) {
                notes.add("no training configuration (model.json has none and there is no config.conf): the validation "
                        + "reconstructions are left out");
            } else {
                reconstructionRule = reconstruct(model, run, settings, shown, notes, err);
            }
        }
        String html = new ReportHtml(dir, model, run, metrics, configText, charts, shown, reconstructionRule, settings,
                notes, rawModelJson(mf)).render();
        AtomicFiles.write(target, html.getBytes(StandardCharsets.UTF_8));
        if (!quiet) {
            stdout.printf(Locale.ROOT, "report: %s (%d chart%s, %d reconstruction%s, %d kB)%n", target, charts.size(),
                    charts.size() == 1 ? "" : "s", shown.size(), shown.size() == 1 ? "" : "s", html.length() / 1024);
            for (String n : notes) {
                stdout.println("note: " + n);
            }
            stdout.flush();
        }
        return 0;
    }

    /** Regenerates the first validation reconstructions; returns the stated measurement rule. */
    private String reconstruct(LoadedModel model, TrainingSpec run, Evaluator.Settings settings, List<Shown> shown,
                               List<String> notes, PrintWriter err) {
        TrainingData data;
        try {
            data = TrainingData.load(run.data(), run.seed(), DataType.DOUBLE);
        } catch (TrainingException e) {
            notes.add("the run's data could not be loaded (" + e.getMessage() + "): the validation reconstructions are left out");
            return null;
        }
        try (data) {
            if (model.model().dataFingerprint() != null && !model.model().dataFingerprint().equals(data.fingerprint())) {
                notes.add("the run's data have changed since training (fingerprint " + data.fingerprint() + ", the model "
                        + "says " + model.model().dataFingerprint() + ")");
            }
            TrainingSpec.ProblemSpec problem = model.problem();
            Evaluator evaluator = new Evaluator(problem, settings);
            int n = Math.min(images, data.validation().size());
            Progress progress = new Progress(err, quiet, n);
            try (Regularizer.Instance inst = model.family().bind(model.theta(), settings.dataType())) {
                for (int i = 0; i < n; i++) {
                    INDArray clean = data.validation().get(i);
                    long noiseSeed = Evaluator.noiseSeed(run.seed(), i);
                    try (INDArray y = Nd4j.create(DataType.DOUBLE, clean.shape());
                         INDArray x = Nd4j.create(DataType.DOUBLE, clean.shape())) {
                        Evaluator.Outcome o = Solves.guard(() -> evaluator.evaluate(inst, clean, noiseSeed, y, x));
                        Solves.requireFinite(o, data.validationNames().get(i), "model");
                        int w = (int) clean.size(1);
                        shown.add(new Shown(data.validationNames().get(i), Pictures.png(Pictures.gray(clean)),
                                Pictures.png(Pictures.gray(y)), Pictures.png(Pictures.gray(x)), w, o));
                        progress.step(ToolSupport.f("validation image %s: PSNR %.2f dB", data.validationNames().get(i), o.psnr()));
                    }
                }
            }
            progress.finish();
            return "measurements regenerated from the run's data and seed " + run.seed() + " (" + ProblemOptions.describe(problem)
                    + "): validation image i has noise seed Seeds.derive(" + run.seed() + ", " + Evaluator.TAG_NOISE
                    + ", i), as in training; reconstructed by " + SolverOptions.describe(settings,
                    Evaluator.lowerLevelSolver(model.family()));
        }
    }

    /** The model file as pretty JSON with a long θ abbreviated, or null. */
    private static String rawModelJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            JsonNode node = json.readTree(file.toFile());
            if (node instanceof ObjectNode o && o.has("theta") && o.get("theta").size() > 16) {
                o.put("theta", "[" + o.get("theta").size() + " numbers, see the parameter table]");
            }
            return json.writeValueAsString(node);
        } catch (IOException e) {
            return null;
        }
    }

    static String generatedAt() {
        return ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss z", Locale.ROOT))
                + ", bilevel " + Version.get();
    }

    static List<double[][]> filters(Regularizer family, double[] theta) {
        return family instanceof LearnedStructure s ? s.filters(theta) : List.of();
    }

    static List<LearnedStructure.Profile> profiles(Regularizer family, double[] theta) {
        return family instanceof LearnedStructure s ? s.profiles(theta) : List.of();
    }
}
