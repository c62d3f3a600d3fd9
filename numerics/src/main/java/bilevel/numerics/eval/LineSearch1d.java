package bilevel.numerics.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * Maximisation of a function of one variable on [lo, hi] by a uniform grid followed by golden-section
 * search, for tuning one hyperparameter (e.g. t = log λ).
 *
 * <ol>
 *   <li><b>Grid.</b> f is evaluated at t_j = lo + j (hi − lo)/(G − 1), j = 0 … G − 1; let j* be the best.</li>
 *   <li><b>Golden section.</b> On the bracket [t_{j*−1}, t_{j*+1}] (clamped to [lo, hi]) the standard
 *       golden-section search with ratio φ⁻¹ = (√5 − 1)/2 runs for S steps: it keeps two interior points
 *       c &lt; d, drops [a, c) when f(c) &lt; f(d) and (d, b] otherwise, reusing one function value per step.
 *       If f is unimodal on the bracket, its maximiser lies in the final interval, whose width is
 *       (bracket width)·φ^{−S}.</li>
 *   <li>The result is the best point of all evaluations (grid and golden section), so it is never worse
 *       than the grid's best, whatever the shape of f.</li>
 * </ol>
 * Cost: G + S + 1 evaluations (S + 2 golden-section points, one of which may coincide with neither grid point).
 */
public final class LineSearch1d {

    /** φ⁻¹ = (√5 − 1)/2. */
    public static final double INVERSE_GOLDEN_RATIO = (Math.sqrt(5) - 1) / 2;

    /** One evaluation. */
    public record Point(double t, double value) {
    }

    /**
     * @param best        the evaluated point with the largest value (the first one on ties)
     * @param bracketLo   lower end of the final golden-section interval
     * @param bracketHi   upper end of the final golden-section interval
     * @param evaluations every evaluation in order (grid first)
     */
    public record Result(Point best, double bracketLo, double bracketHi, List<Point> evaluations) {
        public Result {
            evaluations = List.copyOf(evaluations);
        }
    }

    private LineSearch1d() {
    }

    /**
     * Maximises f on [lo, hi] as described in the class comment.
     *
     * @param gridPoints   G ≥ 2
     * @param goldenSteps  S ≥ 0
     * @throws IllegalArgumentException on bad arguments; a NaN value of f counts as −∞
     */
    public static Result maximize(DoubleUnaryOperator f, double lo, double hi, int gridPoints, int goldenSteps) {
        if (!(lo < hi) || !Double.isFinite(lo) || !Double.isFinite(hi)) {
            throw new IllegalArgumentException("need finite lo < hi, got [" + lo + ", " + hi + "]");
        }
        if (gridPoints < 2 || goldenSteps < 0) {
            throw new IllegalArgumentException("need at least 2 grid points and 0 golden-section steps, got "
                    + gridPoints + " and " + goldenSteps);
        }
        List<Point> all = new ArrayList<>();
        double h = (hi - lo) / (gridPoints - 1);
        int bestIndex = 0;
        for (int j = 0; j < gridPoints; j++) {
            double t = j == gridPoints - 1 ? hi : lo + j * h;
            all.add(new Point(t, value(f, t)));
            if (all.get(j).value() > all.get(bestIndex).value()) {
                bestIndex = j;
            }
        }
        double a = all.get(Math.max(0, bestIndex - 1)).t();
        double b = all.get(Math.min(gridPoints - 1, bestIndex + 1)).t();
        if (goldenSteps > 0) {
            double c = b - INVERSE_GOLDEN_RATIO * (b - a);
            double d = a + INVERSE_GOLDEN_RATIO * (b - a);
            double fc = record(all, f, c);
            double fd = record(all, f, d);
            for (int s = 0; s < goldenSteps; s++) {
                if (fc < fd) {          // the maximiser of a unimodal f is not in [a, c)
                    a = c;
                    c = d;
                    fc = fd;
                    d = a + INVERSE_GOLDEN_RATIO * (b - a);
                    if (s < goldenSteps - 1) {
                        fd = record(all, f, d);
                    }
                } else {                // not in (d, b]
                    b = d;
                    d = c;
                    fd = fc;
                    c = b - INVERSE_GOLDEN_RATIO * (b - a);
                    if (s < goldenSteps - 1) {
                        fc = record(all, f, c);
                    }
                }
            }
        }
        Point best = all.get(0);
        for (Point p : all) {
            if (p.value() > best.value()) {
                best = p;
            }
        }
        return new Result(best, a, b, all);
    }

    private static double record(List<Point> all, DoubleUnaryOperator f, double t) {
        double v = value(f, t);
        all.add(new Point(t, v));
        return v;
    }

    private static double value(DoubleUnaryOperator f, double t) {
        double v = f.applyAsDouble(t);
        return Double.isNaN(v) ? Double.NEGATIVE_INFINITY : v;
    }
}
