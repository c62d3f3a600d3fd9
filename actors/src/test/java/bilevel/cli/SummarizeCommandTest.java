package bilevel.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bilevel summarize --at}: validation PSNR at budget checkpoints, from hand-written run folders. */
class SummarizeCommandTest {

    private static Path run(Path root, String name, boolean completed, String... lines) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        Files.writeString(dir.resolve("config.conf"), "bilevel { seed = 1, train { method = maid, step = \"constant:0.1\","
                + " accuracy = \"constant:1e-2\", error-bound = estimated } }\n");
        Files.writeString(dir.resolve("metrics.jsonl"), String.join("\n", lines) + "\n");
        if (completed) {
            Files.writeString(dir.resolve("model.json"), "{}");
        }
        return dir;
    }

    private static String line(long step, long computations, Double psnr) {
        return "{\"step\":" + step + ",\"computations\":" + computations + ",\"seconds\":1.0,\"batchLoss\":0.5,"
                + "\"validationPsnr\":" + (psnr == null ? "null" : psnr) + "}";
    }

    @Test
    void reportsTheLastValidationAtOrBeforeEachCheckpoint(@TempDir Path tmp) throws IOException {
        Path done = run(tmp, "a", true, line(0, 900, 20.0), line(1, 1500, null), line(2, 2100, 21.0), line(3, 3200, 22.5));
        Path partial = run(tmp, "b", false, line(0, 1200, 19.0));
        Cli.Run r = Cli.run("summarize", "--at", "1000,2000,3000,5000", done.toString(), partial.toString());
        assertEquals(0, r.code(), r.err());
        String[] out = r.out().strip().split("\n");
        assertTrue(out[0].endsWith("| PSNR @ 1000 | PSNR @ 2000 | PSNR @ 3000 | PSNR @ 5000 |"), out[0]);
        // run a: 20.0 at 900 ≤ 1000; still 20.0 at 2000 (21.0 came at 2100); 21.0 at 3000; finished: 22.5 at 5000
        assertTrue(out[2].endsWith("| 20.00 dB | 20.00 dB | 21.00 dB | 22.50 dB |"), out[2]);
        // run b: nothing at 1000; 19.0 at 2000 is not reached (unfinished at 1200): n/a from then on
        assertTrue(out[3].endsWith("| n/a | n/a | n/a | n/a |"), out[3]);
        Cli.Run json = Cli.run("summarize", "--json", "--at", "1000", done.toString());
        assertTrue(json.out().contains("\"errorBound\" : \"estimated\""), json.out());
    }

    @Test
    void rejectsNonPositiveCheckpoints(@TempDir Path tmp) throws IOException {
        Path done = run(tmp, "a", true, line(0, 900, 20.0));
        Cli.Run r = Cli.run("summarize", "--at", "0", done.toString());
        assertEquals(2, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
