package bilevel.numerics.train;

import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.ImplicitMethod;
import bilevel.numerics.primaldual.ConvolutionFilters;
import bilevel.numerics.primaldual.FiniteDifferences;
import bilevel.numerics.primaldual.PiggybackMethod;
import bilevel.numerics.primaldual.PrimalDualModel;
import bilevel.numerics.regularizers.ConvexRidge;
import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.Icnn;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;

import java.util.LinkedHashMap;
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
 *   <li>{@code icnn}: input-convex network, options {@code channels} (32), {@code size} (5);</li>
 *   <li>{@code pd-filters}: primal–dual model with learned filters ({@link PrimalDualModel} over
 *       {@link ConvolutionFilters}), options {@code filters} (24), {@code size} (5), {@code smoothing} (the Huber
 *       γ, {@value #DEFAULT_PD_SMOOTHING});</li>
 *   <li>{@code pd-tv}: primal–dual smoothed anisotropic TV with a learned weight ({@link PrimalDualModel} over
 *       {@link FiniteDifferences}), option {@code smoothing} ({@value #DEFAULT_PD_SMOOTHING}).</li>
 * </ul>
 * The primal–dual types are trained with the piggyback method, all others with the implicit method
 * ({@link #hypergradientMethod}). Unknown types or option keys and bad values are {@link TrainingException}s
 * with one-line messages.
 */
public final class RegularizerFactory {
    public static final List<String> TYPES = List.of("tv", "quadratic", "foe", "crr", "icnn", "pd-filters", "pd-tv");
    /**
     * Default Huber smoothing γ of the primal–dual types. (Untrained pd-filters on the four 256×256 Set12 images at
     * σ = 25, noisy 20.18 dB: γ = 0.001 with λ_c = 0.01 gave 24.50 dB, γ = 0.003 gave 23.70 dB, γ = 0.01 21.86 dB.)
     */
    public static final double DEFAULT_PD_SMOOTHING = 0.001;
    /**
     * Initial filter weight λ_c of {@code pd-filters} (same measurement: 0.005, 0.01, 0.02 gave 23.36, 24.50,
     * 21.80 dB with γ = 0.001).
     */
    public static final double PD_FILTERS_INITIAL_WEIGHT = 0.01;

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
            case "pd-filters" -> {
                allow(type, options, "filters", "size", "smoothing");
                int filters = intOption(type, options, "filters", 24);
                int size = intOption(type, options, "size", 5);
                double smoothing = positiveOption(type, options, "smoothing", DEFAULT_PD_SMOOTHING);
                try {
                    yield new PrimalDualModel(new ConvolutionFilters(filters, size, PD_FILTERS_INITIAL_WEIGHT), smoothing);
                } catch (IllegalArgumentException e) {
                    throw new TrainingException("bad pd-filters options: " + e.getMessage());
                }
            }
            case "pd-tv" -> {
                allow(type, options, "smoothing");
                yield new PrimalDualModel(new FiniteDifferences(), positiveOption(type, options, "smoothing", DEFAULT_PD_SMOOTHING));
            }
            default -> throw new TrainingException("unknown regularizer type '" + type + "' (known: " + String.join(", ", TYPES) + ")");
        };
    }

    /**
     * The options with every structural key the type has, missing ones filled with the type's defaults (what a
     * model file stores, so that the model does not depend on the defaults of the code that reads it).
     * Checks the options as {@link #create} does.
     */
    public static Map<String, Object> resolvedOptions(String type, Map<String, Object> options) {
        create(type, options);
        Map<String, Object> out = new LinkedHashMap<>();
        switch (type) {
            case "foe" -> {
                out.put("filters", intOption(type, options, "filters", 48));
                out.put("size", intOption(type, options, "size", 7));
                out.put("potential", potentialOption(type, options).key());
            }
            case "crr" -> {
                out.put("channels", java.util.Arrays.stream(intListOption(type, options, "channels", new int[]{1, 8, 32}))
                        .boxed().toList());
                out.put("size", intOption(type, options, "size", 5));
            }
            case "icnn" -> {
                out.put("channels", intOption(type, options, "channels", 32));
                out.put("size", intOption(type, options, "size", 5));
            }
            case "pd-filters" -> {
                out.put("filters", intOption(type, options, "filters", 24));
                out.put("size", intOption(type, options, "size", 5));
                out.put("smoothing", positiveOption(type, options, "smoothing", DEFAULT_PD_SMOOTHING));
            }
            case "pd-tv" -> out.put("smoothing", positiveOption(type, options, "smoothing", DEFAULT_PD_SMOOTHING));
            default -> {
            }
        }
        return out;
    }

    /**
     * How hypergradients of {@code family} are computed: the piggyback method for a {@link PrimalDualModel}
     * ({@code pd-*} types), the implicit method (FISTA + CG) for every other regularizer.
     *
     * @param maxLowerIterations   cap on lower-level iterations (FISTA or PDHG) per call
     * @param maxAdjointIterations cap on adjoint iterations (CG or piggyback) per call
     */
    public static HypergradientMethod hypergradientMethod(Regularizer family, int maxLowerIterations,
                                                         int maxAdjointIterations) {
        if (family instanceof PrimalDualModel pd) {
            return new PiggybackMethod(pd, maxLowerIterations, maxAdjointIterations);
        }
        return new ImplicitMethod(maxLowerIterations, maxAdjointIterations);
    }

    /** {@link #hypergradientMethod(Regularizer, int, int)} with the caps of {@code train}. */
    public static HypergradientMethod hypergradientMethod(Regularizer family, TrainingSpec.TrainSpec train) {
        bilevel.numerics.hypergradient.ErrorBoundMode mode = train.errorBoundMode();
        if (family instanceof PrimalDualModel) {
            if (mode != bilevel.numerics.hypergradient.ErrorBoundMode.CERTIFIED) {
                throw new TrainingException("train.error-bound = " + train.errorBound() + " is implemented for the implicit"
                        + " method only; the piggyback bound of a pd-* model is always the certified one");
            }
            return hypergradientMethod(family, train.maxLowerIterations(), train.maxCgIterations());
        }
        return new ImplicitMethod(train.maxLowerIterations(), train.maxCgIterations(), mode);
    }

    /**
     * The method for solving reconstructions with {@code instance} (FISTA for a regularizer, PDHG for an instance
     * of a primal–dual model), with the given lower-level cap.
     */
    public static HypergradientMethod methodFor(Regularizer.Instance instance, int maxIterations) {
        if (instance instanceof PrimalDualModel.Instance pd) {
            return new PiggybackMethod(pd.model(), maxIterations, maxIterations);
        }
        return new ImplicitMethod(maxIterations, maxIterations);
    }

    static double positiveOption(String type, Map<String, Object> options, String key, double fallback) {
        Object v = options.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Number n && n.doubleValue() > 0 && Double.isFinite(n.doubleValue())) {
            return n.doubleValue();
        }
        throw new TrainingException("option '" + key + "' of regularizer '" + type + "' must be a positive number, got " + v);
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
