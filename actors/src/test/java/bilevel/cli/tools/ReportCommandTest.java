package bilevel.cli.tools;

import bilevel.numerics.train.ModelFile;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportCommandTest {
    private static final Pattern IMG = Pattern.compile("<img [^>]*src=\"([^\"]*)\"");

    @TempDir
    static Path shared;
    static Path run;

    @TempDir
    Path tmp;

    @BeforeAll
    static void train() throws IOException {
        run = Tools.tinyRun(shared.resolve("run"), "tv");
        Files.writeString(run.resolve("config.conf"), "# effective configuration\nbilevel { seed = 3 }\n");
    }

    private Path copyOfRun(String name, String... files) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        for (String f : files) {
            Files.copy(run.resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /** The sources of all images, each decoded: every one must be an embedded, valid PNG. */
    private static List<BufferedImage> embeddedImages(String html) throws IOException {
        List<BufferedImage> out = new ArrayList<>();
        Matcher m = IMG.matcher(html);
        while (m.find()) {
            String src = m.group(1);
            assertTrue(src.startsWith("data:image/png;base64,"), "embedded image: " + src.substring(0, Math.min(40, src.length())));
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(src.substring(22))));
            assertNotNull(img, "a valid PNG");
            out.add(img);
        }
        return out;
    }

    @Test
    void writesOneSelfContainedHtmlFile() throws IOException {
        Path dir = copyOfRun("a", "metrics.jsonl", "model.json", "config.conf");
        Tools.Run r = Tools.run("report", dir.toString(), "--images", "2", "--quiet");
        Tools.assertSuccess(r);
        assertEquals("", r.out() + r.err());
        String html = Files.readString(dir.resolve("report.html"));
        for (String section : List.of("<h2>Summary</h2>", "<h2>Training curves</h2>", "<h2>Learned regularizer</h2>",
                "<h2>Validation reconstructions</h2>", "<h2>Timing and cost</h2>", "<h2>Configuration</h2>", "log_lambda",
                "lambda = exp(θ)", "# effective configuration", "Seeds.derive(3, 202, i)", "data-images-ok")) {
            assertTrue(html.contains(section), "missing " + section);
        }
        assertFalse(html.matches("(?s).*(src|href)=\"(https?:|file:|//).*"), "no external resources");
        List<BufferedImage> images = embeddedImages(html);
        assertEquals(6 + 3 * 2, images.size(), "6 charts and clean/measurement/reconstruction of 2 validation images");
        // the regenerated measurements are the training's: the mean PSNR of the two validation reconstructions matches
        // the validation PSNR the trainer stored (both solved to a small accuracy, same noise and images)
        Matcher m = Pattern.compile("Mean PSNR of these 2 reconstruction\\(s\\): ([0-9.]+) dB").matcher(html);
        assertTrue(m.find());
        double trained = ((Number) ModelFile.read(dir.resolve("model.json")).training().get("validationPsnr")).doubleValue();
        assertEquals(trained, Double.parseDouble(m.group(1)), 0.02);
        assertEquals(List.of("config.conf", "metrics.jsonl", "model.json", "report.html"), Tools.listing(dir));
    }

    @Test
    void partialRunsStillGetAReportWithNotes() throws IOException {
        Path metricsOnly = copyOfRun("m", "metrics.jsonl");
        Tools.Run r = Tools.run("report", metricsOnly.toString(), "--out", tmp.resolve("m.html").toString());
        Tools.assertSuccess(r);
        assertTrue(r.out().contains("note: no model.json"), r.out());
        String html = Files.readString(tmp.resolve("m.html"));
        assertTrue(html.contains("<h2>Training curves</h2>") && !html.contains("<h2>Learned regularizer</h2>"));

        // a hand-written model without a training configuration: no reconstructions, but θ and a note
        Path handMade = Files.createDirectories(tmp.resolve("hand"));
        Tools.tvModel(handMade.resolve("model.json"));
        Tools.Run h = Tools.run("report", handMade.toString());
        Tools.assertSuccess(h);
        assertTrue(h.out().contains("no training configuration"), h.out());
        assertTrue(h.out().contains("no metrics.jsonl"), h.out());
        String handHtml = Files.readString(handMade.resolve("report.html"));
        assertTrue(handHtml.contains("log_gamma") && !handHtml.contains("<h2>Validation reconstructions</h2>"));

        // the model's training data are a folder that is gone: the report says so instead of failing
        Path moved = copyOfRun("moved", "metrics.jsonl");
        ModelFile original = ModelFile.read(run.resolve("model.json"));
        var spec = original.config();
        var data = new bilevel.numerics.train.TrainingSpec.DataSpec("embedded", tmp.resolve("gone").toString(), 2, 2, 16,
                16, 1, 0, 0);
        var changed = new bilevel.numerics.train.TrainingSpec(spec.seed(), spec.dtype(), spec.regularizer(), spec.problem(),
                data, spec.train());
        ModelFile.of(original.type(), original.options(), original.theta(), original.problem(), original.dataFingerprint(),
                original.seed(), original.training(), changed).write(moved.resolve("model.json"));
        Tools.Run r2 = Tools.run("report", moved.toString());
        Tools.assertSuccess(r2);
        assertTrue(r2.out().contains("could not be loaded") && r2.out().contains("gone"), r2.out());
        assertTrue(Files.exists(moved.resolve("report.html")));
    }

    @Test
    void badRunFoldersAreOneLineErrorsAndWriteNothing() throws IOException {
        Tools.assertUsageError(Tools.run("report", tmp.resolve("none").toString()), "run folder not found");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Tools.assertUsageError(Tools.run("report", empty.toString()), "has neither metrics.jsonl nor model.json");
        Path truncated = copyOfRun("t", "metrics.jsonl");
        String model = Files.readString(run.resolve("model.json"));
        Files.writeString(truncated.resolve("model.json"), model.substring(0, model.length() / 3));
        Tools.assertUsageError(Tools.run("report", truncated.toString()), "corrupt or truncated");
        assertEquals(List.of("metrics.jsonl", "model.json"), Tools.listing(truncated), "no report.html");
        Tools.assertUsageError(Tools.run("report", truncated.toString(), "--model", tmp.resolve("x.json").toString()),
                "model file not found");
        Tools.assertUsageError(Tools.run("report", empty.toString(), "--images", "-1"), "--images");
        assertEquals(List.of(), Tools.listing(empty));
    }

    /** A family exposing {@link bilevel.numerics.regularizers.LearnedStructure} gets its filters tiled and its profiles charted. */
    @Test
    void filtersAndProfilesOfAModelAreDrawn() throws IOException {
        Path file = Tools.tvModel(tmp.resolve("m.json"));
        LoadedModel model = new LoadedModel(file, ModelFile.read(file), new FilterBankTestRegularizer());
        String html = new ReportHtml(tmp, model, null, null, null, List.of(), List.of(), null,
                new bilevel.numerics.eval.Evaluator.Settings(1e-5, 100, org.nd4j.linalg.api.buffer.DataType.DOUBLE),
                new ArrayList<>(), null).render();
        assertTrue(html.contains("2 learned filters of size 3×3"), html);
        assertTrue(html.contains("alt=\"learned profiles\""), html);
        assertTrue(html.contains("log_lambda"), "a short θ is also tabulated");
        List<BufferedImage> images = embeddedImages(html);
        assertEquals(2, images.size());
        // 2 filters: 2 tiles of 3·16 px in a row, with 4 px gaps
        assertEquals(2 * 48 + 3 * 4, images.get(0).getWidth());
        assertEquals(Charts.WIDTH, images.get(1).getWidth());
    }

    /** The filter mosaic: each tap is a scale×scale block of gray 0.5 + 0.5·k/max|k|, tiles on a white background. */
    @Test
    void filterMosaicShowsEachFilterOnItsOwnSymmetricScale() {
        double[][] a = {{1, -1, 0}, {0.5, 0, 0}, {0, 0, -0.25}};
        double[][] b = {{0, 0, 0}, {0, 2, 0}, {0, 0, 0}};
        double[][] c = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        BufferedImage img = Pictures.filterMosaic(List.of(a, b, c), 4, 2);
        // 3 filters → 2 columns, 2 rows; tile 12 px, gap 2 px
        assertEquals(2 * 12 + 3 * 2, img.getWidth());
        assertEquals(2 * 12 + 3 * 2, img.getHeight());
        var raster = img.getRaster();
        List<double[][]> filters = List.of(a, b, c);
        for (int f = 0; f < 3; f++) {
            double max = 0;
            for (double[] row : filters.get(f)) {
                for (double v : row) {
                    max = Math.max(max, Math.abs(v));
                }
            }
            int x0 = 2 + (f % 2) * 14;
            int y0 = 2 + (f / 2) * 14;
            for (int r = 0; r < 3; r++) {
                for (int col = 0; col < 3; col++) {
                    double g = max == 0 ? 0.5 : 0.5 + 0.5 * filters.get(f)[r][col] / max;
                    int expected = (int) Math.round(255 * g);
                    for (int d = 0; d < 4; d++) {
                        assertEquals(expected, raster.getSample(x0 + 4 * col + d, y0 + 4 * r + (3 - d), 0),
                                "filter " + f + " tap (" + r + ", " + col + ")");
                    }
                }
            }
        }
        assertEquals(Pictures.GAP_GRAY, raster.getSample(0, 0, 0));
        assertEquals(Pictures.GAP_GRAY, raster.getSample(14, 5, 0), "gap between tiles");
        assertEquals(Pictures.GAP_GRAY, raster.getSample(20, 20, 0), "the empty fourth tile");
    }

    /**
     * Renders the report in headless Chromium (deploy/check-report.sh): every image must load. Skipped when
     * /usr/bin/chromium is absent.
     */
    @Test
    void rendersInHeadlessChromium() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")),
                "Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium): browser check skipped");
        Path script = Path.of("..", "deploy", "check-report.sh").toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isRegularFile(script), "deploy/check-report.sh not found from " + Path.of("").toAbsolutePath());
        Path dir = copyOfRun("c", "metrics.jsonl", "model.json", "config.conf");
        Tools.assertSuccess(Tools.run("report", dir.toString(), "--images", "1", "--quiet"));
        Path shot = tmp.resolve("shot.png");
        Process p = new ProcessBuilder("bash", script.toString(), dir.resolve("report.html").toString(), shot.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(240, TimeUnit.SECONDS), "check-report finished");
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("report OK: 9/9 images loaded"), output);
        BufferedImage screenshot = ImageIO.read(shot.toFile());
        assertNotNull(screenshot);
        assertEquals(1280, screenshot.getWidth());

        // and the check fails when an image is broken
        Path broken = tmp.resolve("broken.html");
        Files.writeString(broken, Files.readString(dir.resolve("report.html")).replaceFirst("base64,", "base64,AAAA"));
        Process q = new ProcessBuilder("bash", script.toString(), broken.toString(), tmp.resolve("b.png").toString())
                .redirectErrorStream(true).start();
        String qOut = new String(q.getInputStream().readAllBytes());
        assertTrue(q.waitFor(240, TimeUnit.SECONDS));
        assertEquals(1, q.exitValue(), qOut);
        assertTrue(qOut.contains("8/9"), qOut);
    }
}
