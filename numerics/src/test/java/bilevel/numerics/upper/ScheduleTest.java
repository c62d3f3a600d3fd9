package bilevel.numerics.upper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScheduleTest {

    @Test
    void constantIsConstant() {
        Schedule s = new Schedule.Constant(0.1);
        for (long k : new long[]{0, 1, 7, 1_000_000_000_000L}) {
            assertEquals(0.1, s.at(k), 0.0);
        }
    }

    @Test
    void polynomialMatchesFormula() {
        Schedule s = new Schedule.Polynomial(0.1, 0.5);
        assertEquals(0.1, s.at(0), 0.0);
        assertEquals(0.1 / Math.sqrt(2), s.at(1), 1e-16);
        assertEquals(0.1 / 10, s.at(99), 1e-16);
        Schedule cubicRoot = new Schedule.Polynomial(2.0, 1.0 / 3);
        assertEquals(2.0 / 3, cubicRoot.at(26), 1e-15); // 27^(1/3) = 3
    }

    @Test
    void logarithmicStartsAtA0AndUsesTheShiftedLog() {
        Schedule s = new Schedule.Logarithmic(0.1, 1);
        assertEquals(0.1, s.at(0), 1e-17); // ln(e) = 1: the documented shift
        assertEquals(0.1 / Math.log(1 + Math.E), s.at(1), 1e-16);
        Schedule q2 = new Schedule.Logarithmic(3, 2);
        double l = Math.log(1000 + Math.E);
        assertEquals(3 / (l * l), q2.at(1000), 1e-15);
        for (long k = 0; k < 50; k++) {
            assertTrue(s.at(k + 1) < s.at(k), "logarithmic schedule must decrease");
        }
    }

    @Test
    void geometricWithAndWithoutFloor() {
        Schedule s = new Schedule.Geometric(1e-2, 0.9);
        assertEquals(1e-2, s.at(0), 0.0);
        assertEquals(1e-2 * 0.9 * 0.9 * 0.9, s.at(3), 1e-17);
        Schedule floored = new Schedule.Geometric(1e-2, 0.9, 1e-6);
        long kCross = (long) Math.ceil(Math.log(1e-6 / 1e-2) / Math.log(0.9)); // first k with 0.01·0.9^k ≤ 1e-6
        assertEquals(1e-6, floored.at(kCross + 5), 0.0);
        assertEquals(1e-2 * Math.pow(0.9, kCross - 1), floored.at(kCross - 1), 1e-18);
        assertTrue(floored.at(kCross - 1) > 1e-6);
        assertEquals(1e-6, floored.at(Long.MAX_VALUE), 0.0);
    }

    @Test
    void tiedToleranceIsAMultipleOfTheAccuracy() {
        Schedule eps = Schedule.parse("poly:0.1:0.25");
        Schedule delta = Schedule.parseTied("tied:0.5", eps);
        Schedule.Scaled scaled = assertInstanceOf(Schedule.Scaled.class, delta);
        assertSame(eps, scaled.base());
        for (long k = 0; k < 20; k++) {
            assertEquals(0.5 * eps.at(k), delta.at(k), 0.0);
        }
        // a tolerance can also have its own schedule
        assertEquals(new Schedule.Constant(1e-3), Schedule.parseTied("constant:1e-3", eps));
    }

    @Test
    void optimalPresetsAreTheTheoryPair() {
        Schedule alpha = Schedule.optimalStepSize(0.3);
        Schedule eps = Schedule.optimalAccuracy(0.2);
        for (long k = 0; k < 100; k++) {
            assertEquals(0.3 / Math.sqrt(k + 1), alpha.at(k), 1e-15);
            assertEquals(0.2 * Math.pow(k + 1, -0.25), eps.at(k), 1e-15);
        }
        assertEquals(alpha, Schedule.parse("optimal-step:0.3"));
        assertEquals(eps, Schedule.parse("optimal-accuracy:0.2"));
    }

    @Test
    void parsesSpecsAndRoundTrips() {
        assertEquals(new Schedule.Constant(0.1), Schedule.parse("constant:0.1"));
        assertEquals(new Schedule.Polynomial(0.1, 0.5), Schedule.parse("poly:0.1:0.5"));
        assertEquals(new Schedule.Logarithmic(0.1, 1), Schedule.parse("log:0.1:1"));
        assertEquals(new Schedule.Geometric(1e-2, 0.9, 0), Schedule.parse("geometric:1e-2:0.9"));
        assertEquals(new Schedule.Geometric(1e-2, 0.9, 1e-6), Schedule.parse("geometric:1e-2:0.9:1e-6"));
        assertEquals(new Schedule.Polynomial(0.1, 0.5), Schedule.parse("  Polynomial : 0.1 : 0.5 "));
        for (Schedule s : new Schedule[]{new Schedule.Constant(0.25), new Schedule.Polynomial(1e-3, 0.75),
                new Schedule.Logarithmic(2, 0.5), new Schedule.Geometric(1, 0.5), new Schedule.Geometric(1, 0.5, 1e-3)}) {
            assertEquals(s, Schedule.parse(s.spec()), s.spec());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "constant", "constant:", "constant:abc", "constant:0", "constant:-1",
            "constant:NaN", "constant:Infinity", "constant:1:2", "poly:0.1", "poly:0.1:-0.5", "poly:0.1:0.5:3",
            "log:0:1", "geometric:1e-2", "geometric:1e-2:1.5", "geometric:1e-2:0", "geometric:1e-2:0.9:1",
            "geometric:1e-2:0.9:-1", "cosine:0.1", "tied:0.5", "optimal-step", "optimal-step:0.1:0.5", "poly:0.1:\n0.5:1", "poly:0.1:0.\n5"})
    void badSpecsThrowWithAOneLineMessage(String spec) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedule.parse(spec));
        assertTrue(e.getMessage().contains("bad schedule spec"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "message must be one line: " + e.getMessage());
    }

    @Test
    void nullSpecAndNegativeIndexAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Schedule.parse(null));
        assertThrows(IllegalArgumentException.class, () -> new Schedule.Constant(1).at(-1));
        assertThrows(IllegalArgumentException.class, () -> Schedule.parseTied("tied:-1", new Schedule.Constant(1)));
    }
}
