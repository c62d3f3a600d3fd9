package bilevel.cli.train;

import bilevel.actors.TrainingRuntime;
import bilevel.cli.UsageException;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import org.nd4j.linalg.api.buffer.DataType;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;

/** What {@code bilevel train} and {@code bilevel resume} share: loading data and printing the outcome. */
final class RunOutput {
    private RunOutput() {
    }

    static DataType dataType(TrainingSpec spec) {
        return spec.dtype().equals("double") ? DataType.DOUBLE : DataType.FLOAT;
    }

    static TrainingData loadData(TrainingSpec spec) {
        try {
            return TrainingData.load(spec.data(), spec.seed(), dataType(spec));
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** Progress goes to stderr; redrawn in place only on a terminal. */
    static boolean terminal() {
        return System.console() != null;
    }

    static int report(PrintWriter out, PrintWriter err, TrainingRuntime.Result r, TrainingSpec spec, Path dir) {
        if (r.interrupted()) {
            return 130;   // reported by the runtime's shutdown task (the JVM may halt before we get here)
        }
        out.printf(Locale.ROOT, "steps %d, computations %d, %.1f s (%.0f computations/s), %s mode with %d solver%s, "
                        + "%.1f ms per hypergradient (%d hypergradients of %dx%d crops%s), validation PSNR %.2f dB%n",
                r.steps(), r.computations(), r.seconds(), r.computationsPerSecond(), r.mode(), r.solvers(),
                r.solvers() == 1 ? "" : "s", 1e3 * r.secondsPerHypergradient(), r.hypergradients(), spec.data().crop(),
                spec.data().crop(), r.timedHypergradients() == r.hypergradients() ? ""
                        : "; the time is that of the " + r.timedHypergradients() + " computed since the resume",
                r.validationPsnr());
        if (r.nonFinite() + r.stale() + r.refinements() + r.abandoned() + r.duplicates() > 0) {
            out.printf(Locale.ROOT, "rejected: %d non-finite, %d too stale; %d refinements; %d duplicates ignored; "
                    + "%d samples abandoned; mean staleness %.2f%n", r.nonFinite(), r.stale(), r.refinements(),
                    r.duplicates(), r.abandoned(), r.meanStaleness());
        }
        out.printf(Locale.ROOT, "model: %s%nmetrics: %s%n", dir.resolve("model.json"), dir.resolve("metrics.jsonl"));
        out.flush();
        return 0;
    }
}
