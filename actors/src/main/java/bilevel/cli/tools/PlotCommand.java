package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.train.MetricsLog;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code bilevel plot}: PNG charts of a run's metrics.jsonl. */
@Command(name = "plot",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Draw PNG charts of a run's metrics (DIR/metrics.jsonl): loss and validation PSNR vs total computations "
                        + "and vs wall time, the schedules ε_k, δ_k, α_k, the hypergradient error bound vs ‖z‖, and a "
                        + "staleness histogram for asynchronous runs (metrics with a non-zero staleness).",
                "Works on a running or crashed run (an incomplete last line is skipped). Needs no display.",
        })
public final class PlotCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "DIR", description = "Run folder (output of 'bilevel train').")
    Path dir;

    @Option(names = "--out", paramLabel = "DIR", description = "Where to write the PNG files (default: DIR/plots).")
    Path out;

    @Override
    public Integer call() {
        return ToolSupport.run(this::plot);
    }

    /** The run's metrics, checked: a missing folder or file or no complete line is a usage error. */
    static MetricsLog readMetrics(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new UsageException("run folder not found: " + dir);
        }
        Path file = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(file)) {
            throw new UsageException("no metrics.jsonl in " + dir + " (is it the output folder of 'bilevel train'?)");
        }
        MetricsLog log = MetricsLog.read(file);
        if (log.isEmpty()) {
            throw new UsageException("metrics file " + file + " has no complete step yet");
        }
        return log;
    }

    private Integer plot() {
        PrintWriter stdout = spec.commandLine().getOut();
        MetricsLog log = readMetrics(dir);
        Path target = out != null ? out : dir.resolve("plots");
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw new UsageException("--out " + target + " exists and is not a folder");
        }
        List<String> notes = new ArrayList<>();
        if (log.tornLastLine()) {
            notes.add("skipped an incomplete last line of metrics.jsonl (run in progress or interrupted)");
        }
        List<Charts.Rendered> charts = Charts.fromMetrics(log, notes);
        try (OutputFiles files = new OutputFiles()) {
            for (Charts.Rendered c : charts) {
                Files.createDirectories(target);
                files.put(target.resolve(c.file()), c.png());
            }
            List<Path> written = files.commit();
            stdout.println("plotted " + log.size() + " steps of " + dir.resolve("metrics.jsonl") + " into " + target + ":");
            for (Path p : written) {
                stdout.println("  " + p.getFileName());
            }
            for (String n : notes) {
                stdout.println("note: " + n);
            }
            stdout.flush();
        } catch (java.io.IOException e) {
            throw new UsageException("cannot create " + target + ": " + e.getMessage(), e);
        }
        return 0;
    }
}
