package bilevel.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every command's --help renders cleanly: picocli formats descriptions, and a bare '%' makes it warn on stderr. */
class HelpTextTest {

    @Test
    void everyCommandsHelpRendersWithoutPicocliWarnings() {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int commands = 0;
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            Deque<CommandLine> todo = new ArrayDeque<>();
            todo.add(Main.commandLine(CliContext.standard()));
            while (!todo.isEmpty()) {
                CommandLine c = todo.removeFirst();
                String usage = c.getUsageMessage(CommandLine.Help.Ansi.OFF);
                assertTrue(usage.contains("Usage: "), usage);
                assertFalse(usage.contains("%n"), c.getCommandName() + ": unformatted text in\n" + usage);
                todo.addAll(c.getSubcommands().values());
                commands++;
            }
        } finally {
            System.setErr(saved);
        }
        String warnings = captured.toString(StandardCharsets.UTF_8);
        assertEquals("", warnings, "picocli warnings while rendering " + commands + " help texts");
        assertTrue(commands > 10, "walked the whole command tree: " + commands);
    }
}
