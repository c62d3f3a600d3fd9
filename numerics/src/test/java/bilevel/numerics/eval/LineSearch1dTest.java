package bilevel.numerics.eval;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LineSearch1dTest {

    /** For a unimodal f the maximiser lies in the final bracket, of width (2h)·φ^{−S}, h the grid spacing. */
    @Test
    void findsTheMaximiserOfUnimodalFunctionsToTheStatedInterval() {
        Random r = new Random(1);
        for (int trial = 0; trial < 200; trial++) {
            double lo = -3 + r.nextDouble();
            double hi = lo + 1 + 5 * r.nextDouble();
            double star = lo + (hi - lo) * r.nextDouble();
            int grid = 2 + r.nextInt(9);
            int steps = r.nextInt(25);
            double scale = 0.1 + r.nextDouble();
            // unimodal but not symmetric: a quadratic on one side, |t|^1.5 on the other
            LineSearch1d.Result res = LineSearch1d.maximize(
                    t -> t < star ? -scale * (star - t) * (star - t) : -Math.pow(t - star, 1.5), lo, hi, grid, steps);
            double h = (hi - lo) / (grid - 1);
            double width = 2 * h * Math.pow(LineSearch1d.INVERSE_GOLDEN_RATIO, steps);
            assertTrue(res.bracketLo() <= star + 1e-12 && star <= res.bracketHi() + 1e-12,
                    "maximiser " + star + " outside final bracket [" + res.bracketLo() + ", " + res.bracketHi() + "]");
            assertTrue(res.bracketHi() - res.bracketLo() <= width * (1 + 1e-9), "bracket width");
            for (LineSearch1d.Point p : res.evaluations()) {
                assertTrue(res.best().value() >= p.value(), "best is the best evaluation");
            }
            assertEquals(grid + (steps > 0 ? steps + 1 : 0), res.evaluations().size(), "evaluation count");
        }
    }

    @Test
    void maximiserAtTheEndOfTheInterval() {
        LineSearch1d.Result res = LineSearch1d.maximize(t -> t, 0, 1, 5, 12);
        assertEquals(1.0, res.best().t(), 0.0, "the grid includes hi exactly");
        LineSearch1d.Result low = LineSearch1d.maximize(t -> -t, 0, 1, 5, 12);
        assertEquals(0.0, low.best().t(), 0.0);
    }

    @Test
    void nonUnimodalFunctionsStillGiveTheBestEvaluation() {
        AtomicInteger calls = new AtomicInteger();
        LineSearch1d.Result res = LineSearch1d.maximize(t -> {
            calls.incrementAndGet();
            return Math.sin(7 * t) + (Double.compare(t, 0.5) == 0 ? Double.NaN : 0);
        }, 0, 3, 7, 6);
        assertEquals(calls.get(), res.evaluations().size());
        double best = res.evaluations().stream().mapToDouble(LineSearch1d.Point::value).max().orElseThrow();
        assertEquals(best, res.best().value(), 0.0);
        assertTrue(res.evaluations().stream().noneMatch(p -> Double.isNaN(p.value())), "NaN counts as −∞");
    }

    @Test
    void badArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> LineSearch1d.maximize(t -> t, 1, 1, 3, 1));
        assertThrows(IllegalArgumentException.class, () -> LineSearch1d.maximize(t -> t, 0, 1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> LineSearch1d.maximize(t -> t, 0, 1, 3, -1));
        assertThrows(IllegalArgumentException.class, () -> LineSearch1d.maximize(t -> t, 0, Double.NaN, 3, 1));
    }
}
