package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.eval.EvaluationException;
import bilevel.numerics.image.ImageException;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;
import com.typesafe.config.Config;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Helpers shared by the users' tools: error mapping, defaults, number formatting, output checks. */
final class ToolSupport {
    private ToolSupport() {
    }

    /**
     * Runs {@code body}, turning the one-line bad-input exceptions of numerics (model files, images, data,
     * configs, failed writes) into {@link UsageException}s (exit code 2).
     */
    static Integer run(Callable<Integer> body) {
        try {
            return body.call();
        } catch (UsageException e) {
            throw e;
        } catch (TrainingException | EvaluationException | ImageException | ExperimentConfig.ConfigError e) {
            throw new UsageException(e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw new UsageException(e.getMessage(), e);
        } catch (IOException e) {
            throw new UsageException("I/O error: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The problem defaults of {@code config/reference.conf} (operator, σ, μ, blur, inpainting). */
    static TrainingSpec.ProblemSpec defaultProblem() {
        Config c = ExperimentConfig.defaults();
        return new TrainingSpec.ProblemSpec(c.getString("problem.operator"), c.getDouble("problem.sigma"),
                c.getDouble("problem.mu"), c.getInt("problem.blur.size"), c.getDouble("problem.blur.sigma"),
                c.getDouble("problem.inpaint.missing"));
    }

    /** Compact general-purpose number format (4 significant digits, Locale.ROOT). */
    static String num(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e9) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.4g", v).replaceFirst("(\\.\\d*?)0+(e|$)", "$1$2").replaceFirst("\\.(e|$)", "$1");
    }

    static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }

    /** Checks that {@code file} can be created or replaced: its folder exists and it is not a folder itself. */
    static void checkWritableFile(Path file, String option) {
        Path abs = file.toAbsolutePath();
        if (Files.isDirectory(abs)) {
            throw new UsageException(option + " " + file + " is a folder; give a file name");
        }
        Path parent = abs.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new UsageException(option + " " + file + ": folder " + parent + " does not exist");
        }
        if (!Files.isWritable(parent)) {
            throw new UsageException(option + " " + file + ": folder " + parent + " is not writable");
        }
        if (Files.exists(abs) && !Files.isWritable(abs)) {
            throw new UsageException(option + " " + file + " exists and is not writable");
        }
    }

    /** Lower-case extension of a file name without the dot ("" if none). */
    static String extension(Path file) {
        String n = file.getFileName() == null ? "" : file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot < 0 ? "" : n.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    /** The file name without its extension. */
    static String stem(String name) {
        int dot = name.lastIndexOf('.');
        return dot <= 0 ? name : name.substring(0, dot);
    }
}
