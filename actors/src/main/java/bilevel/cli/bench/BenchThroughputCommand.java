package bilevel.cli.bench;

import bilevel.actors.RuntimeSpec;
import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.cli.VersionProvider;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.bench.MachineInfo;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.typesafe.config.Config;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code bilevel bench throughput}: hypergradients per second of the actor runtime with 1, 2, … solvers,
 * and the fraction of wall time the solvers spend outside the numerics (messaging, dispatch, waiting).
 *
 * <p>The problem is the experiment's (default: the embedded one) with one crop per image and as many
 * images as hypergradients, so every hypergradient is a cold solve of its own sample: the runs with
 * different solver counts do the same work. The runtime runs in async mode with groups of one,
 * without validation, refinement or periodic checkpoints; the timed window is from the first work item
 * to the last update. A short untimed warm-up run precedes the timed ones.
 */
@Command(name = "throughput",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Hypergradients per second of the actor runtime with 1 and 2 solvers (or --solvers), the speed-up, "
                        + "and the fraction of wall time spent outside the numerics.",
                "Every hypergradient is a cold solve of its own sample (one crop per image, as many images as "
                        + "hypergradients), so all runs do the same work.",
        })
public final class BenchThroughputCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "Experiment whose problem is timed (default: the embedded one).")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Overrides a key under bilevel, e.g. --set regularizer.type=tv (repeatable).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = "--hypergradients", paramLabel = "M", defaultValue = "128",
            description = "Hypergradients per timed run (default: ${DEFAULT-VALUE}).")
    int hypergradients;

    @Option(names = "--solvers", paramLabel = "N", split = ",", defaultValue = "1,2",
            description = "Solver counts to time (default: ${DEFAULT-VALUE}).")
    List<Integer> solvers;

    @Option(names = "--json", description = "Print one JSON document instead of the table.")
    boolean json;

    /** One timed run. */
    public record Run(int solvers, long hypergradients, double seconds, double hypergradientsPerSecond,
                      long computations, double computationsPerSecond, double numericsSeconds,
                      double millisecondsPerHypergradient, double outsideNumericsFraction) {
    }

    /** The report (the JSON document). */
    public record Report(String version, MachineInfo machine, String regularizer, String dtype, int crop,
                         String operator, double epsilon, int hypergradientsPerRun, List<Run> runs,
                         Double speedup, double targetSpeedup, double targetOutsideNumericsFraction) {
    }

    @Override
    public Integer call() throws IOException {
        if (hypergradients < 2) {
            throw new UsageException("--hypergradients must be at least 2, got " + hypergradients);
        }
        if (solvers.isEmpty() || solvers.stream().anyMatch(n -> n < 1)) {
            throw new UsageException("--solvers must list counts of at least 1, got " + solvers);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TrainingSpec timed = spec(hypergradients);
        TrainingSpec warm = spec(Math.max(2, 2 * solvers.stream().mapToInt(Integer::intValue).max().orElse(1)));
        RuntimeSpec base;
        try {
            base = ExperimentConfig.toRuntimeSpec(ExperimentConfig.load(config, set));
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
        RuntimeSpec rt = base.withMode(RuntimeSpec.Mode.ASYNC).withGroup(1).withRefine(0, 0.5, 0).withCheckpointEvery(0)
                .withValidation(false);
        Path scratch = Files.createTempDirectory("bilevel-bench-");
        List<Run> runs = new ArrayList<>();
        try (TrainingData warmData = load(warm); TrainingData data = load(timed)) {
            err.printf(Locale.ROOT, "warm-up: %d hypergradients on %d solvers%n", warm.train().maxSteps(),
                    solvers.stream().mapToInt(Integer::intValue).max().orElse(1));
            err.flush();
            TrainingRuntime.train(warm, rt.withSolvers(solvers.stream().mapToInt(Integer::intValue).max().orElse(1)),
                    warmData, scratch.resolve("warm-up"), TrainingRuntime.Options.quiet());
            for (int n : solvers) {
                err.printf(Locale.ROOT, "timing %d hypergradients (%s, %s, %dx%d) with %d solver%s%n", hypergradients,
                        timed.regularizer().type(), timed.dtype(), timed.data().crop(), timed.data().crop(), n,
                        n == 1 ? "" : "s");
                err.flush();
                TrainingRuntime.Result r = TrainingRuntime.train(timed, rt.withSolvers(n), data,
                        scratch.resolve("solvers-" + n), TrainingRuntime.Options.quiet());
                double wall = r.trainingSeconds();
                runs.add(new Run(n, r.steps(), wall, r.steps() / wall, r.computations(), r.computations() / wall,
                        r.numericsSeconds(), 1e3 * r.secondsPerHypergradient(),
                        Math.max(0, 1 - r.numericsSeconds() / (n * wall))));
            }
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        } finally {
            deleteTree(scratch);
        }
        Double speedup = null;
        Run one = runs.stream().filter(x -> x.solvers() == 1).findFirst().orElse(null);
        Run two = runs.stream().filter(x -> x.solvers() == 2).findFirst().orElse(null);
        if (one != null && two != null) {
            speedup = two.hypergradientsPerSecond() / one.hypergradientsPerSecond();
        }
        Report report = new Report(VersionProvider.version(), MachineInfo.current(), timed.regularizer().type(),
                timed.dtype(), timed.data().crop(), timed.problem().operator(),
                bilevel.numerics.upper.Schedule.parse(timed.train().accuracy()).at(0), hypergradients, runs, speedup,
                1.8, 0.02);
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            out.printf(Locale.ROOT, "%s (%s, %s %dx%d), %d cold hypergradients per run, %d cores%n",
                    report.regularizer(), report.dtype(), report.operator(), report.crop(), report.crop(),
                    hypergradients, report.machine().cores());
            out.printf(Locale.ROOT, "%8s %10s %14s %16s %14s %18s%n", "solvers", "seconds", "hypergrad/s", "computations/s",
                    "ms/hypergrad", "outside numerics");
            for (Run r : runs) {
                out.printf(Locale.ROOT, "%8d %10.2f %14.2f %16.0f %14.1f %17.2f%%%n", r.solvers(), r.seconds(),
                        r.hypergradientsPerSecond(), r.computationsPerSecond(), r.millisecondsPerHypergradient(),
                        100 * r.outsideNumericsFraction());
            }
            if (speedup != null) {
                out.printf(Locale.ROOT, "speed-up with 2 solvers: %.2fx (target >= 1.8x)%n", speedup);
            }
        }
        out.flush();
        return 0;
    }

    /** The experiment's problem with one crop per image and as many images as hypergradients. */
    private TrainingSpec spec(int m) {
        return spec(config, set, m);
    }

    /**
     * The overrides (over {@code set}) that make the benchmark workload of {@code m} hypergradients: the
     * experiment's problem on embedded data, one crop per image, as many images and steps as hypergradients.
     */
    static Map<String, String> workload(Map<String, String> set, int m) {
        Map<String, String> o = new LinkedHashMap<>(set);
        o.put("data.train", "embedded");
        o.put("data.embedded.train-images", Integer.toString(m));
        o.put("data.crops-per-image", "1");
        o.put("data.validation", "embedded");
        o.put("data.embedded.validation-images", "1");
        o.put("train.budget", "0");
        o.put("train.max-steps", Integer.toString(m));
        o.put("train.method", "adam");
        return o;
    }

    /** The benchmark workload ({@link #workload}) of experiment {@code config} as a spec. */
    static TrainingSpec spec(Path config, Map<String, String> set, int m) {
        Map<String, String> o = workload(set, m);
        Config merged;
        try {
            merged = ExperimentConfig.load(config, o);
            TrainingSpec s = ExperimentConfig.toSpec(merged);
            if (s.data().crop() > s.data().embeddedSize()) {
                throw new UsageException("data.crop " + s.data().crop() + " exceeds data.embedded.size " + s.data().embeddedSize());
            }
            return s;
        } catch (ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage());
        }
    }

    static TrainingData load(TrainingSpec s) {
        try {
            return TrainingData.load(s.data(), s.seed(), s.dtype().equals("double") ? DataType.DOUBLE : DataType.FLOAT);
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // a temporary folder left behind
        }
    }
}
