package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.dot;
import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Contract every {@link Regularizer} test extends: derivatives against central finite differences in
 * double precision, convexity, projection, and that every <em>certified</em> constant is not violated
 * on random samples. Subclasses supply a small instance of the family and feasible parameters.
 */
public abstract class RegularizerContract {

    /** A small member of the family, cheap enough for thousands of evaluations on a 12×12 image. */
    protected abstract Regularizer regularizer();

    /** Feasible parameters to test at (may differ from initialTheta to exercise every term). */
    protected double[] testTheta(Random random) {
        return regularizer().project(regularizer().initialTheta(random.nextLong()));
    }

    protected long height() { return 12; }

    protected long width() { return 11; }

    /** Test image: values in [0, 1] like a natural image, plus some structure. */
    protected INDArray testImage(Random random) {
        return uniform(random, 0, 1, height(), width());
    }

    /** Relative tolerance for finite-difference comparisons. */
    protected double fdTolerance() { return 1e-6; }

    private static double relErr(double a, double b) {
        return Math.abs(a - b) / Math.max(1e-8, Math.max(Math.abs(a), Math.abs(b)));
    }

    @Test
    void gradientMatchesFiniteDifferencesOfValue() {
        Random random = new Random(11);
        Regularizer reg = regularizer();
        try (Regularizer.Instance r = reg.bind(testTheta(random), DataType.DOUBLE)) {
            for (int trial = 0; trial < 3; trial++) {
                INDArray x = testImage(random);
                INDArray d = gaussian(random, height(), width());
                INDArray g = Nd4j.create(DataType.DOUBLE, height(), width());
                r.gradient(x, g);
                double h = 1e-5;
                double fd = (r.value(x.add(d.mul(h))) - r.value(x.sub(d.mul(h)))) / (2 * h);
                double an = dot(g, d);
                assertTrue(relErr(fd, an) < fdTolerance() * 10 || Math.abs(fd - an) < 1e-7,
                        reg.type() + ": <grad, d> = " + an + " but finite difference = " + fd);
            }
        }
    }

    @Test
    void hessianVectorMatchesFiniteDifferencesOfGradient() {
        Random random = new Random(12);
        Regularizer reg = regularizer();
        try (Regularizer.Instance r = reg.bind(testTheta(random), DataType.DOUBLE)) {
            for (int trial = 0; trial < 3; trial++) {
                INDArray x = testImage(random);
                INDArray v = gaussian(random, height(), width());
                INDArray hv = Nd4j.create(DataType.DOUBLE, height(), width());
                r.hessianVector(x, v, hv);
                double h = 1e-5;
                INDArray gp = Nd4j.create(DataType.DOUBLE, height(), width());
                INDArray gm = Nd4j.create(DataType.DOUBLE, height(), width());
                r.gradient(x.add(v.mul(h)), gp);
                r.gradient(x.sub(v.mul(h)), gm);
                INDArray fd = gp.sub(gm).divi(2 * h);
                double err = norm(fd.sub(hv)) / Math.max(1e-8, norm(hv));
                assertTrue(err < fdTolerance() * 10 || norm(fd.sub(hv)) < 1e-7,
                        reg.type() + ": relative error of Hessian-vector product vs finite differences = " + err);
            }
        }
    }

