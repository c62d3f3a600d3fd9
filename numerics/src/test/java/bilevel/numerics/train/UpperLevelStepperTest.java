package bilevel.numerics.train;

import bilevel.numerics.upper.Adam;
import bilevel.numerics.upper.Schedule;
import bilevel.numerics.upper.Sgd;
import bilevel.numerics.upper.UpperOptimizer;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UpperLevelStepperTest {

    private static final Schedule STEP = Schedule.parse("poly:0.1:0.5");

    private static double[] random(SplittableRandom g, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = g.nextDouble(-1, 1);
        }
        return v;
    }

    @Test
    void stalenessWeightsFollowThePolicy() {
        var weight = new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 3);
        assertEquals(1.0, weight.weight(0));
        assertEquals(0.5, weight.weight(1));
        assertEquals(0.25, weight.weight(3));
        assertEquals(0.0, weight.weight(4), "above the maximum: rejected");
        var reject = new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.REJECT, 2);
        assertEquals(1.0, reject.weight(2));
        assertEquals(0.0, reject.weight(3));
        assertEquals(1.0, UpperLevelStepper.Staleness.synchronous().weight(0));
        assertEquals(0.0, UpperLevelStepper.Staleness.synchronous().weight(1));
        assertThrows(IllegalArgumentException.class, () -> weight.weight(-1));
        assertEquals(UpperLevelStepper.Policy.WEIGHT, UpperLevelStepper.Policy.parse(" Weight "));
        assertThrows(IllegalArgumentException.class, () -> UpperLevelStepper.Policy.parse("sometimes"));
    }

    @Test
    void freshHypergradientIsExactlyTheOptimizerStep() {
        SplittableRandom g = new SplittableRandom(4);
        UpperOptimizer adam = new Adam(STEP, t -> t);
        UpperLevelStepper stepper = new UpperLevelStepper(adam, UpperLevelStepper.Staleness.synchronous());
        UpperLevelStepper.State s = stepper.init(random(g, 5));
        UpperOptimizer.State reference = adam.init(5);
        double[] theta = s.theta();
        for (int k = 0; k < 6; k++) {
            double[] z = random(g, 5);
            assertEquals(STEP.at(k), stepper.stepSize(s));
            UpperLevelStepper.Outcome o = stepper.apply(s, z, s.version());
            UpperOptimizer.Step r = adam.step(theta, reference, z, 1.0);
            assertTrue(o.applied());
            assertEquals(0, o.staleness());
            assertEquals(1.0, o.weight());
            assertArrayEquals(r.theta(), o.state().theta(), 0.0, "bit for bit");
            assertEquals(r.state(), o.state().optimizer());
            assertEquals(k + 1, o.state().version());
            assertEquals(k + 1, o.state().k());
            s = o.state();
            theta = r.theta();
            reference = r.state();
        }
    }

    @Test
    void staleSgdStepIsScaledByTheWeight() {
        // closed form with P = identity: θ' = θ − w α_k z, w = 1/(1+s)
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 10));
        UpperLevelStepper.State s = stepper.init(new double[]{1.0, -2.0});
        s = stepper.apply(s, new double[]{0.5, 0.5}, 0).state();
        s = stepper.apply(s, new double[]{0.25, 0.25}, 1).state();
        assertEquals(2, s.version());
        double[] z = {1.0, -3.0};
        UpperLevelStepper.Outcome o = stepper.apply(s, z, 0);   // computed at version 0: staleness 2
        assertEquals(2, o.staleness());
        assertEquals(1.0 / 3.0, o.weight());
        double alpha = STEP.at(2);
        double[] expected = s.theta();
        for (int i = 0; i < 2; i++) {
            expected[i] -= (1.0 / 3.0) * alpha * z[i];
        }
        assertArrayEquals(expected, o.state().theta(), 1e-15);
        assertEquals(3, o.state().version());
    }

    @Test
    void rejectedHypergradientChangesNothing() {
        UpperLevelStepper stepper = new UpperLevelStepper(new Adam(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.REJECT, 1));
        UpperLevelStepper.State s = stepper.init(new double[]{1, 2, 3});
        for (int i = 0; i < 3; i++) {
            s = stepper.apply(s, new double[]{1, 1, 1}, s.version()).state();
        }
        UpperLevelStepper.Outcome o = stepper.apply(s, new double[]{5, 5, 5}, 1);   // staleness 2 > 1
        assertFalse(o.applied());
        assertEquals(0.0, o.weight());
        assertSame(s, o.state());
    }

    @Test
    void meanIsAccumulatedInBatchOrderAndGroupsWeighTheirMembers() {
        double[] sum = new double[2];
        UpperLevelStepper.addMean(sum, new double[]{1, 2}, 3);
        UpperLevelStepper.addMean(sum, new double[]{4, 5}, 3);
        UpperLevelStepper.addMean(sum, new double[]{7, 8}, 3);
        assertArrayEquals(new double[]{1.0 / 3 + 4.0 / 3 + 7.0 / 3, 2.0 / 3 + 5.0 / 3 + 8.0 / 3}, sum, 0.0);
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 10));
        assertEquals((1.0 + 0.5 + 0.25) / 3, stepper.groupWeight(0, 1, 3), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> UpperLevelStepper.addMean(sum, new double[3], 1));
    }

    @Test
    void badArgumentsAreRejected() {
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t), UpperLevelStepper.Staleness.synchronous());
        UpperLevelStepper.State s = stepper.init(new double[]{0, 0});
        assertThrows(IllegalArgumentException.class, () -> stepper.apply(s, new double[]{Double.NaN, 0}, 0));
        assertThrows(IllegalArgumentException.class, () -> stepper.apply(s, new double[]{1, 0}, 1), "future version");
        assertFalse(UpperLevelStepper.finite(new double[]{0, Double.POSITIVE_INFINITY}));
        assertEquals(5.0, UpperLevelStepper.norm(new double[]{3, 4}), 0.0);
    }
}
