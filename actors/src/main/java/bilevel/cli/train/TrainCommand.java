package bilevel.cli.train;

import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.StepMetrics;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.typesafe.config.Config;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code bilevel train}: trains a regularizer with the synchronous reference trainer on the experiment
 * given by {@code --config} (HOCON, over {@code reference.conf}) or on the embedded default.
 * Writes {@code config.conf}, {@code metrics.jsonl} and {@code model.json} into the output folder.
 */
@Command(name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Learn a regularizer by bilevel optimization (ISGD, Adam-ISGD or MAID) with certified inexact "
                        + "hypergradients.",
                "Without --config it trains the embedded default: Fields of Experts on synthetic dead-leaves "
                        + "images (no files needed).",
        })
public final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment (HOCON); keys under 'bilevel', see config/reference.conf.")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: runs/train-<date>-<time>); must be new or empty.")
    Path out;

    @Option(names = "--seed", paramLabel = "S", description = "Overrides bilevel.seed.")
    Long seed;

    @Option(names = "--budget", paramLabel = "COMPUTATIONS", description = "Overrides bilevel.train.budget (lower-level + CG iterations).")
    Long budget;

    @Option(names = "--method", paramLabel = "isgd|adam|maid", description = "Overrides bilevel.train.method.")
    String method;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Overrides any key under bilevel, e.g. --set train.batch=4 (repeatable).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = "--quiet", description = "Print only the summary.")
    boolean quiet;

    @Override
    public Integer call() {
        Map<String, String> overrides = new LinkedHashMap<>(set);
        if (seed != null) {
            overrides.put("seed", Long.toString(seed));
        }
        if (budget != null) {
            overrides.put("train.budget", Long.toString(budget));
        }
        if (method != null) {
            overrides.put("train.method", method);
        }
        TrainingSpec ts;
        Config merged;
        try {
            merged = ExperimentConfig.load(config, overrides);
            ts = ExperimentConfig.toSpec(merged);
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        Path dir = out != null ? out : Path.of("runs", "train-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        ReferenceTrainer trainer;
        try {
            trainer = new ReferenceTrainer(ts, m -> {
                if (!quiet) {
                    err.println(progressLine(m));
                    err.flush();
                }
            });
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        }
        // load (and so check) the data before anything is written
        try (TrainingData data = loadData(ts, trainer)) {
            checkOutput(dir);
            writeConfig(dir, merged);
            if (!quiet) {
                err.printf(Locale.ROOT, "training %s (%s) on %s data (%d samples), budget %d computations -> %s%n",
                        ts.regularizer().type(), ts.train().method(), ts.data().train(), data.plan().size(),
                        ts.train().budget(), dir);
            }
            ReferenceTrainer.Result r;
            try {
                r = trainer.run(data, dir);
            } catch (TrainingException | UncheckedIOException e) {
                throw new UsageException(e.getMessage());
            }
            stdout.printf(Locale.ROOT, "steps %d, computations %d, %.1f s (%.0f computations/s), %.1f ms per hypergradient "
                            + "(%d hypergradients of %dx%d crops), validation PSNR %.2f dB%nmodel: %s%nmetrics: %s%n",
                    r.steps(), r.computations(), r.seconds(), r.computationsPerSecond(), 1e3 * r.secondsPerHypergradient(),
                    r.hypergradients(), ts.data().crop(), ts.data().crop(), r.validationPsnr(), dir.resolve("model.json"),
                    dir.resolve("metrics.jsonl"));
            stdout.flush();
            return 0;
        }
    }

    private static TrainingData loadData(TrainingSpec ts, ReferenceTrainer trainer) {
        try {
            return TrainingData.load(ts.data(), ts.seed(), trainer.dataType());
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static String progressLine(StepMetrics m) {
        return String.format(Locale.ROOT, "step %5d  comps %9d  %7.1fs  loss %.4g  eps %.2e  delta %.2e  alpha %.2e  |z| %.3g  bound %.3g%s%s",
                m.step(), m.computations(), m.seconds(), m.batchLoss(), m.epsilon(), m.delta(), m.alpha(), m.zNorm(),
                m.errorBound(), m.certified() ? "" : " (uncertified)",
                m.validationPsnr() == null ? "" : String.format(Locale.ROOT, "  val %.2f dB", m.validationPsnr()));
    }

    private static void checkOutput(Path dir) {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                throw new UsageException("output path exists and is not a folder: " + dir);
            }
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new UsageException("output folder is not empty (refusing to overwrite a run): " + dir);
                }
            } catch (IOException e) {
                throw new UsageException("cannot read output folder " + dir + ": " + e.getMessage());
            }
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UsageException("cannot create output folder " + dir + ": " + e.getMessage());
        }
    }

    private static void writeConfig(Path dir, Config merged) {
        String text = "# effective configuration of this run (defaults + experiment + command line)\n"
                + merged.atKey("bilevel").root().render(com.typesafe.config.ConfigRenderOptions.defaults()
                .setOriginComments(false).setJson(false));
        bilevel.numerics.util.AtomicFiles.write(dir.resolve("config.conf"), text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
