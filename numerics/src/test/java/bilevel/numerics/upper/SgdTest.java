package bilevel.numerics.upper;

import org.junit.jupiter.api.Test;

import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SgdTest {

    private static final UnaryOperator<double[]> IDENTITY = UnaryOperator.identity();

    @Test
    void stepUsesTheScheduleAtTheStateCounter() {
        Sgd sgd = new Sgd(new Schedule.Polynomial(0.1, 1), IDENTITY); // α_0 = 0.1, α_1 = 0.05
        UpperOptimizer.State s0 = sgd.init(2);
        assertEquals(0, s0.k());
        UpperOptimizer.Step a = sgd.step(new double[]{1, 2}, s0, new double[]{3, -4}, 1);
        assertArrayEquals(new double[]{1 - 0.1 * 3, 2 + 0.1 * 4}, a.theta(), 1e-15);
        assertEquals(1, a.state().k());
        UpperOptimizer.Step b = sgd.step(a.theta(), a.state(), new double[]{1, 1}, 1);
        assertArrayEquals(new double[]{0.7 - 0.05, 2.4 - 0.05}, b.theta(), 1e-15);
        assertEquals(2, b.state().k());
    }

    @Test
    void gradientDescentOnAQuadraticContractsGeometrically() {
        // f(θ) = ½‖θ‖², ∇f = θ, constant α: θ_k = (1 − α)^k θ_0 exactly
        Sgd sgd = new Sgd(new Schedule.Constant(0.25), IDENTITY);
        double[] theta = {1, -3, 0.5};
        double[] theta0 = theta.clone();
        UpperOptimizer.State s = sgd.init(3);
        for (int k = 0; k < 20; k++) {
            UpperOptimizer.Step step = sgd.step(theta, s, theta, 1);
            theta = step.theta();
            s = step.state();
        }
        for (int i = 0; i < 3; i++) {
            assertEquals(Math.pow(0.75, 20) * theta0[i], theta[i], 1e-15);
        }
    }

    @Test
    void weightScalesTheStepAndZeroWeightIsANoOp() {
        Sgd sgd = new Sgd(new Schedule.Constant(0.1), IDENTITY);
        UpperOptimizer.State s = new Sgd.State(5);
        double[] theta = {1, 2};
        double[] z = {2, -2};
        UpperOptimizer.Step half = sgd.step(theta, s, z, 0.5);
        assertArrayEquals(new double[]{1 - 0.5 * 0.1 * 2, 2 + 0.5 * 0.1 * 2}, half.theta(), 1e-15);
        assertEquals(6, half.state().k());
        UpperOptimizer.Step none = sgd.step(theta, s, z, 0);
        assertArrayEquals(theta, none.theta(), 0.0);
        assertSame(s, none.state());
    }

    @Test
    void projectionIsAppliedAndReceivesAFreshArray() {
        // projection onto the box [0, 1]^P, mutating its argument in place
        UnaryOperator<double[]> box = t -> {
            for (int i = 0; i < t.length; i++) {
                t[i] = Math.min(1, Math.max(0, t[i]));
            }
            return t;
        };
        Sgd sgd = new Sgd(new Schedule.Constant(1), box);
        double[] theta = {0.5, 0.5, 0.5};
        double[] z = {1, -1, 0.25};
        double[] thetaCopy = theta.clone();
        double[] zCopy = z.clone();
        UpperOptimizer.Step step = sgd.step(theta, sgd.init(3), z, 1);
        assertArrayEquals(new double[]{0, 1, 0.25}, step.theta(), 0.0);
        assertArrayEquals(thetaCopy, theta, 0.0);
        assertArrayEquals(zCopy, z, 0.0);
    }

    @Test
    void stepResultIsACopy() {
        Sgd sgd = new Sgd(new Schedule.Constant(1), IDENTITY);
        UpperOptimizer.Step step = sgd.step(new double[]{1}, sgd.init(1), new double[]{1}, 1);
        step.theta()[0] = 42;
        assertEquals(0, step.theta()[0], 0.0);
    }

    @Test
    void invalidArgumentsAreRejected() {
        Sgd sgd = new Sgd(new Schedule.Constant(1), IDENTITY);
        UpperOptimizer.State s = sgd.init(2);
        assertThrows(IllegalArgumentException.class, () -> sgd.step(new double[2], s, new double[3], 1));
        assertThrows(IllegalArgumentException.class, () -> sgd.step(new double[2], s, new double[]{Double.NaN, 0}, 1));
        assertThrows(IllegalArgumentException.class, () -> sgd.step(new double[2], s, new double[2], -1));
        assertThrows(IllegalArgumentException.class, () -> sgd.step(new double[2], s, new double[2], Double.NaN));
        Adam adam = new Adam(new Schedule.Constant(1), IDENTITY);
        assertThrows(IllegalArgumentException.class, () -> sgd.step(new double[2], adam.init(2), new double[2], 1));
        assertThrows(IllegalArgumentException.class, () -> new Sgd.State(-1));
    }
}
