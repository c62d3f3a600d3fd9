package bilevel.numerics.regularizers;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Regularizer families by name: each name maps to a factory for a default-configured family (e.g. the
 * filter bank size of a Fields-of-Experts model). The names are the ones users type
 * ({@code bilevel bench kernels --regularizer tv}) and, by convention, equal {@link Regularizer#type()}.
 *
 * <p>{@link #standard()} holds every regularizer of this build. <b>Adding a regularizer is one line in
 * {@link #standardEntries()}</b>, e.g. {@code m.put("tv", TotalVariation::new);}. Other instances
 * (tests, experiments) are built from an explicit map with {@link #Registry(Map)}.
 *
 * <p>Immutable and thread-safe; factories are called anew on every {@link #create(String)}.
 */
public final class Registry {

    private static final Registry STANDARD = new Registry(standardEntries());

    /** The regularizers shipped with this build, in the order they are listed and benchmarked. */
    private static Map<String, Supplier<Regularizer>> standardEntries() {
        Map<String, Supplier<Regularizer>> m = new LinkedHashMap<>();
        // One line per regularizer family (default structure; configs pass options through
        // bilevel.numerics.train.RegularizerFactory).
        m.put("tv", TotalVariation::new);
        m.put("foe", FieldsOfExperts::new);
        m.put("crr", ConvexRidge::new);
        m.put("icnn", Icnn::new);
        return m;
    }

    private final Map<String, Supplier<Regularizer>> factories;

    /**
     * A registry with the given entries, kept in the map's iteration order.
     *
     * @throws IllegalArgumentException if a name is blank or contains whitespace or a comma (they could
     *                                  not be typed on the command line)
     */
    public Registry(Map<String, Supplier<Regularizer>> factories) {
        Map<String, Supplier<Regularizer>> copy = new LinkedHashMap<>();
        factories.forEach((name, factory) -> {
            Objects.requireNonNull(name, "regularizer name");
            Objects.requireNonNull(factory, "factory of " + name);
            if (name.isBlank() || !name.equals(name.strip()) || name.contains(",") || name.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("invalid regularizer name '" + name + "'");
            }
            copy.put(name, factory);
        });
        this.factories = Collections.unmodifiableMap(copy);
    }

    /** The regularizers of this build. */
    public static Registry standard() {
        return STANDARD;
    }

    /** Known names in registration order (immutable). */
    public List<String> names() {
        return List.copyOf(factories.keySet());
    }

    public boolean contains(String name) {
        return factories.containsKey(name);
    }

    public boolean isEmpty() {
        return factories.isEmpty();
    }

    /**
     * A new default-configured regularizer family.
     *
     * @throws UnknownRegularizerException if {@code name} is not registered; its message lists the known names
     */
    public Regularizer create(String name) {
        Supplier<Regularizer> factory = factories.get(name);
        if (factory == null) {
            throw new UnknownRegularizerException(name, names());
        }
        return factory.get();
    }

    /** A name that is not in the registry. The message is one line and lists the known names. */
    public static final class UnknownRegularizerException extends IllegalArgumentException {
        private final String name;
        private final List<String> known;

        public UnknownRegularizerException(String name, List<String> known) {
            super("unknown regularizer '" + name + "'; known: "
                    + (known.isEmpty() ? "none (no regularizer is registered in this build)" : String.join(", ", known)));
            this.name = name;
            this.known = List.copyOf(known);
        }

        public String name() {
            return name;
        }

        public List<String> known() {
            return known;
        }
    }
}
