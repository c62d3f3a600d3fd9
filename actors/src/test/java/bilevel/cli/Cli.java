package bilevel.cli;

import bilevel.numerics.regularizers.Registry;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the command line in-process and captures exit code, stdout and stderr. */
final class Cli {
    record Run(int code, String out, String err) {
        /** stderr lines, without a trailing empty one. */
        String[] errLines() {
            return err.isEmpty() ? new String[0] : err.split("\\R");
        }
    }

    private Cli() {
    }

    static Run run(Registry registry, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(new CliContext(registry), new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    static Run run(String... args) {
        return run(Registry.standard(), args);
    }
}
