package bilevel.numerics.train;

import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.Regularizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code regularizer.init-model}: same structure (θ as stored), a smaller FoE (embedded), anything else refused. */
class InitModelTest {

    @TempDir
    Path dir;

    private Path model(String name, Map<String, Object> options, double[] theta) {
        TrainingSpec base = TrainingFixtures.spec("foe", options, "adam", 1, 0, 1, "denoise");
        Path file = dir.resolve(name);
        ModelFile.of("foe", options, theta, base.problem(), "sha256:test", 1, Map.of(), base).write(file);
        return file;
    }

    private static ReferenceTrainer trainer(Map<String, Object> options, Path init) {
        TrainingSpec s = TrainingFixtures.spec("foe", options, "adam", 4, 0, 1, "denoise");
        TrainingSpec spec = new TrainingSpec(s.seed(), s.dtype(), new TrainingSpec.RegularizerSpec("foe", options, init.toString()),
                s.problem(), s.data(), s.train());
        return new ReferenceTrainer(spec, m -> { });
    }

    @Test
    void aSmallerFoeStartsALargerOneAsTheSameModel() {
        FieldsOfExperts small = new FieldsOfExperts(3, 3);
        double[] theta = small.initialTheta(7);
        theta[small.numParams() - 1] = Math.log(0.05);
        theta = small.project(theta);
        Path file = model("small.json", Map.of("filters", 3, "size", 3), theta);

        Map<String, Object> same = Map.of("filters", 3, "size", 3);
        Regularizer reg = RegularizerFactory.create("foe", same);
        assertArrayEquals(small.project(theta), trainer(same, file).initialTheta(reg), 0.0);

        Map<String, Object> larger = Map.of("filters", 3, "size", 5);
        FieldsOfExperts large = (FieldsOfExperts) RegularizerFactory.create("foe", larger);
        double[] grown = trainer(larger, file).initialTheta(large);
        assertArrayEquals(large.embed(small, theta, 4).orElseThrow(), grown, 0.0);
        for (int a = 0; a < 5; a++) {
            for (int b = 0; b < 5; b++) {
                boolean inside = a >= 1 && a <= 3 && b >= 1 && b <= 3;
                assertEquals(inside ? theta[(a - 1) * 3 + (b - 1)] : 0.0, grown[a * 5 + b], 0.0, "filter 0 tap " + a + "," + b);
            }
        }
        assertEquals(theta[small.numParams() - 1], grown[large.numParams() - 1], 0.0);
    }

    @Test
    void aLargerOrOddlyShapedModelIsRefusedWithBothShapes() {
        FieldsOfExperts big = new FieldsOfExperts(4, 5);
        Path file = model("big.json", Map.of("filters", 4, "size", 5), big.initialTheta(1));
        for (Map<String, Object> options : java.util.List.<Map<String, Object>>of(Map.of("filters", 3, "size", 5),
                Map.of("filters", 4, "size", 3))) {
            Regularizer reg = RegularizerFactory.create("foe", options);
            TrainingException e = assertThrows(TrainingException.class, () -> trainer(options, file).initialTheta(reg));
            assertTrue(e.getMessage().contains("cannot start from it") && e.getMessage().contains("filters"), e.getMessage());
        }
    }
}
