package bilevel.numerics.upper;

import java.util.Locale;

/**
 * A deterministic sequence of positive numbers a_k, k = 0, 1, 2, … — used for upper-level step sizes
 * α_k, lower-level accuracies ε_k and linear-solver (CG) tolerances δ_k.
 *
 * <p>Implementations are immutable records of primitives (plus, for {@link Scaled}, another schedule).
 * Every schedule has a compact textual form ({@link #spec()}) that {@link #parse(String)} reads back:
 *
 * <pre>
 *   constant:v                 a_k = v
 *   poly:a0:q                  a_k = a0 (k+1)^(−q)
 *   log:a0:q                   a_k = a0 ln(k+e)^(−q)            (see {@link Logarithmic}: shifted by e)
 *   geometric:a0:rho[:floor]   a_k = max(a0 rho^k, floor)       (floor defaults to 0)
 *   tied:c                     a_k = c · b_k for a reference schedule b (only via {@link #parseTied})
 *   optimal-step:a0            the preset {@link #optimalStepSize}(a0)  = poly:a0:0.5
 *   optimal-accuracy:a0        the preset {@link #optimalAccuracy}(a0)  = poly:a0:0.25
 * </pre>
 *
 * Long names {@code polynomial}, {@code logarithmic}, {@code const}, {@code geom} are accepted as
 * aliases; names are case-insensitive and surrounding white space is ignored.
 */
