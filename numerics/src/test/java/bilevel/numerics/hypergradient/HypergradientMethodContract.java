package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.Dense;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract every {@link HypergradientMethod} test extends, on a tiny problem in double precision: z agrees
 * with central finite differences of f(θ) = ‖x*(θ) − x†‖² (x* solved to 1e-12 by the method's own lower-level
 * solver), the bound is never below the true error over a grid of tolerances and two θ, every result reports
 * positive iteration counts and the accuracies it reached, a warm start reduces the work, a warm start
 * restored from its arrays continues bit for bit, and the lower-level solve certifies its distance.
 */
public abstract class HypergradientMethodContract {
    protected static final double TIGHT = 1e-12;

    /** The method under test (with iteration caps large enough for TIGHT on the tiny problem). */
    protected abstract HypergradientMethod method();

    /** The model family the method differentiates. */
    protected abstract Regularizer family();

    /** The training pair (8×8 or so, double). */
    protected abstract BilevelFixture fixture();

    /** μ of the lower level. */
    protected abstract double mu();

    /** Two feasible parameter vectors to test at (different activity patterns where that matters). */
    protected abstract double[][] thetas();

    private HypergradientMethod.Sample sample(BilevelFixture f) {
        return new HypergradientMethod.Sample(f.target(), f.data(), f.operator, mu());
    }

    /** z at θ from the given warm start (null: cold). */
    protected HypergradientMethod.Result compute(BilevelFixture f, double[] theta, double eps, double delta, WarmStart warm) {
        try (Regularizer.Instance model = family().bind(theta, DataType.DOUBLE)) {
            assertTrue(method().accepts(model));
            return method().compute(model, sample(f), eps, delta, warm);
        }
    }

    private Hypergradient cold(BilevelFixture f, double[] theta, double eps, double delta) {
        HypergradientMethod.Result r = compute(f, theta, eps, delta, null);
        r.warmStart().close();
        return r.hypergradient();
    }

    /** {f(θ), bound on its error} with x* solved to TIGHT by the method's lower-level solver. */
    private double[] upperObjective(BilevelFixture f, double[] theta) {
        try (Regularizer.Instance model = family().bind(theta, DataType.DOUBLE);
             WarmStart state = method().newWarmStart(f.shape(), DataType.DOUBLE)) {
            SolveStatistics s = method().solveLowerLevel(model, f.operator, f.data(), mu(), state, TIGHT, 10_000_000);
            assertTrue(s.converged() && s.certified(), "reference solve: " + s);
            double dist = Dense.norm(Dense.minus(Dense.vector(state.primal()), f.clean));
            double e = s.accuracy();
            return new double[]{dist * dist, (2 * dist + e) * e};
        }
    }

    @Test
    void matchesCentralFiniteDifferencesOfTheUpperObjective() {
        BilevelFixture f = fixture();
        double[] theta = thetas()[0];
        Hypergradient h = cold(f, theta, TIGHT, TIGHT);
        assertTrue(h.certified(), h.toString());
        double scale = Dense.norm(h.z());
        assertTrue(scale > 1e-6, "degenerate test problem: ‖z‖ = " + scale);
        assertTrue(h.errorBound() <= 1e-4 * scale, "tight bound " + h.errorBound() + " vs ‖z‖ " + scale);
        double step = 1e-5;
        for (int i = 0; i < theta.length; i++) {
            double[] tp = theta.clone();
            double[] tm = theta.clone();
            tp[i] += step;
            tm[i] -= step;
            double[] fp = upperObjective(f, tp);
            double[] fm = upperObjective(f, tm);
            double fd = (fp[0] - fm[0]) / (2 * step);
            // error of f from the solves: (err₊ + err₋)/(2h); O(h²) truncation within 1e-6·(|fd| + 1e-2)
            double allowed = (fp[1] + fm[1]) / (2 * step) + 1e-6 * (Math.abs(fd) + 1e-2) + h.errorBound();
            assertEquals(fd, h.z(i), allowed, method().name() + " " + family().type() + " " + family().paramName(i));
        }
    }

    /**
     * 2 θ × 3 ε × 3 δ. A violation is proven when ‖z − z_ref‖ &gt; bound + bound_ref
     * (then ‖z − ∇f‖ ≥ ‖z − z_ref‖ − ‖z_ref − ∇f‖ &gt; bound).
     */
    @Test
    void boundIsNeverBelowTheTrueError() {
        BilevelFixture f = fixture();
        int configurations = 0;
        for (double[] theta : thetas()) {
            Hypergradient ref = cold(f, theta, TIGHT, TIGHT);
            assertTrue(ref.certified());
            for (double eps : new double[]{1e-1, 1e-3, 1e-6}) {
                for (double delta : new double[]{1e-1, 1e-4, 1e-8}) {
                    Hypergradient z = cold(f, theta, eps, delta);
                    double diff = Dense.norm(Dense.minus(z.z(), ref.z()));
                    assertTrue(diff <= z.errorBound() + ref.errorBound(), method().name() + " ε=" + eps + " δ=" + delta
                            + ": error ≥ " + (diff - ref.errorBound()) + " > bound " + z.errorBound());
                    assertEquals(z.bound().value(), z.errorBound());
                    if (z.certified()) {
                        assertTrue(z.lowerLevel().converged() && z.linearSolve().converged());
                    }
                    configurations++;
                }
            }
        }
        assertEquals(18, configurations);
    }

