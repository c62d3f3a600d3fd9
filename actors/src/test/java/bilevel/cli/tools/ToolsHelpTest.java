package bilevel.cli.tools;

import bilevel.cli.Main;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tools are registered in the command tree and document their options. */
class ToolsHelpTest {
    @Test
    void everyToolIsListedAndHasHelp() {
        Tools.Run top = Tools.run("--help");
        assertEquals(Main.EXIT_OK, top.code());
        for (String c : List.of("eval", "reconstruct", "plot", "report")) {
            assertTrue(top.out().contains(c), "bilevel --help lists " + c);
        }
        check("eval", "--model", "--images", "--sigma", "--operator", "--save", "--csv", "--json", "--quiet", "--seed",
                "--accuracy", "--baseline", "--validation", "Seeds.derive(S, 202, i)");
        check("reconstruct", "--model", "--in", "--out", "--mask", "--operator", "--sigma", "white (1)");
        check("plot", "DIR", "--out", "staleness");
        check("report", "DIR", "--out", "--images", "self-contained", "Seeds.derive(seed, 202, i)");
    }

    private static void check(String command, String... expected) {
        Tools.Run r = Tools.run(command, "--help");
        assertEquals(Main.EXIT_OK, r.code());
        assertTrue(r.out().startsWith("Usage: bilevel " + command), r.out());
        String flat = r.out().replaceAll("\\s+", " ");
        for (String e : expected) {
            assertTrue(flat.contains(e), command + " --help mentions " + e + ":\n" + r.out());
        }
    }
}
