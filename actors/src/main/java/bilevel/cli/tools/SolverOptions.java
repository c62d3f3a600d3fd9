package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.eval.Evaluator;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Option;

/** How the lower level is solved by the tools: RMS accuracy, iteration cap, arithmetic. */
public final class SolverOptions {

    /** Default RMS accuracy: ‖x − x̂‖ ≤ 1e-5·√(HW), i.e. 0.00255 gray levels on the 0–255 scale. */
    static final double DEFAULT_ACCURACY = 1e-5;

    @Option(names = "--accuracy", paramLabel = "EPS", defaultValue = "1e-5",
            description = "Solve each reconstruction until ‖x − x̂‖ ≤ EPS·√(pixels) is certified (RMS distance to the "
                    + "exact minimiser, [0, 1] scale; default: ${DEFAULT-VALUE}).")
    double accuracy;

    @Option(names = "--max-iterations", paramLabel = "N", defaultValue = "10000",
            description = "Cap on solver iterations per image; reaching it is reported (default: ${DEFAULT-VALUE}).")
    int maxIterations;

    @Option(names = "--dtype", paramLabel = "double|float", defaultValue = "double",
            description = "Arithmetic of the solves (default: ${DEFAULT-VALUE}).")
    String dtype;

    Evaluator.Settings settings() {
        if (!(accuracy > 0) || !Double.isFinite(accuracy)) {
            throw new UsageException("--accuracy must be a positive number, got " + accuracy);
        }
        if (maxIterations < 1) {
            throw new UsageException("--max-iterations must be at least 1, got " + maxIterations);
        }
        DataType type = switch (dtype) {
            case "double" -> DataType.DOUBLE;
            case "float" -> DataType.FLOAT;
            default -> throw new UsageException("--dtype must be double or float, got '" + dtype + "'");
        };
        return new Evaluator.Settings(accuracy, maxIterations, type);
    }

    /** e.g. "FISTA until ‖x − x̂‖ ≤ 1e-05·√pixels (RMS distance to the exact minimiser), at most 10000 iterations, double". */
    static String describe(Evaluator.Settings s) {
        return describe(s, "FISTA");
    }

    /**
     * As {@link #describe(Evaluator.Settings)} with the given solver name(s), e.g. "PDHG" for a primal–dual model
     * (whose x̂ is the primal part of the saddle point).
     */
    static String describe(Evaluator.Settings s, String solver) {
        return solver + " until ‖x − x̂‖ ≤ " + ToolSupport.num(s.accuracyRms()) + "·√pixels (RMS distance to the exact "
                + "minimiser), at most " + s.maxIterations() + " iterations, " + s.dataType().name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The lower-level solvers of the given families, e.g. "FISTA", "PDHG", "PDHG (model), FISTA (tv-baseline)". */
    static String solvers(java.util.List<String> names, java.util.List<bilevel.numerics.regularizers.Regularizer> families) {
        java.util.List<String> solvers = families.stream().map(Evaluator::lowerLevelSolver).toList();
        if (solvers.stream().distinct().count() <= 1) {
            return solvers.isEmpty() ? "FISTA" : solvers.get(0);
        }
        java.util.List<String> parts = new java.util.ArrayList<>();
        for (int i = 0; i < solvers.size(); i++) {
            parts.add(solvers.get(i) + " (" + names.get(i) + ")");
        }
        return String.join(", ", parts);
    }
}
