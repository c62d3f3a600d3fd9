package bilevel.cli;

import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parsing and exit codes of the command tree (no benchmark is run here). */
class MainTest {

    /** A usage error: exit 2, nothing on stdout, exactly one line on stderr containing {@code expected}. */
    private static void assertUsageError(Cli.Run run, String expected) {
        assertEquals(Main.EXIT_USAGE, run.code(), run.err());
        assertEquals("", run.out());
        String[] lines = run.errLines();
        assertEquals(1, lines.length, "expected one line on stderr, got:\n" + run.err());
        assertTrue(lines[0].contains(expected), lines[0]);
        assertFalse(lines[0].contains("Exception"), "no exception names or stack traces: " + lines[0]);
    }

    @Test
    void helpListsTheCommandsAndExitCodes() {
        for (String flag : new String[]{"--help", "-h"}) {
            Cli.Run run = Cli.run(flag);
            assertEquals(Main.EXIT_OK, run.code());
            assertTrue(run.out().startsWith("Usage: bilevel"), run.out());
            assertTrue(run.out().contains("bench"), run.out());
            assertTrue(run.out().contains("usage error or bad input"), run.out());
            assertEquals("", run.err());
        }
    }

    @Test
    void subcommandsHaveHelp() {
        Cli.Run kernels = Cli.run("bench", "kernels", "--help");
        assertEquals(Main.EXIT_OK, kernels.code());
        assertTrue(kernels.out().startsWith("Usage: bilevel bench kernels"), kernels.out());
        for (String option : new String[]{"--size", "--repeats", "--regularizer", "--json", "--dtype"}) {
            assertTrue(kernels.out().contains(option), option);
        }
        Cli.Run viaHelp = Cli.run("help", "bench");
        assertEquals(Main.EXIT_OK, viaHelp.code());
        assertTrue(viaHelp.out().startsWith("Usage: bilevel bench"), viaHelp.out());
    }

    @Test
    void versionPrintsTheMavenProjectVersion() throws Exception {
        Properties p = new Properties();
        try (InputStream in = Main.class.getResourceAsStream("/bilevel/version.properties")) {
            assertNotNull(in, "version.properties is on the classpath");
            p.load(in);
        }
        String version = p.getProperty("version");
        assertFalse(version == null || version.isBlank() || version.contains("${"), "filtered by Maven: " + version);
        assertEquals(version, VersionProvider.version());
        for (String[] args : new String[][]{{"--version"}, {"-V"}, {"bench", "kernels", "--version"}}) {
            Cli.Run run = Cli.run(args);
            assertEquals(Main.EXIT_OK, run.code());
            assertEquals("bilevel " + version, run.out().lines().findFirst().orElse(""), String.join(" ", args));
        }
    }

    @Test
    void unknownCommandIsAOneLineUsageError() {
        assertUsageError(Cli.run("frobnicate"), "unknown command 'frobnicate'");
        assertUsageError(Cli.run("bnech"), "did you mean bench");
        assertUsageError(Cli.run("bench", "nope"), "unknown command 'nope'");
    }

    @Test
    void unknownOptionIsAOneLineUsageError() {
        assertUsageError(Cli.run("--frob"), "'--frob'");
        assertUsageError(Cli.run("bench", "kernels", "--frob"), "'--frob'");
    }

    @Test
    void missingCommandIsAUsageError() {
        assertUsageError(Cli.run(), "missing command: choose one of train, resume, summarize, bench");
        assertUsageError(Cli.run("bench"), "missing command: choose one of kernels");
    }

    @Test
    void badOptionValuesAreUsageErrors() {
        assertUsageError(Cli.run("bench", "kernels", "--size", "0"), "--size");
        assertUsageError(Cli.run("bench", "kernels", "--size", "12y4"), "--size");
        assertUsageError(Cli.run("bench", "kernels", "--size", "100000"), "--size");
        assertUsageError(Cli.run("bench", "kernels", "--repeats", "0"), "--repeats");
        assertUsageError(Cli.run("bench", "kernels", "--repeats", "many"), "--repeats");
        assertUsageError(Cli.run("bench", "kernels", "--warmup", "-1"), "--warmup");
        assertUsageError(Cli.run("bench", "kernels", "--dtype", "half"), "--dtype");
    }

    @Test
    void oneLineCollapsesLineBreaks() {
        assertEquals("a b c", Main.oneLine(" a\n b\r\n\tc \n"));
        assertEquals("", Main.oneLine(null));
    }
}
