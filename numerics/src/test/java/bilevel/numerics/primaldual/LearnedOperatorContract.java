package bilevel.numerics.primaldual;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.dot;
import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks every {@link LearnedOperator}: adjoint identity, the certified norm bound against power iteration,
 * the parameter gradient against central finite differences of ⟨v, K_θx⟩, the certified Γ on random pairs,
 * float/double agreement and projection.
 */
abstract class LearnedOperatorContract {
    protected abstract LearnedOperator family();

    protected long height() { return 9; }

    protected long width() { return 7; }

    private long[] shape() {
        return new long[]{height(), width()};
    }

    private double[] theta(Random r) {
        double[] t = family().initialTheta(r.nextLong());
        for (int i = 0; i < t.length; i++) {
            t[i] += 0.3 * r.nextGaussian();
        }
        return family().project(t);
    }

    @Test
    void adjointIdentityHolds() {
        Random r = new Random(1);
        try (LearnedOperator.Instance k = family().bind(theta(r), shape(), DataType.DOUBLE)) {
            for (int trial = 0; trial < 3; trial++) {
                INDArray x = gaussian(r, shape());
                INDArray v = gaussian(r, k.dualShape());
                INDArray kx = Nd4j.create(DataType.DOUBLE, k.dualShape());
                INDArray ktv = Nd4j.create(DataType.DOUBLE, shape());
                k.apply(x, kx);
                k.adjoint(v, ktv);
                double lhs = dot(kx, v);
                double rhs = dot(x, ktv);
                assertEquals(lhs, rhs, 1e-12 * (Math.abs(lhs) + norm(kx) * norm(v)), "⟨Kx, v⟩ vs ⟨x, Kᵀv⟩");
            }
        }
    }

    @Test
    void normBoundIsAboveThePowerIterationEstimate() {
        Random r = new Random(2);
        try (LearnedOperator.Instance k = family().bind(theta(r), shape(), DataType.DOUBLE)) {
            INDArray x = gaussian(r, shape());
            INDArray kx = Nd4j.create(DataType.DOUBLE, k.dualShape());
            double estimate = 0;
            for (int i = 0; i < 300; i++) {
                x.divi(norm(x));
                k.apply(x, kx);
                estimate = norm(kx);           // ‖K x‖ with ‖x‖ = 1: a lower bound on ‖K‖
                k.adjoint(kx, x);
            }
            assertTrue(k.normBound().certified());
            assertTrue(estimate <= k.normBound().value() * (1 + 1e-12),
                    "‖K x‖ = " + estimate + " exceeds the bound " + k.normBound().value());
            assertTrue(k.normBound().value() <= 3 * estimate, "bound " + k.normBound().value() + " is very loose vs " + estimate);
        }
    }

    @Test
    void parameterGradientMatchesFiniteDifferences() {
        Random r = new Random(3);
        double[] theta = theta(r);
        INDArray x = gaussian(r, shape());
        INDArray v = gaussian(r, family().bind(theta, shape(), DataType.DOUBLE).dualShape());
        double[] g = new double[theta.length];
        try (LearnedOperator.Instance k = family().bind(theta, shape(), DataType.DOUBLE)) {
            k.accumulateParameterGradient(x, v, 2.0, g);
        }
        double scale = norm(g) / Math.sqrt(g.length);
        for (int i = 0; i < theta.length; i++) {
            double h = 1e-6;
            double[] tp = theta.clone();
            double[] tm = theta.clone();
            tp[i] += h;
            tm[i] -= h;
            double fd = 2 * (pairing(tp, x, v) - pairing(tm, x, v)) / (2 * h);
            assertEquals(fd, g[i], 1e-6 * (Math.abs(fd) + scale), family().paramName(i));
        }
    }

    private double pairing(double[] theta, INDArray x, INDArray v) {
        try (LearnedOperator.Instance k = family().bind(theta, shape(), DataType.DOUBLE)) {
            INDArray kx = Nd4j.create(DataType.DOUBLE, k.dualShape());
            k.apply(x, kx);
            return dot(kx, v);
        }
    }

    @Test
    void parameterGradientBoundHoldsOnRandomPairs() {
        Random r = new Random(4);
        try (LearnedOperator.Instance k = family().bind(theta(r), shape(), DataType.DOUBLE)) {
            assertTrue(k.parameterGradientBound().certified());
            for (int trial = 0; trial < 10; trial++) {
                INDArray x = gaussian(r, shape());
                INDArray v = gaussian(r, k.dualShape());
                double[] g = new double[k.theta().length];
                k.accumulateParameterGradient(x, v, 1.0, g);
                assertTrue(norm(g) <= k.parameterGradientBound().value() * norm(x) * norm(v) * (1 + 1e-12));
            }
        }
    }

    @Test
    void floatAndDoubleAgree() {
        Random r = new Random(5);
        double[] theta = theta(r);
        INDArray x = gaussian(r, shape());
        try (LearnedOperator.Instance kd = family().bind(theta, shape(), DataType.DOUBLE);
             LearnedOperator.Instance kf = family().bind(theta, shape(), DataType.FLOAT)) {
            INDArray od = Nd4j.create(DataType.DOUBLE, kd.dualShape());
            INDArray of = Nd4j.create(DataType.FLOAT, kf.dualShape());
            kd.apply(x, od);
            kf.apply(x.castTo(DataType.FLOAT), of);
            assertTrue(norm(od.sub(of.castTo(DataType.DOUBLE))) <= 1e-5 * norm(od));
        }
    }

    @Test
    void projectionIsIdempotent() {
        Random r = new Random(6);
        double[] raw = new double[family().numParams()];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = 20 * r.nextGaussian();
        }
        double[] copy = raw.clone();
        double[] p = family().project(raw);
        assertArrayEquals(copy, raw, 0.0);
        assertArrayEquals(p, family().project(p), 0.0);
        double[] init = family().initialTheta(3);
        assertArrayEquals(init, family().project(init), 0.0);
    }
}
