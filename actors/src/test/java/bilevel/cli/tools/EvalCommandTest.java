package bilevel.cli.tools;

import bilevel.numerics.data.Seeds;
import bilevel.numerics.image.Images;
import bilevel.numerics.image.Metrics;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvalCommandTest {
    @TempDir
    Path tmp;

    /** A model, three images (one RGB), CSV and saved PNGs: the table, the CSV and the files agree. */
    @Test
    void evaluatesAModelAndWritesCsvAndPngs() throws IOException {
        Path images = Tools.images(tmp.resolve("images"), 2, 24, 10);
        BufferedImage rgb = new BufferedImage(24, 24, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 24; y++) {
            for (int x = 0; x < 24; x++) {
                rgb.setRGB(x, y, x < 12 ? 0x3060C0 : 0xE0D040);
            }
        }
        assertTrue(ImageIO.write(rgb, "png", images.resolve("zcolour.png").toFile()));
        Path model = Tools.tvModel(tmp.resolve("tv.json"));
        Path csv = tmp.resolve("out/results.csv");
        Files.createDirectories(csv.getParent());
        Path save = tmp.resolve("saved");
        Tools.Run r = Tools.run("eval", "--model", model.toString(), "--images", images.toString(), "--seed", "7",
                "--csv", csv.toString(), "--save", save.toString());
        Tools.assertSuccess(r);
        for (String expected : List.of("img0.png", "img1.png", "zcolour.png", "mean", "Seeds.derive(7, 202, i)",
                "denoise, σ = 25", "zcolour.png: RGB colour converted to gray by luma", "(certified)")) {
            assertTrue(r.out().contains(expected), "missing '" + expected + "' in:\n" + r.out());
        }
        assertTrue(r.err().contains("[3/3"), "progress lines on stderr (not a terminal): " + r.err());

        List<String> lines = Files.readAllLines(csv);
        assertEquals(EvalReport.CSV_HEADER, lines.get(0));
        assertEquals(5, lines.size(), String.join("\n", lines));
        double sum = 0;
        String[] names = {"img0.png", "img1.png", "zcolour.png"};
        for (int i = 0; i < 3; i++) {
            String[] f = lines.get(1 + i).split(",", -1);
            assertEquals(names[i], f[0]);
            assertEquals("model", f[1]);
            assertEquals(Seeds.derive(7, 202, i), Long.parseLong(f[4]), "stated noise seed");
            double inputPsnr = Double.parseDouble(f[5]);
            double psnr = Double.parseDouble(f[7]);
            assertTrue(psnr > inputPsnr + 2, "TV denoises: " + lines.get(1 + i));
            assertEquals("true", f[12], "certified");
            assertEquals("true", f[13], "converged");
            sum += psnr;
            // the saved 8-bit reconstruction has (nearly) the reported PSNR; quantization changes it by < 0.1 dB
            INDArray clean = Images.read(images.resolve(names[i]), DataType.DOUBLE);
            String stem = names[i].substring(0, names[i].length() - 4);
            INDArray saved = Images.read(save.resolve(stem + ".png"), DataType.DOUBLE);
            assertEquals(psnr, Metrics.psnr(saved, clean), 0.1, names[i]);
            INDArray input = Images.read(save.resolve(stem + ".input.png"), DataType.DOUBLE);
            assertTrue(Metrics.psnr(input, clean) >= inputPsnr - 0.1, "clipping the measurement only helps");
        }
        String[] mean = lines.get(4).split(",", -1);
        assertEquals("mean", mean[0]);
        assertEquals(sum / 3, Double.parseDouble(mean[7]), 1e-9);
        assertTrue(lines.get(3).endsWith("luma Y = 0.299 R + 0.587 G + 0.114 B"), lines.get(3));
        assertEquals(List.of("img0.input.png", "img0.png", "img1.input.png", "img1.png", "zcolour.input.png", "zcolour.png"),
                Tools.listing(save), "no staging folder left behind");
        assertEquals(List.of("results.csv"), Tools.listing(csv.getParent()));
    }

    @Test
    void jsonIsOneDocumentWithPerImageAndMeanResults() throws IOException {
        Path images = Tools.images(tmp.resolve("images"), 2, 16, 1);
        BufferedImage deep = new BufferedImage(16, 16, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                deep.getRaster().setSample(x, y, 0, x < 8 ? 12000 : 50000);
            }
        }
        assertTrue(ImageIO.write(deep, "png", images.resolve("deep.png").toFile()));
        Path model = Tools.quadraticModel(tmp.resolve("q.json"));
        Tools.Run r = Tools.run("eval", "--model", model.toString(), "--images", images.toString(), "--json", "--quiet");
        Tools.assertSuccess(r);
        assertEquals("", r.err(), "--quiet: nothing on stderr");
        JsonNode doc = new ObjectMapper().readTree(r.out());
        assertEquals("eval", doc.get("command").asText());
        assertEquals(3, doc.get("perImage").size());
        assertEquals("deep.png", doc.get("perImage").get(0).get("name").asText());
        assertEquals("16-bit samples scaled to [0, 1] by 1/65535", doc.get("perImage").get(0).get("conversion").asText());
        assertEquals("", doc.get("perImage").get(1).get("conversion").asText());
        double sum = 0;
        double ssim = 0;
        for (JsonNode im : doc.get("perImage")) {
            JsonNode res = im.get("results").get("model");
            sum += res.get("psnr").asDouble();
            ssim += res.get("ssim").asDouble();
            assertTrue(res.get("psnrDeviationBound").asDouble() < 0.01);
            assertTrue(im.get("inputPsnr").asDouble() < res.get("psnr").asDouble());
        }
        assertEquals(sum / 3, doc.get("mean").get("model").get("psnr").asDouble(), 1e-9);
        assertEquals(ssim / 3, doc.get("mean").get("model").get("ssim").asDouble(), 1e-9);
        assertEquals(1e-5, doc.get("solver").get("accuracyRms").asDouble());
        assertTrue(doc.get("noiseSeedRule").asText().contains("Seeds.derive(1, 202, i)"));
    }

    /** The tuned TV baseline alone, and beside a model with the gain column. */
    @Test
    void tvBaselineIsTunedOnTheValidationFolder() throws IOException {
        Path images = Tools.images(tmp.resolve("images"), 1, 16, 20);
        Path validation = Tools.images(tmp.resolve("validation"), 2, 16, 30);
        Tools.Run alone = Tools.run("eval", "--baseline", "tv", "--validation", validation.toString(), "--images",
                images.toString(), "--quiet");
        Tools.assertSuccess(alone);
        assertTrue(alone.out().contains("tv-baseline: TV, λ = "), alone.out());
        assertTrue(alone.out().contains("golden-section steps on log λ"), alone.out());
        assertFalse(alone.out().contains("gain dB"), alone.out());

        Path model = Tools.quadraticModel(tmp.resolve("q.json"));
        Tools.Run both = Tools.run("eval", "--model", model.toString(), "--baseline", "tv", "--validation",
                validation.toString(), "--images", images.toString(), "--json", "--quiet");
        Tools.assertSuccess(both);
        JsonNode doc = new ObjectMapper().readTree(both.out());
        assertEquals(List.of("model", "tv-baseline"), Arrays.asList(new ObjectMapper().treeToValue(doc.get("methods"), String[].class)));
        double lambda = doc.get("baseline").get("lambda").asDouble();
        assertTrue(lambda >= 1e-3 && lambda <= 1, "λ in the search interval: " + lambda);
        for (JsonNode t : doc.get("baseline").get("trials")) {
            assertTrue(doc.get("baseline").get("meanValidationPsnr").asDouble() >= t.get("meanPsnr").asDouble());
        }
    }

    @Test
    void progressBarRedrawsOnATerminal() {
        StringWriter s = new StringWriter();
        Progress p = new Progress(new PrintWriter(s), false, 2, true);
        p.step("a");
        p.step("b");
        p.finish();
        String out = s.toString();
        assertTrue(out.startsWith("\r["), out);
        assertTrue(out.contains("2/2"), out);
        assertTrue(out.endsWith("\n"), "the bar's line is ended");
        StringWriter quiet = new StringWriter();
        Progress q = new Progress(new PrintWriter(quiet), true, 2, true);
        q.step("a");
        q.message("m");
        q.finish();
        assertEquals("", quiet.toString());
    }

    /** Every bad input: exit 2, one line, and no CSV or PNG written. */
    @Test
    void badInputsAreOneLineErrorsAndWriteNothing() throws IOException {
        Path images = Tools.images(tmp.resolve("images"), 2, 16, 1);
        Path model = Tools.tvModel(tmp.resolve("tv.json"));
        Path csv = tmp.resolve("r.csv");
        Path save = tmp.resolve("saved");
        String m = model.toString();
        String im = images.toString();
        String[] outputs = {"--csv", csv.toString(), "--save", save.toString()};

        check(eval(outputs, "--model", m, "--images", tmp.resolve("nope").toString()), "images folder not found", csv, save);
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Files.writeString(empty.resolve("readme.txt"), "not an image");
        check(eval(outputs, "--model", m, "--images", empty.toString()), "contains no images", csv, save);
        check(eval(outputs, "--model", tmp.resolve("missing.json").toString(), "--images", im), "model file not found", csv, save);

        // a corrupt (truncated) image among good ones: refused before anything is computed
        Path bad = Files.createDirectories(tmp.resolve("bad"));
        Tools.images(bad, 2, 16, 5);
        byte[] png = Files.readAllBytes(bad.resolve("img1.png"));
        Files.write(bad.resolve("img1.png"), Arrays.copyOf(png, png.length / 2));
        check(eval(outputs, "--model", m, "--images", bad.toString()), "img1.png", csv, save);

        // a float TIFF holding 0–255 values is not silently rescaled
        Path tif = Files.createDirectories(tmp.resolve("tif"));
        Images.write(tif.resolve("a.tif"), Tools.picture(16, 16, 1).muli(255));
        check(eval(outputs, "--model", m, "--images", tif.toString()), "outside [0, 1]", csv, save);

        Path small = Files.createDirectories(tmp.resolve("small"));
        Images.write(small.resolve("a.png"), Nd4j.rand(DataType.DOUBLE, 8, 8));
        check(eval(outputs, "--model", m, "--images", small.toString()), "at least 11x11", csv, save);

        // model files: truncated, NaN, another format version, unknown type, wrong parameter count, non-finite result
        String text = Files.readString(model);
        Path truncated = tmp.resolve("truncated.json");
        Files.writeString(truncated, text.substring(0, text.length() / 2));
        check(eval(outputs, "--model", truncated.toString(), "--images", im), "corrupt or truncated", csv, save);
        Path nan = tmp.resolve("nan.json");
        Files.writeString(nan, text.replaceFirst("\"theta\" : \\[ [^,]*,", "\"theta\" : [ NaN,"));
        assertTrue(Files.readString(nan).contains("NaN"), "the fixture has a NaN");
        check(eval(outputs, "--model", nan.toString(), "--images", im), "nan.json", csv, save);
        Path nanString = Tools.model(tmp.resolve("nan2.json"), "tv", new double[]{Double.NaN, 0}, Tools.denoise());
        check(eval(outputs, "--model", nanString.toString(), "--images", im), "non-finite parameter", csv, save);
        Path v2 = tmp.resolve("v2.json");
        Files.writeString(v2, text.replace("\"formatVersion\" : 1", "\"formatVersion\" : 2"));
        check(eval(outputs, "--model", v2.toString(), "--images", im), "format version 2", csv, save);
        Path unknown = Tools.model(tmp.resolve("u.json"), "nosuch", new double[]{1}, Tools.denoise());
        check(eval(outputs, "--model", unknown.toString(), "--images", im), "unknown regularizer type 'nosuch'", csv, save);
        Path length = Tools.model(tmp.resolve("l.json"), "tv", new double[]{1, 2, 3}, Tools.denoise());
        check(eval(outputs, "--model", length.toString(), "--images", im), "has 3 parameters", csv, save);
        Path huge = Tools.model(tmp.resolve("h.json"), "tv", new double[]{800, Math.log(0.01)}, Tools.denoise());
        check(eval(outputs, "--model", huge.toString(), "--images", im), "parameters in range", csv, save);

        // option combinations
        check(eval(outputs, "--images", im), "give --model FILE", csv, save);
        check(eval(outputs, "--baseline", "tv", "--images", im), "needs --validation", csv, save);
        check(eval(outputs, "--model", m, "--validation", im, "--images", im), "only used with --baseline", csv, save);
        check(eval(outputs, "--baseline", "bm3d", "--validation", im, "--images", im), "unknown --baseline", csv, save);
        check(eval(outputs, "--model", m, "--images", im, "--operator", "deblur"), "unknown operator 'deblur'", csv, save);
        check(eval(outputs, "--model", m, "--images", im, "--accuracy", "0"), "--accuracy", csv, save);
        check(eval(outputs, "--model", m, "--images", im, "--operator", "inpaint", "--mu", "0"), "--mu", csv, save);
        check(Tools.run("eval", "--model", m, "--images", im, "--save", im), "must not be the --images folder", csv, save);
        check(Tools.run("eval", "--model", m, "--images", im, "--csv", tmp.resolve("no/such/dir/r.csv").toString()),
                "does not exist", csv, save);
        assertEquals(List.of("img0.png", "img1.png"), Tools.listing(images), "the images folder is untouched");
    }

    private static Tools.Run eval(String[] outputs, String... args) {
        String[] all = new String[1 + args.length + outputs.length];
        all[0] = "eval";
        System.arraycopy(args, 0, all, 1, args.length);
        System.arraycopy(outputs, 0, all, 1 + args.length, outputs.length);
        return Tools.run(all);
    }

    private static void check(Tools.Run r, String expected, Path csv, Path save) throws IOException {
        Tools.assertUsageError(r, expected);
        assertFalse(Files.exists(csv), "no CSV after: " + expected);
        assertEquals(List.of(), Tools.listing(save), "nothing saved after: " + expected);
        assertFalse(Files.exists(save), "no --save folder left after: " + expected);
    }
}
