package bilevel.cli.bench;

import bilevel.cli.Main;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code bilevel bench}: groups the benchmarks. */
@Command(name = "bench",
        mixinStandardHelpOptions = true,
        description = "Benchmarks.",
        subcommands = {
                BenchKernelsCommand.class,
                BenchThroughputCommand.class,
                BenchClusterCommand.class,
        })
public final class BenchCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw Main.missingSubcommand(spec);
    }
}
