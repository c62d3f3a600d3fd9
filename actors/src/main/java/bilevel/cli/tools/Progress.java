package bilevel.cli.tools;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Progress of a long run on stderr: a bar redrawn in place ({@code \r}) when stderr is a terminal, plain
 * lines otherwise (logs, pipes, tests), nothing when quiet.
 */
final class Progress {
    private static final int BAR = 30;

    private final PrintWriter err;
    private final boolean quiet;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private int total;
    private int done;
    private boolean barShown;

    Progress(PrintWriter err, boolean quiet, int total) {
        this(err, quiet, total, stderrIsTerminal());
    }

    Progress(PrintWriter err, boolean quiet, int total, boolean terminal) {
        this.err = err;
        this.quiet = quiet;
        this.total = total;
        this.terminal = terminal;
    }

    /** Whether file descriptor 2 of this process is a terminal (Linux: /proc/self/fd/2 → /dev/pts/… or /dev/tty…). */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    void addToTotal(int more) {
        total += more;
    }

    /** One unit of work finished; {@code what} describes it (one line). */
    void step(String what) {
        done++;
        if (quiet) {
            return;
        }
        double seconds = (System.nanoTime() - start) * 1e-9;
        if (terminal) {
            int filled = total == 0 ? BAR : (int) Math.round(BAR * (double) done / total);
            String bar = "#".repeat(Math.min(BAR, filled)) + ".".repeat(Math.max(0, BAR - filled));
            String line = String.format(Locale.ROOT, "[%s] %d/%d %6.1fs  %s", bar, done, total, seconds, what);
            err.print("\r" + line + "\u001b[K");
            barShown = true;
        } else {
            err.println(String.format(Locale.ROOT, "[%d/%d %.1fs] %s", done, total, seconds, what));
        }
        err.flush();
    }

    /** A message line (ends a bar line first). */
    void message(String line) {
        if (quiet) {
            return;
        }
        endBar();
        err.println(line);
        err.flush();
    }

    /** Ends the bar's line, if one is shown. */
    void finish() {
        endBar();
        err.flush();
    }

    private void endBar() {
        if (barShown) {
            err.println();
            barShown = false;
        }
    }
}
