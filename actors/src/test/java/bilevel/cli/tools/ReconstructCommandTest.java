package bilevel.cli.tools;

import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.image.Images;
import bilevel.numerics.image.Metrics;
import bilevel.numerics.image.Noise;
import bilevel.numerics.operators.Identity;
import bilevel.numerics.operators.Inpainting;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReconstructCommandTest {
    @TempDir
    Path tmp;

    /** The command solves the stated problem: its TIFF output equals a direct solve with the model's θ and μ. */
    @Test
    void denoisesAUsersImageAsTheLowerLevelSays() throws IOException {
        INDArray clean = Tools.picture(20, 20, 3);
        INDArray noisy = Noise.addGaussian(clean, 25, 9);
        Path in = tmp.resolve("noisy.tif");
        Images.write(in, noisy);
        Path model = Tools.tvModel(tmp.resolve("tv.json"));
        Path out = tmp.resolve("clean.tif");
        Tools.Run r = Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--out", out.toString(),
                "--accuracy", "1e-7");
        Tools.assertSuccess(r);
        assertTrue(r.out().contains("certified") && r.out().contains("wrote " + out), r.out());
        INDArray x = Images.read(out, DataType.DOUBLE);
        assertTrue(Metrics.psnr(x, clean) > Metrics.psnr(noisy, clean) + 3, "denoised");

        Evaluator ev = new Evaluator(Tools.denoise(), new Evaluator.Settings(1e-7, 10000, DataType.DOUBLE));
        INDArray y = Images.read(in, DataType.DOUBLE);
        try (Regularizer.Instance inst = new TotalVariation().bind(new double[]{Math.log(0.08), Math.log(0.01)}, DataType.DOUBLE);
             INDArray direct = y.dup()) {
            Evaluator.Solve s = ev.solve(inst, new Identity(), y, direct);
            assertTrue(s.converged());
            // both are within 1e-7·20 of the same minimiser; the TIFF stores floats (relative rounding 6e-8)
            assertEquals(0.0, direct.distance2(x), 2 * 1e-7 * 20 + 1e-6 * 20);
        }
    }

    /** Inpainting with a mask: missing pixels are filled in, observed ones stay close to the data. */
    @Test
    void inpaintsWithAMask() throws IOException {
        INDArray clean = Tools.picture(24, 24, 4);
        Inpainting a = Inpainting.random(24, 24, 0.3, 5);
        INDArray masked = Nd4j.create(DataType.DOUBLE, 24, 24);
        a.apply(clean, masked);
        INDArray input = masked.dup();
        INDArray maskArray = a.mask();
        for (int i = 0; i < 24 * 24; i++) {
            if (maskArray.getDouble(i) == 0) {
                input.putScalar(i, 0.77);    // garbage at missing pixels: must be ignored
            }
        }
        Path in = tmp.resolve("holes.png");
        Images.write(in, input);
        Path mask = tmp.resolve("mask.png");
        Images.write(mask, maskArray);
        Path model = Tools.model(tmp.resolve("tv.json"), "tv", new double[]{Math.log(0.02), Math.log(0.01)},
                new bilevel.numerics.train.TrainingSpec.ProblemSpec("inpaint", 0, 1e-3, 3, 1.0, 0.3));
        Path out = tmp.resolve("filled.png");
        Tools.Run r = Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--mask", mask.toString(),
                "--out", out.toString());
        Tools.assertSuccess(r);
        INDArray x = Images.read(out, DataType.DOUBLE);
        INDArray zeroFilled = Images.read(in, DataType.DOUBLE).muli(maskArray);
        assertTrue(Metrics.psnr(x, clean) > Metrics.psnr(zeroFilled, clean) + 5,
                "filled " + Metrics.psnr(x, clean) + " dB vs zero-filled " + Metrics.psnr(zeroFilled, clean) + " dB");

        Path out2 = tmp.resolve("again.png");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--out",
                out2.toString()), "needs --mask IMG");
        Path wrongSize = tmp.resolve("wrong.png");
        Images.write(wrongSize, Nd4j.ones(DataType.DOUBLE, 20, 24));
        Tools.assertUsageError(Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--mask",
                wrongSize.toString(), "--out", out2.toString()), "is 20x24 but the input");
        Path gray = tmp.resolve("gray.png");
        Images.write(gray, Nd4j.ones(DataType.DOUBLE, 24, 24).muli(0.5));
        Tools.assertUsageError(Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--mask",
                gray.toString(), "--out", out2.toString()), "must be black (0 = missing) and white (1 = observed)");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--mask",
                mask.toString(), "--operator", "denoise", "--out", out2.toString()), "--mask is only used for inpainting");
        assertFalse(Files.exists(out2));
    }

    @Test
    void notesColourConversionAndANoiseLevelOtherThanTheModels() throws IOException {
        BufferedImage rgb = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        rgb.setRGB(3, 3, 0xFF0000);
        Path in = tmp.resolve("c.png");
        ImageIO.write(rgb, "png", in.toFile());
        Path model = Tools.quadraticModel(tmp.resolve("q.json"));
        Path out = tmp.resolve("o.png");
        Tools.Run r = Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--out", out.toString(),
                "--sigma", "15");
        Tools.assertSuccess(r);
        assertTrue(r.out().contains("note: c.png: RGB colour converted to gray by luma"), r.out());
        assertTrue(r.out().contains("σ = 15 differs from the model's training σ = 25"), r.out());
        assertTrue(Files.exists(out));
    }

    @Test
    void badInputsAreOneLineErrorsAndWriteNothing() throws IOException {
        Path in = tmp.resolve("in.png");
        Images.write(in, Tools.picture(16, 16, 1));
        Path model = Tools.tvModel(tmp.resolve("tv.json"));
        Path out = tmp.resolve("out.png");
        String m = model.toString();
        Tools.assertUsageError(Tools.run("reconstruct", "--model", m, "--in", tmp.resolve("none.png").toString(), "--out",
                out.toString()), "file not found");
        Path junk = tmp.resolve("junk.png");
        Files.writeString(junk, "this is not a PNG");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", m, "--in", junk.toString(), "--out", out.toString()),
                "junk.png");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", m, "--in", in.toString(), "--out",
                tmp.resolve("out.bmp").toString()), "unsupported extension");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", m, "--in", in.toString(), "--out",
                tmp.resolve("no/dir/out.png").toString()), "does not exist");
        String text = Files.readString(model);
        Path truncated = tmp.resolve("t.json");
        Files.writeString(truncated, text.substring(0, 40));
        Tools.assertUsageError(Tools.run("reconstruct", "--model", truncated.toString(), "--in", in.toString(), "--out",
                out.toString()), "corrupt or truncated");
        Path nan = Tools.model(tmp.resolve("nan.json"), "tv", new double[]{0, Double.NaN}, Tools.denoise());
        Tools.assertUsageError(Tools.run("reconstruct", "--model", nan.toString(), "--in", in.toString(), "--out",
                out.toString()), "non-finite parameter theta[1]");
        Tools.assertUsageError(Tools.run("reconstruct", "--model", m, "--in", in.toString()), "--out");
        assertEquals(List.of("in.png", "junk.png", "nan.json", "t.json", "tv.json"), Tools.listing(tmp));
    }
}
