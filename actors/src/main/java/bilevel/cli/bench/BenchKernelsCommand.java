package bilevel.cli.bench;

import bilevel.cli.CliContext;
import bilevel.cli.VersionProvider;
import bilevel.numerics.bench.KernelBench;
import bilevel.numerics.bench.MachineInfo;
import bilevel.numerics.regularizers.Registry;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import org.nd4j.linalg.api.buffer.DataType;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
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
        List<KernelBench.Result> results = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            err.printf(Locale.ROOT, "timing %s (%d/%d): %dx%d %s, %d warm-up + %d timed gradient/HVP pairs%n",
                    name, i + 1, names.size(), settings.height(), settings.width(), dtype, warmup, repeats);
            err.flush();
            results.add(KernelBench.run(name, registry.create(name), settings));
        }
        KernelReport report = new KernelReport(VersionProvider.version(), settings, MachineInfo.current(), results);
        out.print(json ? report.toJson() : report.toTable());
        out.flush();
        return 0;
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
