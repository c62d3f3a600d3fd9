package bilevel.numerics.train;

import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.Regularizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The FoE options (filters, size, potential) of {@link RegularizerFactory}, and their model file round trip. */
class RegularizerFactoryFoeTest {

    @TempDir
    Path dir;

    private static FieldsOfExperts foe(Map<String, Object> options) {
        Regularizer r = RegularizerFactory.create("foe", options);
        return (FieldsOfExperts) r;
    }

    @Test
    void potentialOptionDefaultsToCharbonnier() {
        FieldsOfExperts d = foe(Map.of());
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, d.potential());
        assertEquals(48, d.filters());
        assertEquals(7, d.size());
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, foe(Map.of("potential", "charbonnier")).potential());
        FieldsOfExperts lc = foe(Map.of("filters", 6, "size", 3, "potential", "logcosh"));
        assertEquals(FieldsOfExperts.Potential.LOGCOSH, lc.potential());
        assertEquals(6, lc.filters());
        assertEquals(3, lc.size());
        assertEquals(foe(Map.of("filters", 6, "size", 3)).numParams(), lc.numParams());
    }

    @Test
    void badPotentialIsOneClearError() {
        for (Object bad : new Object[] {"LogCosh", "huber", "", 3}) {
            TrainingException e = assertThrows(TrainingException.class, () -> foe(Map.of("potential", bad)));
            assertEquals("option 'potential' of regularizer 'foe' must be one of charbonnier, logcosh, got '" + bad + "'",
                    e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
        TrainingException e = assertThrows(TrainingException.class, () -> RegularizerFactory.create("foe", Map.of("potental", "logcosh")));
        assertEquals("unknown option(s) [potental] for regularizer 'foe' (known: filters, size, potential)", e.getMessage());
        // other families do not take it
        assertThrows(TrainingException.class, () -> RegularizerFactory.create("crr", Map.of("potential", "logcosh")));
    }

    @Test
    void modelFileRoundTripKeepsThePotential() {
        Map<String, Object> options = Map.of("filters", 4, "size", 3, "potential", "logcosh");
        FieldsOfExperts family = foe(options);
        double[] theta = family.initialTheta(7);
        Path file = dir.resolve("model.json");
        ModelFile.of("foe", options, theta, new TrainingSpec.ProblemSpec("denoise", 25, 1e-4, 3, 1.0, 0.3),
                "sha256:test", 7, Map.of("steps", 0), null).write(file);
        ModelFile read = ModelFile.read(file);
        assertEquals("foe", read.type());
        assertEquals(options, read.options());
        assertArrayEquals(theta, read.theta(), 0.0);
        FieldsOfExperts again = foe(read.options());
        assertEquals(FieldsOfExperts.Potential.LOGCOSH, again.potential());
        assertEquals(4, again.filters());
        assertEquals(3, again.size());
        // a model without the key (every existing file) is Charbonnier
        Path old = dir.resolve("old.json");
        ModelFile.of("foe", Map.of("filters", 4, "size", 3), theta, new TrainingSpec.ProblemSpec("denoise", 25, 1e-4, 3, 1.0, 0.3),
                "sha256:test", 7, Map.of("steps", 0), null).write(old);
        assertEquals(FieldsOfExperts.Potential.CHARBONNIER, foe(ModelFile.read(old).options()).potential());
    }

    @Test
    void resolvedOptionsKeepThePotential() {
        // what the trainer writes into model.json: every structural key, the potential included
        assertEquals(Map.of("filters", 48, "size", 7, "potential", "logcosh"),
                RegularizerFactory.resolvedOptions("foe", Map.of("potential", "logcosh")));
        assertEquals(Map.of("filters", 6, "size", 3, "potential", "charbonnier"),
                RegularizerFactory.resolvedOptions("foe", Map.of("filters", 6, "size", 3)));
    }
}
