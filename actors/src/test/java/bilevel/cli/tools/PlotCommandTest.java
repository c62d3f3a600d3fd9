package bilevel.cli.tools;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.GraphicsEnvironment;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlotCommandTest {
    @TempDir
    static Path shared;
    static Path run;

    @TempDir
    Path tmp;

    @BeforeAll
    static void train() {
        run = Tools.tinyRun(shared.resolve("run"), "tv");
    }

    private Path copyOfRun(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        for (String f : List.of("metrics.jsonl", "model.json")) {
            Files.copy(run.resolve(f), dir.resolve(f));
        }
        return dir;
    }

    @Test
    void drawsEveryChartAsAPngWithoutADisplay() throws IOException {
        Path dir = copyOfRun("a");
        // lines of a newer writer with a staleness field (a number or the staleness of each hypergradient)
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":3,\"computations\":900,\"seconds\":2.0,\"batchLoss\":0.5,"
                + "\"epsilon\":0.005,\"delta\":0.005,\"alpha\":0.02,\"zNorm\":0.3,\"errorBound\":0.1,\"staleness\":[0,1,1,3]}\n"
                + "{\"step\":4,\"computations\":950,\"seconds\":2.1,\"staleness\":2}\n", StandardOpenOption.APPEND);
        Tools.Run r = Tools.run("plot", dir.toString());
        Tools.assertSuccess(r);
        List<String> expected = List.of("error-bound-vs-hypergradient-norm.png", "loss-vs-computations.png", "loss-vs-time.png",
                "schedules.png", "staleness.png", "validation-psnr-vs-computations.png", "validation-psnr-vs-time.png");
        assertEquals(expected, Tools.listing(dir.resolve("plots")));
        for (String f : expected) {
            BufferedImage img = ImageIO.read(dir.resolve("plots").resolve(f).toFile());
            assertNotNull(img, f + " is a PNG");
            assertEquals(Charts.WIDTH, img.getWidth());
            assertEquals(Charts.HEIGHT, img.getHeight());
            assertTrue(distinctColours(img) > 3, f + " has content");
            assertTrue(r.out().contains(f), r.out());
        }
        assertTrue(GraphicsEnvironment.isHeadless(), "charts are drawn headless");
    }

    private static int distinctColours(BufferedImage img) {
        java.util.Set<Integer> c = new java.util.HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) {
            for (int x = 0; x < img.getWidth(); x += 3) {
                c.add(img.getRGB(x, y));
            }
        }
        return c.size();
    }

    @Test
    void aTornLastLineIsSkippedAndOutCanBeElsewhere() throws IOException {
        Path dir = copyOfRun("b");
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":9,\"comp", StandardOpenOption.APPEND);
        Path out = tmp.resolve("charts");
        Tools.Run r = Tools.run("plot", dir.toString(), "--out", out.toString());
        Tools.assertSuccess(r);
        assertTrue(r.out().contains("note: skipped an incomplete last line"), r.out());
        assertFalse(Tools.listing(out).contains("staleness.png"), "no staleness field, no histogram");
        assertTrue(Tools.listing(out).contains("schedules.png"));
        assertFalse(Files.exists(dir.resolve("plots")));
    }

    @Test
    void badRunFoldersAreOneLineErrorsAndWriteNothing() throws IOException {
        Tools.assertUsageError(Tools.run("plot", tmp.resolve("none").toString()), "run folder not found");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Tools.assertUsageError(Tools.run("plot", empty.toString()), "no metrics.jsonl in");
        Files.writeString(empty.resolve("metrics.jsonl"), "");
        Tools.assertUsageError(Tools.run("plot", empty.toString()), "has no complete step yet");
        Files.writeString(empty.resolve("metrics.jsonl"), "{\"step\":0}\n{\"step\":1,]\n{\"step\":2}\n");
        Tools.assertUsageError(Tools.run("plot", empty.toString()), "line 2 is not valid JSON");
        assertEquals(List.of("metrics.jsonl"), Tools.listing(empty));
        Tools.assertUsageError(Tools.run("plot"), "DIR");
    }
}
