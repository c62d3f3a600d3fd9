package bilevel.numerics.util;

/**
 * A constant used by an error bound, together with whether it is <em>certified</em> (a proven upper
 * or lower bound, as documented by whoever returns it) or merely <em>estimated</em> (e.g. by power
 * iteration or sampling, which may be on the wrong side).
 *
 * @param value     the number (finite, non-negative unless stated otherwise)
 * @param certified true when {@code value} is a proven bound
 */
public record Bound(double value, boolean certified) {
    public Bound {
        if (Double.isNaN(value)) {
            throw new IllegalArgumentException("bound is NaN");
        }
    }

    public static Bound certified(double value) {
        return new Bound(value, true);
    }

    public static Bound estimated(double value) {
        return new Bound(value, false);
    }

    /** Sum of two bounds; certified only if both are. */
    public Bound plus(Bound other) {
        return new Bound(value + other.value, certified && other.certified);
    }

    /** Product of two bounds; certified only if both are. */
    public Bound times(Bound other) {
        return new Bound(value * other.value, certified && other.certified);
    }

    public Bound times(double factor) {
        return new Bound(value * factor, certified);
    }
}
