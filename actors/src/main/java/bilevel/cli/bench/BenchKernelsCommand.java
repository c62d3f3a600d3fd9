package bilevel.cli.bench;

import bilevel.cli.CliContext;
import bilevel.cli.VersionProvider;
import bilevel.numerics.bench.KernelBench;
import bilevel.numerics.bench.MachineInfo;
import bilevel.numerics.regularizers.Registry;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import org.nd4j.linalg.api.buffer.DataType;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code bilevel bench kernels}: times ∇ₓR and the Hessian-vector product of each regularizer with
 * {@link KernelBench} and prints a table, or one JSON document with {@code --json} ({@link KernelReport}).
 * Progress goes to stderr, the report to stdout.
 */
@Command(name = "kernels",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Time the regularizer gradient and Hessian-vector product on one image: median and fastest "
                        + "call, GFLOP/s, and process resident memory before and after the timed calls "
                        + "(growth means a kernel allocates per call).",
                "The image is a seeded smooth-ish random image in [0, 1]; parameters are each "
                        + "regularizer's defaults project(initialTheta(seed)).",
        })
public final class BenchKernelsCommand implements Callable<Integer> {

    /** Largest image side accepted (a float 8192×8192 image is 256 MiB, per buffer). */
    static final int MAX_SIDE = 8192;

    /** Element type of the benchmark arrays. */
    public enum Precision {
        FLOAT(DataType.FLOAT), DOUBLE(DataType.DOUBLE);

        final DataType dataType;

        Precision(DataType dataType) {
            this.dataType = dataType;
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final Registry registry;

    @Spec
    CommandSpec spec;

    @Option(names = "--size", paramLabel = "N|HxW", defaultValue = "256", converter = ImageSize.Converter.class,
            description = "Image size: N for N×N, or HxW (default: ${DEFAULT-VALUE}).")
    ImageSize size;

    @Option(names = "--repeats", paramLabel = "N", defaultValue = "1000",
            description = "Timed gradient + Hessian-vector pairs per regularizer (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "20",
            description = "Untimed pairs before timing (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = {"-r", "--regularizer"}, paramLabel = "NAME", arity = "1..*", split = ",",
            description = "Regularizer(s) to time, e.g. -r tv,foe (default: all registered).")
    List<String> regularizers;

    @Option(names = {"-o", "--option"}, paramLabel = "KEY=VALUE",
            description = "Structural option of the timed regularizer(s), as in a config's regularizer.options, "
                    + "e.g. -r foe -o potential=logcosh (repeatable; integer values are numbers). With options the "
                    + "regularizers are built like a model file's, and named NAME{KEY=VALUE, ...} in the report.")
    Map<String, String> options = new LinkedHashMap<>();

    @Option(names = "--dtype", paramLabel = "float|double", defaultValue = "float",
            description = "Array element type (default: ${DEFAULT-VALUE}).")
    Precision dtype;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1",
            description = "Seed of the parameters, image and direction (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON document instead of the table.")
    boolean json;

    public BenchKernelsCommand(CliContext context) {
        this.registry = context.registry();
    }

    @Override
    public Integer call() {
        KernelBench.Settings settings = settings();
        List<String> names = selectedNames();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (names.isEmpty()) {
            err.println("bilevel bench kernels: no regularizer is registered in this build, nothing to time "
                    + "(register them in bilevel.numerics.regularizers.Registry)");
            err.flush();
        }
        // build every family first: a bad option is a usage error before anything is timed
        List<Regularizer> families = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        Map<String, Object> typed = typedOptions();
        for (String name : names) {
            if (typed.isEmpty()) {
                families.add(registry.create(name));
                labels.add(name);
            } else {
                try {
                    families.add(RegularizerFactory.create(name, typed));
                } catch (TrainingException e) {
                    throw usage("--option: " + e.getMessage());
                }
                labels.add(name + typed);
            }
        }
        List<KernelBench.Result> results = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = labels.get(i);
            err.printf(Locale.ROOT, "timing %s (%d/%d): %dx%d %s, %d warm-up + %d timed gradient/HVP pairs%n",
                    name, i + 1, names.size(), settings.height(), settings.width(), dtype, warmup, repeats);
            err.flush();
            results.add(KernelBench.run(name, families.get(i), settings));
        }
        KernelReport report = new KernelReport(VersionProvider.version(), settings, MachineInfo.current(), results);
        out.print(json ? report.toJson() : report.toTable());
        out.flush();
        return 0;
    }

    /** --option values as a config would give them: integers as Integer, anything else as String (order kept). */
    private Map<String, Object> typedOptions() {
        Map<String, Object> typed = new LinkedHashMap<>();
        options.forEach((key, value) -> {
            Object v = value;
            try {
                v = Integer.parseInt(value.strip());
            } catch (NumberFormatException e) {
                // a string option
            }
            typed.put(key.strip(), v);
        });
        return typed;
    }

    private KernelBench.Settings settings() {
        if (size.height() > MAX_SIDE || size.width() > MAX_SIDE) {
            throw usage("--size: at most " + MAX_SIDE + " per side, got " + size);
        }
        if (repeats < 1) {
            throw usage("--repeats must be at least 1, got " + repeats);
        }
        if (warmup < 0) {
            throw usage("--warmup must be non-negative, got " + warmup);
        }
        return new KernelBench.Settings(size.height(), size.width(), repeats, warmup, dtype.dataType, seed);
    }

    /** The requested names (deduplicated, in order), or all registered ones; unknown names are usage errors. */
    private List<String> selectedNames() {
        if (regularizers == null || regularizers.isEmpty()) {
            return registry.names();
        }
        LinkedHashSet<String> names = new LinkedHashSet<>();
        for (String raw : regularizers) {
            String name = raw.strip();
            if (name.isEmpty()) {
                continue;
            }
            if (!registry.contains(name)) {
                throw usage(new Registry.UnknownRegularizerException(name, registry.names()).getMessage());
            }
            names.add(name);
        }
        return List.copyOf(names);
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
