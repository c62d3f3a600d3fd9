package bilevel.numerics.regularizers;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RegistryTest {

    private static Registry testRegistry() {
        Map<String, Supplier<Regularizer>> m = new LinkedHashMap<>();
        m.put("sqnorm", ScaledSquaredNorm::new);
        return new Registry(m);
    }

    /** Names are what users type and what model files record: they must equal the family's type(). */
    private static void assertNamesMatchTypesAndDefaultsAreFeasible(Registry registry) {
        for (String name : registry.names()) {
            Regularizer r = registry.create(name);
            assertEquals(name, r.type(), "registry name and Regularizer.type() differ");
            double[] theta0 = r.initialTheta(0);
            assertEquals(r.numParams(), theta0.length, name + ": initialTheta has the wrong length");
            assertArrayEquals(theta0, r.project(theta0), 1e-12, name + ": initialTheta is not feasible");
        }
    }

    @Test
    void standardRegistryNamesMatchTypes() {
        assertNamesMatchTypesAndDefaultsAreFeasible(Registry.standard());
    }

    @Test
    void testRegistryCreatesFreshFamiliesInOrder() {
        Registry registry = testRegistry();
        assertNamesMatchTypesAndDefaultsAreFeasible(registry);
        assertEquals(List.of("sqnorm"), registry.names());
        assertTrue(registry.contains("sqnorm"));
        assertFalse(registry.isEmpty());
        assertNotSame(registry.create("sqnorm"), registry.create("sqnorm"));
    }

    @Test
    void unknownNameListsTheKnownOnesOnOneLine() {
        var e = assertThrows(Registry.UnknownRegularizerException.class, () -> testRegistry().create("foo"));
        assertEquals("unknown regularizer 'foo'; known: sqnorm", e.getMessage());
        assertEquals(List.of("sqnorm"), e.known());
        var empty = assertThrows(Registry.UnknownRegularizerException.class, () -> new Registry(Map.of()).create("tv"));
        assertTrue(empty.getMessage().startsWith("unknown regularizer 'tv'; known: none"), empty.getMessage());
        assertFalse(empty.getMessage().contains("\n"));
    }

    @Test
    void namesThatCannotBeTypedAreRejected() {
        for (String bad : new String[]{"", " tv", "a b", "tv,foe"}) {
            assertThrows(IllegalArgumentException.class, () -> new Registry(Map.of(bad, ScaledSquaredNorm::new)), bad);
        }
    }
}
