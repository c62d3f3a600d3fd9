package bilevel.cli.train;

import bilevel.actors.CheckpointStore;
import bilevel.actors.RuntimeSpec;
import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.typesafe.config.Config;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code bilevel resume DIR}: continues the run in DIR (written by {@code bilevel train}) from its newest
 * valid checkpoint, with the configuration saved in {@code DIR/config.conf}. A truncated or corrupt
 * checkpoint is reported and the previous one is used; without any checkpoint the run starts over.
 */
@Command(name = "resume",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Continue an interrupted 'bilevel train' run from its newest valid checkpoint.",
                "In sync mode the result is the same model, bit for bit, as an uninterrupted run.",
        })
public final class ResumeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The run folder (with config.conf and checkpoints/).")
    Path dir;

    @Option(names = "--solvers", paramLabel = "N", description = "Overrides bilevel.runtime.solvers.")
    Integer solvers;

    @Option(names = "--budget", paramLabel = "COMPUTATIONS", description = "Overrides bilevel.train.budget (e.g. to extend a finished run).")
    Long budget;

    @Option(names = "--quiet", description = "Print only the summary.")
    boolean quiet;

    @Override
    public Integer call() {
        Path configFile = dir.resolve("config.conf");
        if (!Files.isDirectory(dir)) {
            throw new UsageException("run folder not found: " + dir);
        }
        if (!Files.isRegularFile(configFile)) {
            throw new UsageException(dir + " is not a run folder of 'bilevel train' (no config.conf)");
        }
        Map<String, String> overrides = new LinkedHashMap<>();
        if (solvers != null) {
            if (solvers < 1) {
                throw new UsageException("--solvers must be at least 1, got " + solvers);
            }
            overrides.put("runtime.solvers", Integer.toString(solvers));
        }
        if (budget != null) {
            overrides.put("train.budget", Long.toString(budget));
        }
        TrainingSpec ts;
        RuntimeSpec rt;
        Config merged;
        try {
            merged = ExperimentConfig.load(configFile, overrides);
            ts = ExperimentConfig.toSpec(merged);
            rt = ExperimentConfig.toRuntimeSpec(merged);
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = spec.commandLine().getOut();
        CheckpointStore store = new CheckpointStore(dir.resolve("checkpoints"));
        Optional<CheckpointStore.Loaded> loaded = store.latestValid();
        loaded.ifPresent(l -> l.skipped().forEach(s -> err.println("warning: " + s + "; using an older checkpoint")));
        if (loaded.isEmpty()) {
            for (long n : store.sequences()) {
                err.println("warning: checkpoint " + store.file(n) + " is unusable");
            }
            if (!quiet) {
                err.println("no valid checkpoint in " + store.dir() + ": starting the run over");
            }
        }
        err.flush();
        try (TrainingData data = RunOutput.loadData(ts)) {
            if (!overrides.isEmpty()) {
                TrainCommand.writeConfig(dir, merged);
            }
            TrainingRuntime.Result r;
            try {
                r = TrainingRuntime.resume(ts, rt, data, dir, loaded.orElse(null), new TrainingRuntime.Options(
                        quiet ? null : err, RunOutput.terminal(), bilevel.actors.Solver.Faults.NONE,
                        com.typesafe.config.ConfigFactory.empty()));
            } catch (TrainingException | UncheckedIOException e) {
                throw new UsageException(e.getMessage());
            }
            return RunOutput.report(out, err, r, ts, dir);
        }
    }
}
