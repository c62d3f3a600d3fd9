package bilevel.numerics.upper;

import org.junit.jupiter.api.Test;

import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AdamTest {

    private static final UnaryOperator<double[]> IDENTITY = UnaryOperator.identity();

    @Test
    void defaultsAreTheStandardOnes() {
        Adam adam = new Adam(new Schedule.Constant(1), IDENTITY);
        assertEquals(0.9, adam.beta1(), 0.0);
        assertEquals(0.999, adam.beta2(), 0.0);
        assertEquals(1e-8, adam.epsilon(), 0.0);
    }

    /**
     * Two steps by hand with β1 = 0.9, β2 = 0.999, ε_A = 1e-8 and α_k = 0.1/(k+1):
     * <pre>
     * step 1 (t=1, α=0.1), z = (1, −2):
     *   m = 0.1 z = (0.1, −0.2),  v = 0.001 z² = (0.001, 0.004)
     *   m̂ = m/0.1 = (1, −2),      v̂ = v/0.001 = (1, 4)
     *   θ1 = θ0 − 0.1 (1/(1+ε_A), −2/(2+ε_A))
     * step 2 (t=2, α=0.05), z = (0.5, 4):
     *   m = 0.9 (0.1, −0.2) + 0.1 (0.5, 4) = (0.14, 0.22)
     *   v = 0.999 (0.001, 0.004) + 0.001 (0.25, 16) = (0.001249, 0.019996)
     *   m̂ = m/(1 − 0.81) = m/0.19,  v̂ = v/(1 − 0.998001) = v/0.001999
     *   θ2 = θ1 − 0.05 m̂/(√v̂ + ε_A)
     * </pre>
     */
    @Test
    void twoStepsByHand() {
        Adam adam = new Adam(new Schedule.Polynomial(0.1, 1), IDENTITY);
        double[] theta0 = {0.3, -0.7};
        UpperOptimizer.Step s1 = adam.step(theta0, adam.init(2), new double[]{1, -2}, 1);
        double e = 1e-8;
        double[] theta1 = {0.3 - 0.1 * 1 / (1 + e), -0.7 + 0.1 * 2 / (2 + e)};
        assertArrayEquals(theta1, s1.theta(), 1e-15);
        Adam.State st1 = (Adam.State) s1.state();
        assertEquals(1, st1.k());
        assertArrayEquals(new double[]{0.1, -0.2}, st1.m(), 1e-15);
        assertArrayEquals(new double[]{0.001, 0.004}, st1.v(), 1e-15);

        UpperOptimizer.Step s2 = adam.step(s1.theta(), st1, new double[]{0.5, 4}, 1);
        Adam.State st2 = (Adam.State) s2.state();
        assertEquals(2, st2.k());
        assertArrayEquals(new double[]{0.14, 0.22}, st2.m(), 1e-15);
        assertArrayEquals(new double[]{0.001249, 0.019996}, st2.v(), 1e-15);
        double[] theta2 = {
                theta1[0] - 0.05 * (0.14 / 0.19) / (Math.sqrt(0.001249 / 0.001999) + e),
                theta1[1] - 0.05 * (0.22 / 0.19) / (Math.sqrt(0.019996 / 0.001999) + e)};
        assertArrayEquals(theta2, s2.theta(), 1e-14);
    }

    @Test
    void projectionIsApplied() {
        UnaryOperator<double[]> nonNegative = t -> {
            double[] p = t.clone();
            for (int i = 0; i < p.length; i++) {
                p[i] = Math.max(0, p[i]);
            }
            return p;
        };
        Adam adam = new Adam(new Schedule.Constant(0.5), nonNegative);
        // first Adam step moves each coordinate by ≈ α sign(z)
        UpperOptimizer.Step s = adam.step(new double[]{0.2, 0.2}, adam.init(2), new double[]{1, -1}, 1);
        assertArrayEquals(new double[]{0, 0.2 + 0.5 / (1 + 1e-8)}, s.theta(), 1e-15);
    }

    @Test
    void weightScalesOnlyTheStep() {
        Adam adam = new Adam(new Schedule.Constant(0.1), IDENTITY);
        double[] theta = {1, 2, 3};
        double[] z = {0.3, -1, 2};
        UpperOptimizer.State s0 = new Adam.State(3, new double[]{0.1, 0.2, -0.1}, new double[]{0.01, 0.02, 0.5});
        UpperOptimizer.Step full = adam.step(theta, s0, z, 1);
        UpperOptimizer.Step quarter = adam.step(theta, s0, z, 0.25);
        assertEquals(full.state(), quarter.state(), "moments use the unweighted z");
        for (int i = 0; i < 3; i++) {
            assertEquals(0.25 * (full.theta()[i] - theta[i]), quarter.theta()[i] - theta[i], 1e-15);
        }
        UpperOptimizer.Step none = adam.step(theta, s0, z, 0);
        assertArrayEquals(theta, none.theta(), 0.0);
        assertSame(s0, none.state());
    }

    @Test
    void stepIsPureAndStatesCopyTheirArrays() {
        Adam adam = new Adam(new Schedule.Constant(0.1), IDENTITY);
        double[] m = {0.1, 0.2};
        double[] v = {0.3, 0.4};
        Adam.State s = new Adam.State(2, m, v);
        m[0] = 99;
        v[0] = 99;
        assertArrayEquals(new double[]{0.1, 0.2}, s.m(), 0.0);
        s.m()[1] = 99;
        assertArrayEquals(new double[]{0.1, 0.2}, s.m(), 0.0);
        assertArrayEquals(new double[]{0.3, 0.4}, s.v(), 0.0);

        double[] theta = {1, 1};
        double[] z = {1, 2};
        Adam.State before = new Adam.State(2, new double[]{0.1, 0.2}, new double[]{0.3, 0.4});
        UpperOptimizer.Step a = adam.step(theta, s, z, 1);
        assertArrayEquals(new double[]{1, 1}, theta, 0.0);
        assertArrayEquals(new double[]{1, 2}, z, 0.0);
        assertEquals(before, s);
        UpperOptimizer.Step b = adam.step(theta, s, z, 1);
        assertEquals(a, b, "same inputs, same result");
        assertNotSame(a.theta(), b.theta());
    }

    @Test
    void invalidArgumentsAreRejected() {
        Schedule one = new Schedule.Constant(1);
        assertThrows(IllegalArgumentException.class, () -> new Adam(one, 1.0, 0.999, 1e-8, IDENTITY));
        assertThrows(IllegalArgumentException.class, () -> new Adam(one, 0.9, -0.1, 1e-8, IDENTITY));
        assertThrows(IllegalArgumentException.class, () -> new Adam(one, 0.9, 0.999, 0, IDENTITY));
        assertThrows(IllegalArgumentException.class, () -> new Adam.State(0, new double[2], new double[3]));
        Adam adam = new Adam(one, IDENTITY);
        assertThrows(IllegalArgumentException.class, () -> adam.step(new double[3], adam.init(2), new double[3], 1));
        assertThrows(IllegalArgumentException.class, () -> adam.step(new double[2], new Sgd.State(0), new double[2], 1));
        assertThrows(IllegalArgumentException.class,
                () -> adam.step(new double[2], adam.init(2), new double[]{0, Double.POSITIVE_INFINITY}, 1));
    }
}
