package bilevel.numerics.train;

import bilevel.numerics.regularizers.ConvexRidge;
import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.Icnn;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds a regularizer family from its type name and structural options (model files and configs):
 * <ul>
 *   <li>{@code tv}: smoothed total variation (no options);</li>
 *   <li>{@code quadratic}: learned Tikhonov (no options);</li>
 *   <li>{@code foe}: Fields of Experts, options {@code filters} (48), {@code size} (7), {@code potential}
 *       ({@code charbonnier} (default) or {@code logcosh}, see {@link FieldsOfExperts.Potential});</li>
 *   <li>{@code crr}: convex ridge regularizer, options {@code channels} ([1, 8, 32]), {@code size} (5);</li>
 *   <li>{@code icnn}: input-convex network, options {@code channels} (32), {@code size} (5).</li>
 * </ul>
 * Unknown types or option keys and bad values are {@link TrainingException}s with one-line messages.
 */
public final class RegularizerFactory {
    public static final List<String> TYPES = List.of("tv", "quadratic", "foe", "crr", "icnn");

    private RegularizerFactory() {
    }

    public static Regularizer create(String type, Map<String, Object> options) {
        return switch (type) {
            case "tv" -> {
                allow(type, options);
                yield new TotalVariation();
            }
            case "quadratic" -> {
                allow(type, options);
                yield new QuadraticRegularizer();
            }
            case "foe" -> {
                allow(type, options, "filters", "size", "potential");
                int filters = intOption(type, options, "filters", 48);
                int size = intOption(type, options, "size", 7);
                FieldsOfExperts.Potential potential = potentialOption(type, options);
                try {
                    yield new FieldsOfExperts(filters, size, potential);
                } catch (IllegalArgumentException e) {
                    throw new TrainingException("bad foe options: " + e.getMessage());
                }
            }
            case "crr" -> {
                allow(type, options, "channels", "size");
                int[] channels = intListOption(type, options, "channels", new int[]{1, 8, 32});
                int size = intOption(type, options, "size", 5);
                try {
                    yield new ConvexRidge(channels, size);
                } catch (IllegalArgumentException e) {
                    throw new TrainingException("bad crr options: " + e.getMessage());
                }
            }
            case "icnn" -> {
                allow(type, options, "channels", "size");
                int channels = intOption(type, options, "channels", 32);
                int size = intOption(type, options, "size", 5);
                try {
                    yield new Icnn(channels, size, Icnn.DEFAULT_SHARPNESS);
                } catch (IllegalArgumentException e) {
                    throw new TrainingException("bad icnn options: " + e.getMessage());
                }
            }
            default -> throw new TrainingException("unknown regularizer type '" + type + "' (known: " + String.join(", ", TYPES) + ")");
        };
    }

    static void allow(String type, Map<String, Object> options, String... keys) {
        Set<String> unknown = new TreeSet<>(options.keySet());
        unknown.removeAll(Set.of(keys));
        if (!unknown.isEmpty()) {
            throw new TrainingException("unknown option(s) " + unknown + " for regularizer '" + type + "'"
                    + (keys.length == 0 ? " (it takes none)" : " (known: " + String.join(", ", keys) + ")"));
        }
    }

    static int intOption(String type, Map<String, Object> options, String key, int fallback) {
        Object v = options.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return n.intValue();
        }
        throw new TrainingException("option '" + key + "' of regularizer '" + type + "' must be an integer, got " + v);
    }

    /** The {@code potential} option of a FoE: absent → Charbonnier; a string naming a {@link FieldsOfExperts.Potential}. */
    static FieldsOfExperts.Potential potentialOption(String type, Map<String, Object> options) {
        Object v = options.get("potential");
        if (v == null) {
            return FieldsOfExperts.Potential.CHARBONNIER;
        }
        if (v instanceof String name) {
            for (FieldsOfExperts.Potential p : FieldsOfExperts.Potential.values()) {
                if (p.key().equals(name)) {
                    return p;
                }
            }
        }
        throw new TrainingException("option 'potential' of regularizer '" + type + "' must be one of charbonnier, logcosh, got '" + v + "'");
    }

    static int[] intListOption(String type, Map<String, Object> options, String key, int[] fallback) {
        Object v = options.get(key);
        if (v == null) {
            return fallback.clone();
        }
        if (v instanceof List<?> list && !list.isEmpty()) {
            int[] out = new int[list.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
                    throw new TrainingException("option '" + key + "' of regularizer '" + type + "' must be a list of integers, got " + v);
                }
                out[i] = ((Number) list.get(i)).intValue();
            }
            return out;
        }
        throw new TrainingException("option '" + key + "' of regularizer '" + type + "' must be a list of integers, got " + v);
    }
}
