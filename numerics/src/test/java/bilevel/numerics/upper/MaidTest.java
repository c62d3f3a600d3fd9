package bilevel.numerics.upper;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MaidTest {

    private static final int P = 5;
    private static final int N = 12;
    private static final int MAX_ITERATIONS = 400;

    // ---------------------------------------------------------------- hand-computed traces (1-D)

    /**
     * f(θ) = θ², θ0 = 1, z = 2θ exact, bound 10ε, ε0 = δ0 = 0.5, α0 = 1, defaults otherwise.
     * Hypergradient: bound 5 > (1−η)·2 → ε = 0.25: 2.5 > 2 → ε = 0.125: 1.25 ≤ 2 accepted (2 refinements).
     * Trial j=0: θ̂ = 1 − 2 = −1: 1 + 2·0.125 + 0.125² ≤ 1 − 2·0.125 − c·1·4 fails.
     * Trial j=1: θ̂ = 1 − 0.5·2 = 0: 0 + 0 + 0.125² ≤ 0.75 − c·0.5·4 holds → accepted with α = 0.5.
     * Next: α = 0.5·1.1, ε = δ = 0.125·1.05. Cost: 3 hypergradients + 2 losses.
     */
    @Test
    void handComputedIterationWithRefinementsAndOneBacktrack() {
        Maid.Parameters params = Maid.Parameters.defaults().withEps0(0.5).withDelta0(0.5).withAlpha0(1);
        Maid maid = new Maid(params);
        Maid.Transition t = maid.iterate(maid.init(new double[]{1}), new ScriptedOracle(10, 0));
        Maid.Iteration it = t.completed();
        assertEquals(new Maid.Iteration(0, Maid.Outcome.ACCEPTED, true, new double[]{0}, 0.5, 0.125, 0.125,
                1, 2, 0, 2, 1.25, true, 1, 2, 5, 5), it);
        Maid.State s = t.state();
        assertEquals(Maid.Phase.HYPERGRADIENT, s.phase());
        assertEquals(1, s.k());
        assertEquals(5, s.sequence());
        assertArrayEquals(new double[]{0}, s.theta(), 0.0);
        assertEquals(0.5 * 1.1, s.alpha(), 1e-16);
        assertEquals(0.125 * 1.05, s.eps(), 1e-16);
        assertEquals(0.125 * 1.05, s.delta(), 1e-16);
        assertEquals(0, s.iterationCost(), 0.0);
        assertEquals(5, s.totalCost(), 0.0);
    }

    /** At θ = 0 the hypergradient is 0 but the bound 10ε is not: ε is halved until it would pass epsMin. */
    @Test
    void stallsWhenTheAccuracyFloorIsReached() {
        Maid.Parameters params = Maid.Parameters.defaults().withEps0(0.1).withEpsMin(1e-3);
        Maid maid = new Maid(params);
        Maid.Run run = maid.run(maid.init(new double[]{0}), new ScriptedOracle(10, 0), 10);
        assertEquals(Maid.Phase.STALLED, run.state().phase());
        assertEquals(1, run.iterations().size());
        Maid.Iteration it = run.iterations().get(0);
        assertEquals(Maid.Outcome.STALLED, it.outcome());
        assertFalse(it.accepted());
        // refinements r: 0.1·0.5^r ≥ 1e-3 > 0.1·0.5^(r+1)  ⇒  r = 6
        assertEquals(6, it.refinements());
        assertEquals(0.1 / 64, it.eps(), 1e-18);
        assertEquals(7, it.cost(), 0.0); // 7 hypergradient evaluations
        assertArrayEquals(new double[]{0}, it.theta(), 0.0);
        assertThrows(IllegalStateException.class, () -> maid.request(run.state()));
        Maid.Transition again = maid.iterate(run.state(), new ScriptedOracle(10, 0));
        assertNull(again.completed());
        assertEquals(run.state(), again.state());
    }

    /** With bound ∝ |θ| the oracle certifies exact stationarity at θ = 0. */
    @Test
    void convergesWhenTheOracleCertifiesStationarity() {
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.Run run = maid.run(maid.init(new double[]{0}), new ScriptedOracle(0, 10), 10);
        assertEquals(Maid.Phase.CONVERGED, run.state().phase());
        assertEquals(List.of(Maid.Outcome.CONVERGED), run.iterations().stream().map(Maid.Iteration::outcome).toList());
        assertEquals(0, run.iterations().get(0).hypergradientNorm(), 0.0);
    }

    /**
     * α0 = 1 and J = 0: the only trial is θ̂ = −θ, f(θ̂) = f(θ), always rejected. Each failure keeps θ and α
     * and halves ε and δ; with ε0 = 0.1 and epsMin = 1e-3 the 7th failure would need ε = 0.1/128 &lt; 1e-3.
     */
    @Test
    void failedLineSearchTightensTheAccuracyAndKeepsTheta() {
        Maid.Parameters params = Maid.Parameters.defaults().withAlpha0(1).withMaxBacktracks(0).withEps0(0.1)
                .withDelta0(0.2).withEpsMin(1e-3);
        Maid maid = new Maid(params);
        Maid.Run run = maid.run(maid.init(new double[]{0.7}), new ScriptedOracle(0.1, 0), 100);
        List<Maid.Iteration> its = run.iterations();
        assertEquals(7, its.size());
        for (int k = 0; k < 6; k++) {
            Maid.Iteration it = its.get(k);
            assertEquals(Maid.Outcome.LINE_SEARCH_FAILED, it.outcome());
            assertEquals(k, it.k());
            assertArrayEquals(new double[]{0.7}, it.theta(), 0.0);
            assertEquals(0.1 * Math.pow(0.5, k), it.eps(), 1e-17);
            assertEquals(0.2 * Math.pow(0.5, k), it.delta(), 1e-17);
            assertEquals(1.0, it.alpha(), 0.0);
            assertEquals(1, it.backtracks());
            assertEquals(0.49, it.trialLoss(), 1e-15);
            assertEquals(2, it.cost(), 0.0);
        }
        assertEquals(Maid.Outcome.STALLED, its.get(6).outcome());
        assertEquals(Maid.Phase.STALLED, run.state().phase());
        assertEquals(14, run.state().totalCost(), 0.0);
    }

    /** A trial point whose loss diverged (+∞) is simply rejected. */
    @Test
    void infiniteTrialLossIsARejection() {
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.State s = maid.onHypergradient(maid.init(new double[]{1}),
                new ScriptedOracle(0, 0).evaluate(new double[]{1}, 0.1, 0.1)).state();
        assertEquals(Maid.Phase.LINE_SEARCH, s.phase());
        Maid.State next = maid.onLoss(s, new Oracle.LossEvaluation(Double.POSITIVE_INFINITY,
                Double.POSITIVE_INFINITY, 1)).state();
        assertEquals(Maid.Phase.LINE_SEARCH, next.phase());
        assertEquals(1, next.backtracks());
        assertEquals(maid.trialStepSize(s) * Maid.DEFAULT_RHO, maid.trialStepSize(next), 1e-16);
    }

    /** Projected variant: f(θ) = θ² on θ ≥ 0.5 — iterates stay feasible and reach the constrained minimiser. */
    @Test
    void projectedTrialPointsStayFeasible() {
        Maid maid = new Maid(Maid.Parameters.defaults().withEpsMin(1e-6), t -> new double[]{Math.max(0.5, t[0])});
        Maid.State s = maid.init(new double[]{1});
        ScriptedOracle oracle = new ScriptedOracle(10, 0);
        List<Maid.Iteration> its = new ArrayList<>();
        while (!s.terminal()) {
            Maid.Request r = maid.request(s);
            assertTrue(r.theta()[0] >= 0.5, "requested point must be feasible");
            Maid.Transition t = r instanceof Maid.HypergradientRequest h
                    ? maid.onHypergradient(s, oracle.evaluate(h.theta(), h.eps(), h.delta()))
                    : maid.onLoss(s, oracle.loss(r.theta(), r.eps()));
            if (t.completed() != null) {
                its.add(t.completed());
            }
            s = t.state();
        }
        // first step: θ̂ = P(1 − 1·2) = 0.5; decrease term ‖θ̂ − θ‖²/α = 0.25; test 0.25 + ε + ε² ≤ 1 − 2ε − c/4 holds
        assertEquals(Maid.Outcome.ACCEPTED, its.get(0).outcome());
        assertArrayEquals(new double[]{0.5}, its.get(0).theta(), 0.0);
        assertEquals(Maid.Phase.STALLED, s.phase());
        assertArrayEquals(new double[]{0.5}, s.theta(), 0.0);
        // without the projection the same first step lands at −1 (rejected) and then at 0
        Maid free = new Maid(Maid.Parameters.defaults());
        assertArrayEquals(new double[]{0}, free.iterate(free.init(new double[]{1}), oracle).completed().theta(), 0.0);
    }

    @Test
    void responsesInTheWrongPhaseAreRejected() {
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.State s = maid.init(new double[]{1});
        assertThrows(IllegalStateException.class, () -> maid.onLoss(s, new Oracle.LossEvaluation(1, 1, 1)));
        assertThrows(IllegalStateException.class, () -> maid.trialTheta(s));
        assertThrows(IllegalArgumentException.class, () -> maid.onHypergradient(s,
                new Oracle.Evaluation(1, 1, new double[]{1, 2}, Bound.certified(0), 1)));
        Maid.State ls = maid.onHypergradient(s, new ScriptedOracle(0, 0).evaluate(new double[]{1}, 0.1, 0.1)).state();
        assertThrows(IllegalStateException.class, () -> maid.onHypergradient(ls,
                new ScriptedOracle(0, 0).evaluate(new double[]{1}, 0.1, 0.1)));
    }

    @Test
    void parametersAreValidated() {
        Maid.Parameters d = Maid.Parameters.defaults();
        assertEquals(d.eta() * d.eta(), d.c(), 0.0);
        assertThrows(IllegalArgumentException.class, () -> d.withEta(1));
        assertThrows(IllegalArgumentException.class, () -> d.withC(0));
        assertThrows(IllegalArgumentException.class, () -> d.withRho(1));
        assertThrows(IllegalArgumentException.class, () -> d.withNuDec(1));
        assertThrows(IllegalArgumentException.class, () -> d.withNuInc(0.9));
        assertThrows(IllegalArgumentException.class, () -> d.withAlphaIncrease(0.5));
        assertThrows(IllegalArgumentException.class, () -> d.withMaxBacktracks(-1));
        assertThrows(IllegalArgumentException.class, () -> d.withAlpha0(0));
        assertThrows(IllegalArgumentException.class, () -> d.withLossLipschitz(-1));
        assertThrows(IllegalArgumentException.class, () -> d.withEpsMin(0));
        assertThrows(IllegalArgumentException.class, () -> d.withEpsMin(1)); // > eps0
    }

    // ---------------------------------------------------------------- the synthetic bilevel problem

    @ParameterizedTest
    @EnumSource(QuadraticBilevelOracle.Mode.class)
    void convergesOnTheQuadraticBilevelProblem(QuadraticBilevelOracle.Mode mode) {
        for (long seed : new long[]{7, 8, 9}) {
            QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(seed, N, P, mode);
            Maid maid = new Maid(Maid.Parameters.defaults());
            double[] theta0 = new double[P];
            Maid.Run run = maid.run(maid.init(theta0), oracle, MAX_ITERATIONS);
            double[] thetaStar = oracle.minimiser();
            double fStar = oracle.trueLoss(thetaStar);
            double[] theta = run.state().theta();
            double gap0 = oracle.trueLoss(theta0) - fStar;
            double gap = oracle.trueLoss(theta) - fStar;
            assertTrue(gap <= 1e-6 * gap0, mode + " seed " + seed + ": f − f* = " + gap + " from " + gap0);
            double g0 = QuadraticBilevelOracle.norm(oracle.trueGradient(theta0));
            double g = QuadraticBilevelOracle.norm(oracle.trueGradient(theta));
            assertTrue(g <= 1e-3 * g0, mode + " seed " + seed + ": ‖∇f‖ = " + g + " from " + g0);
            double dist = QuadraticBilevelOracle.norm(difference(theta, thetaStar));
            assertTrue(dist <= 1e-2 * QuadraticBilevelOracle.norm(thetaStar), "‖θ − θ*‖ = " + dist);
            // it stops because certifying more progress would need ε below epsMin
            assertEquals(Maid.Phase.STALLED, run.state().phase());
        }
    }

    /**
     * An accepted step certifies f(θ_{k+1}) ≤ f(θ_k) − c α ‖z‖² for the exact objective f (see the
     * {@link Maid} class comment). The adversarial oracle makes this bound tight up to ε², so the check
     * allows only floating-point rounding in evaluating f (a few ulps of f(θ_k)).
     */
    @ParameterizedTest
    @EnumSource(QuadraticBilevelOracle.Mode.class)
    void acceptedStepsDecreaseTheTrueLoss(QuadraticBilevelOracle.Mode mode) {
        QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(11, N, P, mode);
        Maid maid = new Maid(Maid.Parameters.defaults());
        double[] theta = new double[P];
        Maid.Run run = maid.run(maid.init(theta), oracle, MAX_ITERATIONS);
        int accepted = 0;
        double c = maid.parameters().c();
        for (Maid.Iteration it : run.iterations()) {
            double before = oracle.trueLoss(theta);
            double after = oracle.trueLoss(it.theta());
            if (it.accepted()) {
                accepted++;
                double certified = c * it.alpha() * it.hypergradientNorm() * it.hypergradientNorm();
                assertTrue(after <= before - certified + 8 * Math.ulp(before),
                        "k=" + it.k() + ": f went from " + before + " to " + after);
                assertTrue(it.errorBound() <= (1 - maid.parameters().eta()) * it.hypergradientNorm());
            } else {
                assertArrayEquals(theta, it.theta(), 0.0, "a rejected iteration must keep θ");
            }
            theta = it.theta();
        }
        assertTrue(accepted >= 20, "only " + accepted + " accepted steps");
    }

    /** ε adapts: far from the solution it stays loose, near it (small ‖z‖) it is much tighter. */
    @ParameterizedTest
    @EnumSource(QuadraticBilevelOracle.Mode.class)
    void accuracyShrinksNearTheSolution(QuadraticBilevelOracle.Mode mode) {
        QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(12, N, P, mode);
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.Run run = maid.run(maid.init(new double[P]), oracle, MAX_ITERATIONS);
        List<Maid.Iteration> acc = run.iterations().stream().filter(Maid.Iteration::accepted).toList();
        int tenth = Math.max(1, acc.size() / 10);
        double early = geometricMean(acc.subList(0, tenth), true);
        double late = geometricMean(acc.subList(acc.size() - tenth, acc.size()), true);
        double zEarly = geometricMean(acc.subList(0, tenth), false);
        double zLate = geometricMean(acc.subList(acc.size() - tenth, acc.size()), false);
        assertTrue(zLate < 1e-2 * zEarly, "‖z‖ should shrink: " + zEarly + " → " + zLate);
        assertTrue(late < 1e-3 * early, "ε should shrink near the solution: " + early + " → " + late);
        // each accepted hypergradient satisfied the bound test, which for this oracle means ε ≤ ‖z‖/(2‖K‖_F)
        for (Maid.Iteration it : acc) {
            assertTrue(2 * oracle.kFrobenius * it.eps() + it.delta() <= it.hypergradientNorm());
        }
        // after a success ε is loosened by ν_inc
        List<Maid.Iteration> all = run.iterations();
        for (int i = 0; i + 1 < all.size(); i++) {
            if (all.get(i).accepted() && all.get(i + 1).refinements() == 0) {
                assertEquals(Maid.DEFAULT_NU_INC * all.get(i).eps(), all.get(i + 1).eps(), 1e-15 * all.get(i).eps());
            }
        }
    }

    /** ε0 far too loose: hypergradients are rejected (bound > (1−η)‖z‖) and ε, δ halved until one passes. */
    @Test
    void tooLooseInitialAccuracyIsRefinedBeforeTheFirstStep() {
        QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(13, N, P, QuadraticBilevelOracle.Mode.RANDOM);
        Maid maid = new Maid(Maid.Parameters.defaults().withEps0(10).withDelta0(10));
        double eta = maid.parameters().eta();
        Maid.State s = maid.init(new double[P]);
        int rejected = 0;
        while (s.phase() == Maid.Phase.HYPERGRADIENT) {
            Maid.HypergradientRequest r = assertInstanceOf(Maid.HypergradientRequest.class, maid.request(s));
            assertEquals(10 * Math.pow(0.5, rejected), r.eps(), 0.0);
            assertEquals(10 * Math.pow(0.5, rejected), r.delta(), 0.0);
            Oracle.Evaluation e = oracle.evaluate(r.theta(), r.eps(), r.delta());
            s = maid.onHypergradient(s, e).state();
            if (s.phase() == Maid.Phase.HYPERGRADIENT) {
                assertTrue(e.errorBound().value() > (1 - eta) * e.hypergradientNorm());
                rejected++;
                assertEquals(rejected, s.refinements());
            } else {
                assertTrue(e.errorBound().value() <= (1 - eta) * e.hypergradientNorm());
            }
        }
        assertTrue(rejected > 0);
        Maid.Iteration first = maid.iterate(s, oracle).completed();
        assertEquals(rejected, first.refinements());
        assertEquals(10 * Math.pow(0.5, rejected), first.eps(), 0.0);
    }

    @Test
    void costsAddUp() {
        QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(14, N, P, QuadraticBilevelOracle.Mode.RANDOM);
        double[] spent = {0};
        Oracle counting = new Oracle() {
            @Override
            public Evaluation evaluate(double[] theta, double eps, double delta) {
                Evaluation e = oracle.evaluate(theta, eps, delta);
                spent[0] += e.cost();
                return e;
            }

            @Override
            public LossEvaluation loss(double[] theta, double eps) {
                LossEvaluation e = oracle.loss(theta, eps);
                spent[0] += e.cost();
                return e;
            }
        };
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.Run run = maid.run(maid.init(new double[P]), counting, 50);
        double sum = run.iterations().stream().mapToDouble(Maid.Iteration::cost).sum();
        assertEquals(spent[0], sum, 0.0);
        assertEquals(spent[0], run.state().totalCost(), 0.0);
        assertEquals(oracle.evaluations + oracle.lossEvaluations, run.state().sequence());
    }

    @Test
    void runsAreDeterministic() {
        Maid maid = new Maid(Maid.Parameters.defaults());
        Maid.Run a = maid.run(maid.init(new double[P]),
                new QuadraticBilevelOracle(21, N, P, QuadraticBilevelOracle.Mode.RANDOM), MAX_ITERATIONS);
        Maid.Run b = maid.run(maid.init(new double[P]),
                new QuadraticBilevelOracle(21, N, P, QuadraticBilevelOracle.Mode.RANDOM), MAX_ITERATIONS);
        assertEquals(a.iterations(), b.iterations());
        assertEquals(a.state(), b.state());
        assertTrue(a.iterations().size() > 10);
    }

    /**
     * Driving the machine request by request, rebuilding the state from its record components after every
     * transition (as a checkpoint/restore would), gives exactly the iterations of {@link Maid#run}.
     */
    @Test
    void requestResponseDrivingWithCheckpointsMatchesTheDriver() {
        QuadraticBilevelOracle oracle = new QuadraticBilevelOracle(22, N, P, QuadraticBilevelOracle.Mode.RANDOM);
        Maid maid = new Maid(Maid.Parameters.defaults());
        double[] theta0 = new double[P];
        Maid.Run reference = maid.run(maid.init(theta0), oracle, 60);

        List<Maid.Iteration> its = new ArrayList<>();
        Maid.State s = maid.init(theta0);
        long sequence = 0;
        while (its.size() < 60 && !s.terminal()) {
            Maid.Request r = maid.request(s);
            assertEquals(sequence, r.sequence());
            Maid.Transition t;
            if (r instanceof Maid.HypergradientRequest h) {
                assertEquals(Maid.Phase.HYPERGRADIENT, s.phase());
                t = maid.onHypergradient(s, oracle.evaluate(h.theta(), h.eps(), h.delta()));
            } else {
                Maid.LossRequest l = assertInstanceOf(Maid.LossRequest.class, r);
                assertArrayEquals(maid.trialTheta(s), l.theta(), 0.0);
                t = maid.onLoss(s, oracle.loss(l.theta(), l.eps()));
            }
            sequence++;
            if (t.completed() != null) {
                its.add(t.completed());
            }
            s = restore(t.state());
            assertEquals(t.state(), s);
        }
        assertEquals(reference.iterations(), its);
        assertEquals(reference.state(), s);
    }

    @Test
    void statesAndRecordsCopyTheirArrays() {
        Maid maid = new Maid(Maid.Parameters.defaults());
        double[] theta0 = {1, 2};
        Maid.State s = maid.init(theta0);
        theta0[0] = 99;
        assertArrayEquals(new double[]{1, 2}, s.theta(), 0.0);
        s.theta()[1] = 99;
        assertArrayEquals(new double[]{1, 2}, s.theta(), 0.0);
        double[] z = {3, 4};
        Oracle.Evaluation e = new Oracle.Evaluation(1, 1, z, Bound.certified(0.1), 1);
        z[0] = 99;
        assertArrayEquals(new double[]{3, 4}, e.hypergradient(), 0.0);
        assertEquals(5, e.hypergradientNorm(), 1e-15);
        Maid.State ls = maid.onHypergradient(s, e).state();
        double[] trial = maid.trialTheta(ls);
        trial[0] = 99;
        assertArrayEquals(new double[]{1 - 3, 2 - 4}, maid.trialTheta(ls), 1e-15);
    }

    /** Rebuilds a state from its components only (what a serialiser sees). */
    private static Maid.State restore(Maid.State s) {
        Oracle.Evaluation c = s.current();
        Oracle.Evaluation copy = c == null ? null : new Oracle.Evaluation(c.loss(), c.lossGradientNorm(),
                c.hypergradient(), new Bound(c.errorBound().value(), c.errorBound().certified()), c.cost());
        return new Maid.State(s.k(), s.sequence(), s.phase(), s.theta(), s.alpha(), s.eps(), s.delta(), copy,
                s.backtracks(), s.refinements(), s.iterationCost(), s.totalCost());
    }

    private static double geometricMean(List<Maid.Iteration> its, boolean eps) {
        double s = 0;
        for (Maid.Iteration it : its) {
            s += Math.log(eps ? it.eps() : it.hypergradientNorm());
        }
        return Math.exp(s / its.size());
    }

    private static double[] difference(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