    @Test
    void reportsIterationCountsResidualsAndTheLoss() {
        BilevelFixture f = fixture();
        HypergradientMethod.Result r = compute(f, thetas()[0], 1e-4, 1e-4, null);
        try (WarmStart state = r.warmStart()) {
            Hypergradient h = r.hypergradient();
            assertTrue(h.lowerLevel().iterations() > 0 && h.linearSolve().iterations() > 0, h.toString());
            assertEquals(h.lowerLevel().iterations() + h.linearSolve().iterations(), h.computations());
            assertTrue(h.lowerLevel().converged() && h.lowerLevel().accuracy() <= 1e-4);
            assertTrue(h.linearSolve().converged() && h.linearSolve().accuracy() <= 1e-4);
            assertEquals(1e-4, h.lowerLevel().tolerance());
            assertEquals(1e-4, h.linearSolve().tolerance());
            assertTrue(!h.lowerLevel().reachedIterationCap() && !h.linearSolve().reachedIterationCap());
            double dist = Dense.norm(Dense.minus(Dense.vector(state.primal()), f.clean));
            assertEquals(dist * dist, h.upperLoss(), 1e-12 * (1 + dist * dist));
            assertEquals(family().numParams(), h.size());
        }
    }

    @Test
    void aCapIsReportedNotSilent() {
        BilevelFixture f = fixture();
        try (Regularizer.Instance model = family().bind(thetas()[0], DataType.DOUBLE);
             WarmStart state = method().newWarmStart(f.shape(), DataType.DOUBLE)) {
            SolveStatistics s = method().solveLowerLevel(model, f.operator, f.data(), mu(), state, TIGHT, 2);
            assertEquals(2, s.iterations());
            assertTrue(!s.converged() && s.reachedIterationCap() && s.accuracy() > TIGHT);
        }
    }

    @Test
    void warmStartReducesTheWork() {
        BilevelFixture f = fixture();
        double[] theta = thetas()[0];
        double[] nearby = theta.clone();
        Random r = new Random(5);
        for (int i = 0; i < nearby.length; i++) {
            nearby[i] += 1e-3 * r.nextGaussian();
        }
        nearby = family().project(nearby);
        HypergradientMethod.Result first = compute(f, theta, 1e-6, 1e-6, null);
        try (WarmStart state = first.warmStart()) {
            Hypergradient cold = cold(f, nearby, 1e-6, 1e-6);
            HypergradientMethod.Result warm = compute(f, nearby, 1e-6, 1e-6, state);
            assertSame(state, warm.warmStart(), "a given warm start is updated in place and returned");
            Hypergradient h = warm.hypergradient();
            assertTrue(h.computations() < cold.computations(), "warm " + h.computations() + " vs cold " + cold.computations());
            assertTrue(h.lowerLevel().iterations() < cold.lowerLevel().iterations());
            double diff = Dense.norm(Dense.minus(h.z(), cold.z()));
            assertTrue(diff <= h.errorBound() + cold.errorBound(), "warm and cold differ by " + diff);
            // refining from the same state: tighter tolerances continue rather than restart
            Hypergradient refined = compute(f, nearby, 1e-8, 1e-8, state).hypergradient();
            Hypergradient coldTight = cold(f, nearby, 1e-8, 1e-8);
            assertTrue(refined.computations() < coldTight.computations());
        }
    }

    @Test
    void aWarmStartRestoredFromItsArraysContinuesBitForBit() {
        BilevelFixture f = fixture();
        double[] theta = thetas()[1];
        HypergradientMethod.Result r = compute(f, theta, 1e-3, 1e-3, null);
        List<INDArray> copies = new ArrayList<>();
        for (INDArray a : r.warmStart().arrays()) {
            copies.add(a.dup());
        }
        try (WarmStart original = r.warmStart(); WarmStart restored = method().restoreWarmStart(copies)) {
            assertEquals(original.arrays().size(), restored.arrays().size());
            Hypergradient a = compute(f, theta, 1e-7, 1e-7, original).hypergradient();
            Hypergradient b = compute(f, theta, 1e-7, 1e-7, restored).hypergradient();
            assertArrayEquals(a.z(), b.z(), 0.0);
            assertEquals(a.computations(), b.computations());
            assertEquals(a.errorBound(), b.errorBound(), 0.0);
        }
        List<INDArray> wrong = List.of(org.nd4j.linalg.factory.Nd4j.create(DataType.DOUBLE, f.shape()));
        assertThrows(IllegalArgumentException.class, () -> method().restoreWarmStart(wrong));
    }

    @Test
    void theLowerLevelSolveCertifiesItsDistance() {
        BilevelFixture f = fixture();
        try (Regularizer.Instance model = family().bind(thetas()[1], DataType.DOUBLE);
             WarmStart ref = method().newWarmStart(f.shape(), DataType.DOUBLE);
             WarmStart x = method().newWarmStart(f.shape(), DataType.DOUBLE)) {
            SolveStatistics tight = method().solveLowerLevel(model, f.operator, f.data(), mu(), ref, TIGHT, 10_000_000);
            for (double eps : new double[]{1e-1, 1e-3, 1e-5}) {
                SolveStatistics s = method().solveLowerLevel(model, f.operator, f.data(), mu(), x, eps, 10_000_000);
                assertTrue(s.converged() && s.certified() && s.accuracy() <= eps, s.toString());
                double d = Dense.norm(Dense.minus(Dense.vector(x.primal()), Dense.vector(ref.primal())));
                assertTrue(d <= s.accuracy() + tight.accuracy(), "distance " + d + " > bound " + s.accuracy());
            }
        }
    }
}
