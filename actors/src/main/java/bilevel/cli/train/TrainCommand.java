package bilevel.cli.train;

import bilevel.actors.RuntimeSpec;
import bilevel.actors.TrainingRuntime;
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
 * {@code bilevel train}: trains a regularizer on the experiment given by {@code --config} (HOCON, over
 * {@code reference.conf}) or on the embedded default, with the actor runtime (solvers on every local
 * core; {@code --mode sync} reproduces the single-threaded reference trainer bit for bit), or with the
 * reference trainer itself ({@code --engine reference}; MAID always runs there).
 * Writes {@code config.conf}, {@code metrics.jsonl}, {@code checkpoints/} and {@code model.json} into
 * the output folder; {@code bilevel resume} continues an interrupted run.
 */
@Command(name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Learn a regularizer by bilevel optimization (ISGD, Adam-ISGD or MAID) with certified inexact "
                        + "hypergradients, computed by solver actors on every core.",
                "Without --config it trains the embedded default: Fields of Experts on synthetic dead-leaves "
                        + "images (no files needed).",
                "Checkpoints are written every runtime.checkpoint-every updates and on Ctrl-C/SIGTERM; "
                        + "continue with 'bilevel resume DIR'.",
        })
public final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment (HOCON); keys under 'bilevel', see config/reference.conf.")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: runs/train-<date>-<time>); must be new or empty.")
    Path out;

    @Option(names = "--solvers", paramLabel = "N", description = "Overrides bilevel.runtime.solvers (default: one per core).")
    Integer solvers;

    @Option(names = "--mode", paramLabel = "async|sync", description = "Overrides bilevel.runtime.mode.")
    String mode;

    @Option(names = "--seed", paramLabel = "S", description = "Overrides bilevel.seed.")
    Long seed;

    @Option(names = "--budget", paramLabel = "COMPUTATIONS", description = "Overrides bilevel.train.budget (lower-level + CG iterations).")
    Long budget;

    @Option(names = "--method", paramLabel = "isgd|adam|maid", description = "Overrides bilevel.train.method.")
    String method;

    @Option(names = "--engine", paramLabel = "actors|reference", description = "actors (default) or the single-threaded reference trainer.")
    String engine = "actors";

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
        if (solvers != null) {
            if (solvers < 1) {
                throw new UsageException("--solvers must be at least 1, got " + solvers);
            }
            overrides.put("runtime.solvers", Integer.toString(solvers));
        }
        if (mode != null) {
            overrides.put("runtime.mode", mode);
        }
        if (!engine.equals("actors") && !engine.equals("reference")) {
            throw new UsageException("--engine must be actors or reference, got '" + engine + "'");
        }
        TrainingSpec ts;
        RuntimeSpec rt;
        Config merged;
        try {
            merged = ExperimentConfig.load(config, overrides);
            ts = ExperimentConfig.toSpec(merged);
            rt = ExperimentConfig.toRuntimeSpec(merged);
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        Path dir = out != null ? out : Path.of("runs", "train-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        boolean reference = engine.equals("reference") || ts.train().method().equals("maid");
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
        try (TrainingData data = RunOutput.loadData(ts)) {
            checkOutput(dir);
            writeConfig(dir, merged);
            if (reference) {
                return runReference(trainer, ts, data, dir, err, stdout);
            }
            TrainingRuntime.Result r;
            try {
                r = TrainingRuntime.train(ts, rt, data, dir, new TrainingRuntime.Options(quiet ? null : err,
                        RunOutput.terminal(), bilevel.actors.Solver.Faults.NONE, com.typesafe.config.ConfigFactory.empty()));
            } catch (TrainingException | UncheckedIOException e) {
                throw new UsageException(e.getMessage());
            }
            return RunOutput.report(stdout, err, r, ts, dir);
        }
    }

    private int runReference(ReferenceTrainer trainer, TrainingSpec ts, TrainingData data, Path dir, PrintWriter err,
                             PrintWriter stdout) {
        if (!quiet) {
            err.printf(Locale.ROOT, "training %s (%s) on the reference trainer, %s data (%d samples), budget %d computations -> %s%n",
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

    static String progressLine(StepMetrics m) {
        return String.format(Locale.ROOT, "step %5d  comps %9d  %7.1fs  loss %.4g  eps %.2e  delta %.2e  alpha %.2e  |z| %.3g  bound %.3g%s%s",
                m.step(), m.computations(), m.seconds(), m.batchLoss(), m.epsilon(), m.delta(), m.alpha(), m.zNorm(),
                m.errorBound(), m.certified() ? "" : " (uncertified)",
                m.validationPsnr() == null ? "" : String.format(Locale.ROOT, "  val %.2f dB", m.validationPsnr()));
    }

    static void checkOutput(Path dir) {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                throw new UsageException("output path exists and is not a folder: " + dir);
            }
            try (Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new UsageException("output folder is not empty (refusing to overwrite a run; "
                            + "to continue it: bilevel resume " + dir + "): " + dir);
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

    /** Writes the effective configuration of a run (what {@code bilevel resume} reads back). */
    static void writeConfig(Path dir, Config merged) {
        // the root object renders without braces: wrap it under its key; TLS passwords are never written
        String text = "# effective configuration of this run (defaults + experiment + command line)\n"
                + com.typesafe.config.ConfigFactory.empty().withValue("bilevel",
                        bilevel.actors.ClusterTls.redacted(merged).root()).root()
                .render(com.typesafe.config.ConfigRenderOptions.defaults().setOriginComments(false).setJson(false));
        bilevel.numerics.util.AtomicFiles.write(dir.resolve("config.conf"), text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
