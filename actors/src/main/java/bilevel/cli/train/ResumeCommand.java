package bilevel.cli.train;

import bilevel.actors.Checkpoint;
import bilevel.actors.CheckpointStore;
import bilevel.actors.RuntimeSpec;
import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.RegularizerFactory;
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

    /** Keys under {@code bilevel} that may change when a run continues (the run stays the same run). */
    static final java.util.List<String> CHANGEABLE = java.util.List.of("train.step", "train.accuracy",
            "train.cg-tolerance", "train.budget", "train.max-steps", "train.validate-every",
            "train.validation-accuracy", "train.max-lower-iterations", "train.max-cg-iterations",
            "runtime.solvers", "runtime.checkpoint-every");

    /**
     * Structure keys that may grow when a run continues: the checkpoint's model is embedded into the larger one
     * (same regularizer, more parameters; Adam's moments follow, see {@link bilevel.actors.Checkpoint#grown}).
     */
    static final java.util.List<String> GROWABLE = java.util.List.of("regularizer.options.size",
            "regularizer.options.filters");

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = {
            "Changes a setting for the rest of the run (repeatable; written to DIR/config.conf), e.g. "
                    + "--set train.step=poly:0.016:0.5 to continue with a decaying step: schedules are evaluated at the "
                    + "run's own step k, and θ, the optimizer state (Adam's moments) and the sampler position are kept.",
            "Allowed keys: ${COMPLETION-CANDIDATES}; anything else (data, regularizer, problem, method, seed) "
                    + "would make it a different run: start one with 'bilevel train --set regularizer.init-model=...'."},
            completionCandidates = Changeable.class)
    Map<String, String> set = new LinkedHashMap<>();

    /** Lists {@link #CHANGEABLE} in the help. */
    static final class Changeable extends java.util.ArrayList<String> {
        Changeable() {
            super(CHANGEABLE);
        }
    }

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
        for (Map.Entry<String, String> e : set.entrySet()) {
            String key = e.getKey().startsWith("bilevel.") ? e.getKey().substring("bilevel.".length()) : e.getKey();
            if (!CHANGEABLE.contains(key) && !GROWABLE.contains(key)) {
                throw new UsageException("--set " + e.getKey() + ": cannot change when a run continues (allowed: "
                        + String.join(", ", CHANGEABLE) + "; to grow a model: " + String.join(", ", GROWABLE) + ")");
            }
            overrides.put(key, e.getValue());
        }
        if (budget != null) {
            overrides.put("train.budget", Long.toString(budget));
        }
        TrainingSpec ts;
        RuntimeSpec rt;
        Config merged;
        TrainingSpec before;
        try {
            before = ExperimentConfig.toSpec(ExperimentConfig.load(configFile, Map.of()));
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
        bilevel.numerics.regularizers.Regularizer from = RegularizerFactory.create(before.regularizer().type(),
                before.regularizer().options());
        bilevel.numerics.regularizers.Regularizer to = RegularizerFactory.create(ts.regularizer().type(),
                ts.regularizer().options());
        if (from.numParams() != to.numParams() || !before.regularizer().options().equals(ts.regularizer().options())) {
            if (loaded.isEmpty()) {
                throw new UsageException("no checkpoint in " + store.dir() + " to grow: start a run with "
                        + "'bilevel train --set regularizer.init-model=...' instead");
            }
            if (to.embedding(from).isEmpty()) {
                throw new UsageException("cannot grow the run's " + from.type() + " " + before.regularizer().options()
                        + " into " + ts.regularizer().options() + " (filters and size may only grow)");
            }
            CheckpointStore.Loaded l = loaded.get();
            if (l.checkpoint().theta().length != to.numParams()) {   // else grown already (an interrupted resume)
                if (l.checkpoint().theta().length != from.numParams()) {
                    throw new UsageException("checkpoint " + l.file() + " holds " + l.checkpoint().theta().length
                            + " parameters, neither the run's " + from.numParams() + " nor " + to.numParams());
                }
                // the grown state is a checkpoint of its own, written before config.conf names the larger model:
                // an interruption in between leaves a run that `resume` with the same --set continues
                Checkpoint grown = l.checkpoint().grown(from, to, ts.seed()).withSequence(l.checkpoint().sequence() + 1);
                Path file = store.write(grown);
                loaded = Optional.of(new CheckpointStore.Loaded(grown, file, l.skipped()));
                if (!quiet) {
                    err.println("the model grows from " + before.regularizer().options() + " (" + from.numParams()
                            + " parameters) to " + ts.regularizer().options() + " (" + to.numParams() + ") at step "
                            + l.checkpoint().steps() + " (checkpoint " + file.getFileName() + ")");
                }
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