public sealed interface Schedule
        permits Schedule.Constant, Schedule.Polynomial, Schedule.Logarithmic, Schedule.Geometric, Schedule.Scaled {

    /** a_k for iteration k ≥ 0. */
    double at(long k);

    /** The compact textual form, e.g. {@code "poly:0.1:0.5"}; {@link #parse} reads it back (except {@code tied}). */
    String spec();

    /** a_k = value. */
    record Constant(double value) implements Schedule {
        public Constant {
            requirePositive("constant value", value);
        }

        @Override
        public double at(long k) {
            requireIndex(k);
            return value;
        }

        @Override
        public String spec() {
            return "constant:" + value;
        }
    }

    /** a_k = a0 (k+1)^(−q), q ≥ 0 (q = 0 is constant). */
    record Polynomial(double a0, double q) implements Schedule {
        public Polynomial {
            requirePositive("a0", a0);
            requireNonNegative("exponent q", q);
        }

        @Override
        public double at(long k) {
            requireIndex(k);
            return a0 * Math.pow(k + 1.0, -q);
        }

        @Override
        public String spec() {
            return "poly:" + a0 + ":" + q;
        }
    }

    /**
     * a_k = a0 · ln(k + e)^(−q), q ≥ 0.
     *
     * <p><b>Deviation from the textbook form a0 · log(k+1)^(−q)</b>: with k counted from 0 that form is
     * a0/0 at k = 0. We shift the argument by e (Euler's number) instead of 1, so that a_0 = a0
     * exactly, the sequence is decreasing, and a_k ~ a0 (ln k)^(−q) as k → ∞ (same asymptotics).
     */
    record Logarithmic(double a0, double q) implements Schedule {
        public Logarithmic {
            requirePositive("a0", a0);
            requireNonNegative("exponent q", q);
        }

        @Override
        public double at(long k) {
            requireIndex(k);
            return a0 * Math.pow(Math.log(k + Math.E), -q);
        }

        @Override
        public String spec() {
            return "log:" + a0 + ":" + q;
        }
    }

    /** a_k = max(a0 ρ^k, floor), 0 &lt; ρ ≤ 1, 0 ≤ floor ≤ a0. */
    record Geometric(double a0, double rho, double floor) implements Schedule {
        public Geometric {
            requirePositive("a0", a0);
            if (!(rho > 0 && rho <= 1)) {
                throw new IllegalArgumentException("geometric ratio rho must be in (0, 1], got " + rho);
            }
            requireNonNegative("floor", floor);
            if (floor > a0) {
                throw new IllegalArgumentException("geometric floor " + floor + " exceeds a0 " + a0);
            }
        }

        public Geometric(double a0, double rho) {
            this(a0, rho, 0.0);
        }

        @Override
        public double at(long k) {
            requireIndex(k);
            return Math.max(a0 * Math.pow(rho, (double) k), floor);
        }

        @Override
        public String spec() {
            return floor == 0 ? "geometric:" + a0 + ":" + rho : "geometric:" + a0 + ":" + rho + ":" + floor;
        }
    }

    /** a_k = factor · base.at(k) — e.g. a CG tolerance tied to the accuracy schedule, δ_k = c ε_k. */
    record Scaled(double factor, Schedule base) implements Schedule {
        public Scaled {
            requirePositive("factor", factor);
            if (base == null) {
                throw new IllegalArgumentException("base schedule is null");
            }
        }

        @Override
        public double at(long k) {
            return factor * base.at(k);
        }

        /** {@code "tied:factor"}; the base is not part of the spec (see {@link #parseTied}). */
        @Override
        public String spec() {
            return "tied:" + factor;
        }
    }

    /** Exponent of the theory's step-size schedule α_k = α0 (k+1)^(−1/2). */
    double OPTIMAL_STEP_EXPONENT = 0.5;
    /** Exponent of the theory's accuracy schedule ε_k = ε0 (k+1)^(−1/4). */
    double OPTIMAL_ACCURACY_EXPONENT = 0.25;

    /** Preset: the theory's step size α_k = α0/√(k+1), paired with {@link #optimalAccuracy}. */
    static Schedule optimalStepSize(double alpha0) {
        return new Polynomial(alpha0, OPTIMAL_STEP_EXPONENT);
    }

    /** Preset: the theory's accuracy ε_k = ε0 (k+1)^(−1/4), paired with {@link #optimalStepSize}. */
    static Schedule optimalAccuracy(double eps0) {
        return new Polynomial(eps0, OPTIMAL_ACCURACY_EXPONENT);
    }

    /**
     * Parses a spec (see the class comment). {@code tied} is rejected here; use {@link #parseTied}.
     *
     * @throws IllegalArgumentException with a one-line message if the spec is malformed or out of range
     */
    static Schedule parse(String spec) {
        return parseTied(spec, null);
    }

    /**
     * Like {@link #parse} but also accepts {@code tied:c}, giving {@code new Scaled(c, reference)}
     * (for δ_k = c ε_k with {@code reference} the accuracy schedule).
     *
     * @param reference the schedule {@code tied} refers to; null if {@code tied} is not allowed
     */
    public static Schedule parseTied(String spec, Schedule reference) {
        if (spec == null) {
            throw new IllegalArgumentException("schedule spec is null");
        }
        String[] parts = spec.trim().split(":", -1);
        String name = parts[0].trim().toLowerCase(Locale.ROOT);
        try {
            switch (name) {
                case "constant", "const" -> {
                    arity(spec, parts, 1, 1);
                    return new Constant(number(spec, parts[1]));
                }
                case "poly", "polynomial" -> {
                    arity(spec, parts, 2, 2);
                    return new Polynomial(number(spec, parts[1]), number(spec, parts[2]));
                }
                case "log", "logarithmic" -> {
                    arity(spec, parts, 2, 2);
                    return new Logarithmic(number(spec, parts[1]), number(spec, parts[2]));
                }
                case "geometric", "geom" -> {
                    arity(spec, parts, 2, 3);
                    double floor = parts.length == 4 ? number(spec, parts[3]) : 0.0;
                    return new Geometric(number(spec, parts[1]), number(spec, parts[2]), floor);
                }
                case "optimal-step" -> {
                    arity(spec, parts, 1, 1);
                    return optimalStepSize(number(spec, parts[1]));
                }
                case "optimal-accuracy" -> {
                    arity(spec, parts, 1, 1);
                    return optimalAccuracy(number(spec, parts[1]));
                }
                case "tied" -> {
                    if (reference == null) {
                        throw new IllegalArgumentException("'tied' needs a reference schedule here");
                    }
                    arity(spec, parts, 1, 1);
                    return new Scaled(number(spec, parts[1]), reference);
                }
                default -> throw new IllegalArgumentException("unknown schedule type '" + parts[0].trim()
                        + "' (expected constant:v | poly:a0:q | log:a0:q | geometric:a0:rho[:floor]"
                        + " | optimal-step:a0 | optimal-accuracy:a0"
                        + (reference != null ? " | tied:c" : "") + ")");
            }
        } catch (IllegalArgumentException e) {
            String message = "bad schedule spec '" + spec + "': " + e.getMessage();
            throw new IllegalArgumentException(message.replaceAll("\\s+", " "), e); // one line
        }
    }

    private static void arity(String spec, String[] parts, int min, int max) {
        int n = parts.length - 1;
        if (n < min || n > max) {
            String expected = min == max ? String.valueOf(min) : min + " or " + max;
            throw new IllegalArgumentException("expected " + expected + " number(s) after '" + parts[0].trim()
                    + ":', got " + n);
        }
    }

    private static double number(String spec, String s) {
        try {
            double v = Double.parseDouble(s.trim());
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("'" + s.trim() + "' is not finite");
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + s.trim() + "' is not a number");
        }
    }

    private static void requirePositive(String what, double v) {
        if (!(v > 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException(what + " must be positive and finite, got " + v);
        }
    }

    private static void requireNonNegative(String what, double v) {
        if (!(v >= 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException(what + " must be non-negative and finite, got " + v);
        }
    }

    private static void requireIndex(long k) {
        if (k < 0) {
            throw new IllegalArgumentException("schedule index k must be >= 0, got " + k);
        }
    }
}
