package bilevel.numerics.regularizers;

import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.LipschitzChecks;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link QuadraticRegularizer} (differences only) against the contract and dense matrices. */
class QuadraticRegularizerTest extends RegularizerContract {

    protected boolean identityTerm() {
        return false;
    }

    @Override
    protected Regularizer regularizer() {
        return new QuadraticRegularizer(identityTerm());
    }

    /** Spread the weights over two orders of magnitude so that every term matters. */
    @Override
    protected double[] testTheta(Random random) {
        double[] t = new double[regularizer().numParams()];
        for (int i = 0; i < t.length; i++) {
            t[i] = Math.log(0.1) + 2 * random.nextDouble();
        }
        return t;
    }

    private double[][] denseHessian(double[] theta) {
        int h = (int) height();
        int w = (int) width();
        int n = h * w;
        int o = identityTerm() ? 1 : 0;
        double[][] d1 = Dense.verticalDifference(h, w);
        double[][] d2 = Dense.horizontalDifference(h, w);
        double[][] m = new double[n][n];
        if (identityTerm()) {
            m = Dense.plus(m, Math.exp(theta[0]), Dense.identity(n));
        }
        m = Dense.plus(m, Math.exp(theta[o]), Dense.transposeTimes(d1, d1));
        return Dense.plus(m, Math.exp(theta[o + 1]), Dense.transposeTimes(d2, d2));
    }

    @Test
    void gradientValueAndMixedAdjointMatchDenseMatrices() {
        Random random = new Random(41);
        double[] theta = testTheta(random);
        int h = (int) height();
        int w = (int) width();
        double[][] hess = denseHessian(theta);
        double[][][] parts = {Dense.identity(h * w), Dense.verticalDifference(h, w), Dense.horizontalDifference(h, w)};
        try (Regularizer.Instance r = regularizer().bind(theta, DataType.DOUBLE)) {
            INDArray x = gaussian(random, h, w);
            INDArray q = gaussian(random, h, w);
            double[] xv = Dense.vector(x);
            double[] qv = Dense.vector(q);
            INDArray g = Nd4j.create(DataType.DOUBLE, h, w);
            r.gradient(x, g);
            double[] expected = Dense.times(hess, xv);
            assertTrue(Dense.norm(Dense.minus(Dense.vector(g), expected)) <= 1e-12 * Dense.norm(expected));
            assertEquals(0.5 * Dense.dot(xv, expected), r.value(x), 1e-12 * Dense.dot(xv, expected));
            double[] mixed = r.mixedAdjoint(x, q);
            int o = identityTerm() ? 0 : 1;
            for (int i = 0; i < mixed.length; i++) {
                double[] dx = Dense.times(parts[i + o], xv);
                double[] dq = Dense.times(parts[i + o], qv);
                double e = Math.exp(theta[i]) * Dense.dot(dx, dq);
                assertEquals(e, mixed[i], 1e-12 * (Math.abs(e) + 1));
            }
        }
    }

    @Test
    void constantsMatchTheirDefinitions() {
        Random random = new Random(42);
        double[] theta = testTheta(random);
        try (Regularizer.Instance r = regularizer().bind(theta, DataType.DOUBLE)) {
            assertTrue(r.convexityModulus().certified() && r.gradientLipschitz().certified()
                    && r.hessianLipschitz().certified() && r.mixedLipschitz().certified());
            assertEquals(0.0, r.hessianLipschitz().value());
            double m = identityTerm() ? Math.exp(theta[0]) : 0;
            assertEquals(m, r.convexityModulus().value(), 1e-15);
            // the Hessian does not depend on x: L_H = 0 is exact
            INDArray v = gaussian(random, height(), width());
            INDArray a = Nd4j.create(DataType.DOUBLE, height(), width());
            INDArray b = Nd4j.create(DataType.DOUBLE, height(), width());
            r.hessianVector(gaussian(random, height(), width()), v, a);
            r.hessianVector(gaussian(random, height(), width()), v, b);
            assertEquals(0.0, a.sub(b).norm2Number().doubleValue(), 0.0);
        }
        LipschitzChecks.check(regularizer(), theta, height(), width(), 1.0, 43);
    }

    @Test
    void worksOnOtherImageSizesWithTheSameInstance() {
        Random random = new Random(44);
        try (Regularizer.Instance r = regularizer().bind(testTheta(random), DataType.DOUBLE)) {
            for (long[] s : new long[][]{{5, 7}, {1, 6}, {6, 1}, {12, 11}}) {
                INDArray x = gaussian(random, s);
                INDArray g = Nd4j.create(DataType.DOUBLE, s);
                r.gradient(x, g);
                double fd = (r.value(x.add(g.mul(1e-6))) - r.value(x.sub(g.mul(1e-6)))) / 2e-6;
                double an = g.mul(g).sumNumber().doubleValue();
                assertEquals(an, fd, 1e-6 * Math.max(1, an));
            }
        }
    }
}
