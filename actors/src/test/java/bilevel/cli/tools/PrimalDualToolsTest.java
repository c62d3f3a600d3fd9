package bilevel.cli.tools;

import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.hypergradient.ImplicitMethod;
import bilevel.numerics.hypergradient.SolveStatistics;
import bilevel.numerics.hypergradient.WarmStart;
import bilevel.numerics.image.Images;
import bilevel.numerics.image.Metrics;
import bilevel.numerics.image.Noise;
import bilevel.numerics.operators.Identity;
import bilevel.numerics.primaldual.PrimalDualModel;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.ModelFile;
import bilevel.numerics.train.RegularizerFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A learned primal–dual model goes through the tools: the trainer saves it, the model file loads back into the
 * same family and θ, {@code eval} reconstructs by PDHG to a certified accuracy, {@code reconstruct} agrees with
 * FISTA on the equivalent smooth primal problem, and {@code report} draws it.
 */
class PrimalDualToolsTest {
    @TempDir
    Path tmp;

    @Test
    void aTrainedModelSavesLoadsEvaluatesAndIsReported() throws IOException {
        Path run = Tools.tinyRun(tmp.resolve("run"), "pd-filters", Map.of("filters", 2, "size", 3));
        Files.writeString(run.resolve("config.conf"), "# effective configuration\nbilevel { seed = 3 }\n");
        Path model = run.resolve("model.json");
        ModelFile file = ModelFile.read(model);
        LoadedModel loaded = LoadedModel.read(model);
        assertTrue(loaded.family() instanceof PrimalDualModel, loaded.family().getClass().toString());
        assertEquals("pd-filters", loaded.family().type());
        assertEquals(Map.of("filters", 2, "size", 3, "smoothing", RegularizerFactory.DEFAULT_PD_SMOOTHING), file.options());
        assertArrayEquals(file.theta(), loaded.theta(), 0.0);

        Path images = Tools.images(tmp.resolve("images"), 2, 24, 4);
        Tools.Run r = Tools.run("eval", "--model", model.toString(), "--images", images.toString(), "--json", "--quiet");
        Tools.assertSuccess(r);
        JsonNode doc = new ObjectMapper().readTree(r.out());
        assertEquals("pdhg", doc.get("solver").get("method").asText(), r.out());
        Tools.Run table = Tools.run("eval", "--model", model.toString(), "--images", images.toString(), "--quiet");
        Tools.assertSuccess(table);
        assertTrue(table.out().contains("PDHG until") && table.out().contains("(certified)"), table.out());

        Tools.Run report = Tools.run("report", run.toString(), "--images", "1", "--quiet");
        Tools.assertSuccess(report);
        String html = Files.readString(run.resolve("report.html"));
        assertTrue(html.contains("pd-filters") && html.contains("PDHG"), "report names the model and its solver");
    }

    /** reconstruct solves the saddle point by PDHG; FISTA on the smooth primal problem finds the same x̂. */
    @Test
    void reconstructAgreesWithFistaOnTheEquivalentPrimalProblem() throws IOException {
        double[] theta = {Math.log(0.08)};
        Path model = tmp.resolve("pd-tv.json");
        Tools.model(model, "pd-tv", theta, Tools.denoise());
        INDArray clean = Tools.picture(20, 20, 3);
        INDArray noisy = Noise.addGaussian(clean, 25, 9);
        Path in = tmp.resolve("noisy.tif");
        Images.write(in, noisy);
        Path out = tmp.resolve("clean.tif");
        Tools.Run r = Tools.run("reconstruct", "--model", model.toString(), "--in", in.toString(), "--out", out.toString(),
                "--accuracy", "1e-7");
        Tools.assertSuccess(r);
        assertTrue(r.out().contains("by PDHG") && r.out().contains("certified"), r.out());
        INDArray x = Images.read(out, DataType.DOUBLE);
        assertTrue(Metrics.psnr(x, clean) > Metrics.psnr(noisy, clean) + 3, "denoised");

        INDArray y = Images.read(in, DataType.DOUBLE);
        Regularizer family = RegularizerFactory.create("pd-tv", Map.of());
        try (Regularizer.Instance inst = family.bind(theta, DataType.DOUBLE);
             WarmStart fista = new ImplicitMethod(100_000, 1).newWarmStart(y.shape(), DataType.DOUBLE)) {
            fista.primal().assign(y);
            SolveStatistics s = new ImplicitMethod(100_000, 1).solveLowerLevel(inst, new Identity(), y, Tools.denoise().mu(),
                    fista, 1e-7, 100_000);
            assertTrue(s.converged() && s.certified(), s.toString());
            // both within 1e-7·20 (PDHG) and 1e-7 (FISTA) of the same minimiser; the TIFF stores floats
            assertEquals(0.0, fista.primal().distance2(x), 1e-7 * 20 + 1e-7 + 1e-6 * 20);
            Evaluator ev = new Evaluator(Tools.denoise(), new Evaluator.Settings(1e-7, 100_000, DataType.DOUBLE));
            try (INDArray direct = y.dup()) {
                Evaluator.Solve d = ev.solve(inst, new Identity(), y, direct);
                assertTrue(d.converged() && d.certified());
                assertEquals(0.0, direct.distance2(fista.primal()), 1e-7 * 20 + 1e-7);
            }
        }
    }
}
