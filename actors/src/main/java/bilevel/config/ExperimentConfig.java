package bilevel.config;

import bilevel.actors.RuntimeSpec;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads an experiment (HOCON) on top of the defaults in {@code reference.conf} (shipped from
 * {@code config/reference.conf}) and turns it into a {@link TrainingSpec}.
 *
 * <p>Rules: an experiment may only set keys that exist in {@code reference.conf} under {@code bilevel}
 * (free-form inside {@code bilevel.regularizer.options}); top-level sections other than {@code bilevel}
 * and {@code akka} are unknown. Every violation, a missing file, a syntax error or a wrong type is a
 * {@link ConfigError} whose message is one line naming the file, line and key.
 */
public final class ExperimentConfig {

    private static final Set<String> FREE_FORM = Set.of("regularizer.options");
    private static final Set<String> ALLOWED_TOP_LEVEL = Set.of("bilevel", "akka");

    private ExperimentConfig() {
    }

    /** A bad experiment: the message is one line meant for the user. */
    public static final class ConfigError extends RuntimeException {
        public ConfigError(String message) {
            super(message);
        }
    }

    /** The defaults alone. */
    public static Config defaults() {
        return ConfigFactory.defaultReference().getConfig("bilevel");
    }

    /**
     * The merged {@code bilevel} section: overrides (dotted keys relative to {@code bilevel}, e.g.
     * {@code train.budget}) over the file (if any) over the defaults.
     */
    public static Config load(Path file, Map<String, String> overrides) {
        Config defaults = defaults();
        Config user = ConfigFactory.empty();
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new ConfigError("config file not found: " + file);
            }
            Config parsed;
            try {
                parsed = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
            } catch (ConfigException e) {
                throw new ConfigError("cannot read config " + file + ": " + oneLine(e.getMessage()));
            }
            for (String top : parsed.root().keySet()) {
                if (!ALLOWED_TOP_LEVEL.contains(top)) {
                    throw new ConfigError("unknown top-level section '" + top + "' in " + file
                            + " (experiments set keys under 'bilevel { … }')");
                }
            }
            if (parsed.hasPath("bilevel")) {
                user = parsed.getConfig("bilevel");
            }
            checkKnown(user, defaults, file.toString());
            user = resolveDataPaths(user, file);
        }
        Config over = ConfigFactory.empty();
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            over = over.withFallback(ConfigFactory.parseString(e.getKey() + " = " + quoteIfNeeded(e.getValue())));
        }
        checkKnown(over, defaults, "the command line");
        try {
            return over.withFallback(user).withFallback(defaults).resolve();
        } catch (ConfigException e) {
            throw new ConfigError(oneLine(e.getMessage()));
        }
    }

    /**
     * Relative data folders (and TLS key and trust stores) in an experiment file are relative to that file's
     * folder (not to the working directory).
     */
    private static Config resolveDataPaths(Config user, Path file) {
        for (String key : List.of("data.train", "data.validation", "cluster.tls.key-store", "cluster.tls.trust-store")) {
            if (user.hasPath(key) && user.getValue(key).valueType() == ConfigValueType.STRING) {
                String v = user.getString(key);
                if (!v.equals("embedded") && !v.isEmpty() && !Path.of(v).isAbsolute()) {
                    Path base = file.toAbsolutePath().getParent();
                    user = user.withValue(key, com.typesafe.config.ConfigValueFactory.fromAnyRef(
                            base.resolve(v).normalize().toString(), "resolved against " + base));
                }
            }
        }
        return user;
    }

    private static String quoteIfNeeded(String v) {
        return v.matches("[-+]?[0-9.eE+-]+|true|false") ? v : ConfigFactory.parseMap(Map.of("v", v)).getValue("v")
                .render(ConfigRenderOptions.concise());
    }

    private static void checkKnown(Config user, Config defaults, String where) {
        for (Map.Entry<String, ConfigValue> e : user.entrySet()) {
            String key = e.getKey();
            if (FREE_FORM.stream().anyMatch(f -> key.startsWith(f + "."))) {
                continue;
            }
            if (!defaults.hasPathOrNull(key)) {
                int line = e.getValue().origin().lineNumber();
                throw new ConfigError("unknown config key 'bilevel." + key + "' in " + where
                        + (line > 0 ? " (line " + line + ")" : "") + suggestion(key, defaults));
            }
        }
    }

    private static String suggestion(String key, Config defaults) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (Map.Entry<String, ConfigValue> d : defaults.entrySet()) {
            int dist = levenshtein(key, d.getKey());
            if (dist < bestDistance) {
                bestDistance = dist;
                best = d.getKey();
            }
        }
        return best != null && bestDistance <= Math.max(2, key.length() / 4) ? "; did you mean 'bilevel." + best + "'?" : "";
    }

    private static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }

    /** Converts a merged {@code bilevel} section to a {@link TrainingSpec}; bad values are one-line errors. */
    public static TrainingSpec toSpec(Config c) {
        try {
            Config maid = c.getConfig("train.maid");
            return new TrainingSpec(
                    c.getLong("seed"),
                    c.getString("dtype"),
                    new TrainingSpec.RegularizerSpec(c.getString("regularizer.type"),
                            plain(c.getConfig("regularizer.options")), c.getString("regularizer.init-model")),
                    new TrainingSpec.ProblemSpec(c.getString("problem.operator"), c.getDouble("problem.sigma"),
                            c.getDouble("problem.mu"), c.getInt("problem.blur.size"), c.getDouble("problem.blur.sigma"),
                            c.getDouble("problem.inpaint.missing")),
                    new TrainingSpec.DataSpec(c.getString("data.train"), c.getString("data.validation"),
                            c.getInt("data.embedded.train-images"), c.getInt("data.embedded.validation-images"),
                            c.getInt("data.embedded.size"), c.getInt("data.crop"), c.getInt("data.crops-per-image"),
                            c.getInt("data.max-train-images"), c.getInt("data.max-validation-images")),
                    new TrainingSpec.TrainSpec(c.getString("train.method"), c.getInt("train.batch"),
                            c.getLong("train.budget"), c.getLong("train.max-steps"), c.getString("train.step"),
                            c.getString("train.accuracy"), c.getString("train.cg-tolerance"),
                            c.getInt("train.max-lower-iterations"), c.getInt("train.max-cg-iterations"),
                            c.getInt("train.validate-every"), c.getDouble("train.validation-accuracy"),
                            new TrainingSpec.MaidSpec(maid.getDouble("eta"), maid.getDouble("rho"), maid.getDouble("c"),
                                    maid.getDouble("nu-dec"), maid.getDouble("nu-inc"), maid.getDouble("step-growth"),
                                    maid.getInt("max-backtracks"), maid.getDouble("alpha0"), maid.getDouble("eps0")),
                            c.getString("train.error-bound")));
        } catch (ConfigException e) {
            throw new ConfigError("bad config value: " + oneLine(e.getMessage()));
        } catch (IllegalArgumentException e) {
            throw new ConfigError("bad config value: " + oneLine(e.getMessage()));
        }
    }

    /**
     * The {@code runtime} section of a merged {@code bilevel} section as a {@link RuntimeSpec};
     * {@code runtime.solvers = 0} means one solver per available core, {@code runtime.group = 0} the
     * minibatch size.
     */
    public static RuntimeSpec toRuntimeSpec(Config c) {
        try {
            Config r = c.getConfig("runtime");
            int solvers = r.getInt("solvers");
            if (solvers == 0) {
                solvers = Runtime.getRuntime().availableProcessors();
            }
            int group = r.getInt("group");
            if (group == 0) {
                group = c.getInt("train.batch");
            }
            return new RuntimeSpec(RuntimeSpec.Mode.parse(r.getString("mode")), solvers, group,
                    new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.parse(r.getString("staleness.policy")),
                            r.getLong("staleness.max")),
                    r.getDouble("refine.eta"), r.getDouble("refine.factor"), r.getInt("refine.max"),
                    r.getLong("checkpoint-every"), r.getDuration("work-timeout"), r.getInt("max-attempts"),
                    r.getDuration("shutdown-timeout"), true, r.getInt("prefetch"));
        } catch (ConfigException e) {
            throw new ConfigError("bad config value: " + oneLine(e.getMessage()));
        } catch (IllegalArgumentException e) {
            throw new ConfigError("bad config value: " + oneLine(e.getMessage()));
        }
    }

    private static Map<String, Object> plain(Config options) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String key : new TreeSet<>(options.root().keySet())) {
            ConfigValue v = options.root().get(key);
            if (v.valueType() == ConfigValueType.LIST) {
                List<Object> list = new ArrayList<>(options.getList(key).unwrapped());
                out.put(key, List.copyOf(list));
            } else if (v.valueType() == ConfigValueType.OBJECT) {
                throw new ConfigError("regularizer.options." + key + " must be a number, string or list");
            } else {
                out.put(key, v.unwrapped());
            }
        }
        return out;
    }
}
