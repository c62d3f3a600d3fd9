package bilevel.numerics.hypergradient;

import java.util.Locale;

/**
 * How {@link ImplicitHypergradient} evaluates the constants of its a-posteriori error bound
 * ({@link HypergradientErrorBound}).
 */
public enum ErrorBoundMode {
    /**
     * The regularizer's global (or ball-wise) constants, certified where the regularizer proves them: the
     * bound never under-estimates, but for non-quadratic models it can exceed ‖z‖ by orders of magnitude.
     */
    CERTIFIED,
    /**
     * M, L_H and L_J replaced by local estimates at the computed point times a safety factor
     * ({@link LocalConstantEstimator}); μ stays certified. The bound is labelled estimated
     * ({@code certified = false}); it is checked against true errors by tests, not proven.
     */
    ESTIMATED;

    /** "certified" or "estimated" (case-insensitive). */
    public static ErrorBoundMode parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "certified" -> CERTIFIED;
            case "estimated" -> ESTIMATED;
            default -> throw new IllegalArgumentException("unknown error-bound mode '" + name + "' (certified, estimated)");
        };
    }

    /** The config spelling: "certified" or "estimated". */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