    @Test
    void mixedAdjointMatchesFiniteDifferencesInTheta() {
        Random random = new Random(13);
        Regularizer reg = regularizer();
        double[] theta = testTheta(random);
        INDArray x = testImage(random);
        INDArray q = gaussian(random, height(), width());
        double[] mixed;
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE)) {
            mixed = r.mixedAdjoint(x, q);
        }
        assertEquals(reg.numParams(), mixed.length);
        int p = reg.numParams();
        int[] coords;
        if (p <= 200) {
            coords = java.util.stream.IntStream.range(0, p).toArray();
        } else {
            coords = random.ints(60, 0, p).toArray();
        }
        double scale = norm(mixed) / Math.sqrt(p) + 1e-12;
        for (int i : coords) {
            double h = 1e-6 * Math.max(1, Math.abs(theta[i]));
            double fd = (pairing(reg, perturbed(theta, i, h), x, q) - pairing(reg, perturbed(theta, i, -h), x, q)) / (2 * h);
            assertTrue(Math.abs(fd - mixed[i]) <= fdTolerance() * 100 * (Math.abs(fd) + scale),
                    reg.type() + ": mixed adjoint entry " + reg.paramName(i) + " = " + mixed[i] + " but finite difference = " + fd);
        }
    }

    private static double[] perturbed(double[] theta, int i, double h) {
        double[] t = theta.clone();
        t[i] += h;
        return t;
    }

    private double pairing(Regularizer reg, double[] theta, INDArray x, INDArray q) {
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE)) {
            INDArray g = Nd4j.create(DataType.DOUBLE, x.shape());
            r.gradient(x, g);
            return dot(g, q);
        }
    }

    @Test
    void convexAlongRandomLinesWithItsModulus() {
        Random random = new Random(14);
        Regularizer reg = regularizer();
        try (Regularizer.Instance r = reg.bind(testTheta(random), DataType.DOUBLE)) {
            double m = r.convexityModulus().value();
            for (int trial = 0; trial < 5; trial++) {
                INDArray x = testImage(random);
                INDArray v = gaussian(random, height(), width());
                INDArray hv = Nd4j.create(DataType.DOUBLE, height(), width());
                r.hessianVector(x, v, hv);
                double curvature = dot(v, hv) / dot(v, v);
                assertTrue(curvature >= m - 1e-9, reg.type() + ": curvature " + curvature + " below modulus " + m);
                double lip = r.gradientLipschitz().value();
                assertTrue(norm(hv) / norm(v) <= lip * (1 + 1e-9),
                        reg.type() + ": ‖∇²R v‖/‖v‖ = " + norm(hv) / norm(v) + " exceeds the Lipschitz bound " + lip);
            }
        }
    }

    @Test
    void certifiedMixedNormBoundsTheMixedAdjoint() {
        Random random = new Random(15);
        Regularizer reg = regularizer();
        try (Regularizer.Instance r = reg.bind(testTheta(random), DataType.DOUBLE)) {
            INDArray x = testImage(random);
            Bound b = r.mixedNorm(x);
            for (int trial = 0; trial < 5; trial++) {
                INDArray q = gaussian(random, height(), width());
                double ratio = norm(r.mixedAdjoint(x, q)) / norm(q);
                assertTrue(ratio <= b.value() * (1 + 1e-9),
                        reg.type() + ": ‖Jᵀq‖/‖q‖ = " + ratio + " exceeds mixedNorm " + b.value());
            }
        }
    }

    @Test
    void gradientIsLipschitzWithItsConstantOnRandomPairs() {
        Random random = new Random(16);
        Regularizer reg = regularizer();
        try (Regularizer.Instance r = reg.bind(testTheta(random), DataType.DOUBLE)) {
            double lip = r.gradientLipschitz().value();
            for (int trial = 0; trial < 5; trial++) {
                INDArray x = testImage(random);
                INDArray y = x.add(gaussian(random, height(), width()).muli(0.1));
                INDArray gx = Nd4j.create(DataType.DOUBLE, height(), width());
                INDArray gy = Nd4j.create(DataType.DOUBLE, height(), width());
                r.gradient(x, gx);
                r.gradient(y, gy);
                assertTrue(norm(gx.sub(gy)) <= lip * norm(x.sub(y)) * (1 + 1e-9), reg.type() + ": gradient Lipschitz bound violated");
            }
        }
    }

    @Test
    void projectionIsIdempotentAndLeavesInputUnchanged() {
        Random random = new Random(17);
        Regularizer reg = regularizer();
        double[] raw = new double[reg.numParams()];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = 3 * random.nextGaussian();
        }
        double[] copy = raw.clone();
        double[] p1 = reg.project(raw);
        assertArrayEquals(copy, raw, 0.0, "project must not modify its argument");
        double[] p2 = reg.project(p1);
        assertArrayEquals(p1, p2, 1e-12, "projection must be idempotent");
        double[] init = reg.initialTheta(5);
        assertArrayEquals(init, reg.project(init), 1e-12, "initialTheta must be feasible");
        assertEquals(reg.numParams(), init.length);
    }

    @Test
    void floatAndDoubleAgree() {
        Random random = new Random(18);
        Regularizer reg = regularizer();
        double[] theta = testTheta(random);
        INDArray x = testImage(random);
        INDArray gd = Nd4j.create(DataType.DOUBLE, height(), width());
        INDArray gf = Nd4j.create(DataType.FLOAT, height(), width());
        try (Regularizer.Instance rd = reg.bind(theta, DataType.DOUBLE);
             Regularizer.Instance rf = reg.bind(theta, DataType.FLOAT)) {
            rd.gradient(x, gd);
            rf.gradient(x.castTo(DataType.FLOAT), gf);
            double err = norm(gd.sub(gf.castTo(DataType.DOUBLE))) / Math.max(1e-12, norm(gd));
            assertTrue(err < 1e-4, reg.type() + ": float and double gradients differ by " + err);
            assertEquals(rd.value(x), rf.value(x.castTo(DataType.FLOAT)), 1e-4 * Math.max(1, Math.abs(rd.value(x))));
        }
    }
}
