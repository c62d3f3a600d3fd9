package bilevel.cli;

import bilevel.cli.bench.BenchCommand;
import bilevel.cli.train.SummarizeCommand;
import bilevel.cli.tools.EvalCommand;
import bilevel.cli.tools.PlotCommand;
import bilevel.cli.tools.ReconstructCommand;
import bilevel.cli.tools.ReportCommand;
import bilevel.cli.train.TrainCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The {@code bilevel} command line. Subcommands are classes of their own, listed in {@code subcommands}
 * below; one that needs services takes a {@link CliContext} in its constructor.
 *
 * <p>Exit codes: {@value #EXIT_OK} success, {@value #EXIT_INTERNAL} internal error (message and stack
 * trace on stderr), {@value #EXIT_USAGE} usage error or bad input (one line on stderr, no stack trace).
 */
@Command(name = "bilevel",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Learn image-reconstruction regularizers by bilevel optimization with inexact hypergradients.",
        subcommands = {
                TrainCommand.class,
                bilevel.cli.train.ResumeCommand.class,
                SummarizeCommand.class,
                BenchCommand.class,
                bilevel.cli.train.NodeCommand.class,
                EvalCommand.class,
                ReconstructCommand.class,
                PlotCommand.class,
                ReportCommand.class,
                CommandLine.HelpCommand.class,
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
                "0:success",
                "1:internal error",
                "2:usage error or bad input",
        })
public final class Main implements Callable<Integer> {

    public static final int EXIT_OK = 0;
    public static final int EXIT_INTERNAL = 1;
    public static final int EXIT_USAGE = 2;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        throw missingSubcommand(spec);
    }

    /** The error for a command that only groups subcommands and was given none. */
    public static CommandLine.ParameterException missingSubcommand(CommandSpec spec) {
        List<String> names = spec.subcommands().keySet().stream().filter(n -> !n.equals("help")).toList();
        return new CommandLine.ParameterException(spec.commandLine(),
                "missing command: choose one of " + String.join(", ", names));
    }

    public static void main(String[] args) {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");   // charts and images are drawn off screen
        }
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
        int code = execute(CliContext.standard(), out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Parses and runs {@code args}; returns the exit code. Never throws. */
    public static int execute(CliContext context, PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine(context);
        cl.setOut(out);
        cl.setErr(err);
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /** The configured command tree (for tests and tools that want to inspect it). */
    public static CommandLine commandLine(CliContext context) {
        CommandLine cl = new CommandLine(new Main(), new ContextFactory(context));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler(Main::handleParameterException);
        cl.setExecutionExceptionHandler(Main::handleExecutionException);
        shareVersion(cl, cl.getCommandSpec().versionProvider());
        return cl;
    }

    /** Lets {@code --version} work on every subcommand without each declaring the provider. */
    private static void shareVersion(CommandLine cl, CommandLine.IVersionProvider provider) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().versionProvider() == null && sub.getCommandSpec().version().length == 0) {
                sub.getCommandSpec().versionProvider(provider);
            }
            shareVersion(sub, provider);
        }
    }

    private static int handleParameterException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        StringBuilder line = new StringBuilder(oneLine(ex.getMessage()));
        if (ex instanceof CommandLine.UnmatchedArgumentException unmatched) {
            List<String> words = unmatched.getUnmatched();
            if (!cl.getSubcommands().isEmpty() && !words.isEmpty() && !words.get(0).startsWith("-")) {
                line = new StringBuilder("unknown command '" + words.get(0) + "'");
            }
            if (!unmatched.getSuggestions().isEmpty()) {
                line.append(" (did you mean ").append(String.join(" or ", unmatched.getSuggestions())).append("?)");
            }
        }
        String path = cl.getCommandSpec().qualifiedName();
        cl.getErr().println(path + ": " + line + "; see '" + path + " --help'");
        cl.getErr().flush();
        return EXIT_USAGE;
    }

    private static int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        String path = cl.getCommandSpec().qualifiedName();
        if (ex instanceof UsageException) {
            err.println(path + ": " + oneLine(ex.getMessage()));
            err.flush();
            return EXIT_USAGE;
        }
        err.println(path + ": internal error: " + oneLine(String.valueOf(ex)));
        ex.printStackTrace(err);
        err.flush();
        return EXIT_INTERNAL;
    }

    /** Collapses a possibly multi-line message into one line. */
    static String oneLine(String message) {
        return message == null ? "" : message.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
