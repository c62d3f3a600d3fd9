package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IcnnTest extends RegularizerContract {

    private static final Icnn SMALL = new Icnn(2, 3, Icnn.DEFAULT_SHARPNESS);

    @Override
    protected Regularizer regularizer() {
        return SMALL;
    }

    /** Random parameters with every block non-zero (V, b₁, b₂ too), W₂ ≥ 0, pre-activations partly in the bend of σ. */
    @Override
    protected double[] testTheta(Random random) {
        double[] theta = new double[SMALL.numParams()];
        for (int i = 0; i < theta.length; i++) {
            theta[i] = 0.2 * random.nextGaussian();
        }
        for (int i = SMALL.w2Offset(); i < SMALL.w2Offset() + 36; i++) {
            theta[i] = Math.abs(theta[i]);
        }
        return SMALL.project(theta);
    }

    @Test
    void valueMatchesDirectEvaluationForOneByOneKernels() {
        // C = 1, k = 1: R(x) = e^s Σ_p σ(w₂ σ(w₁ x_p + b₁) + v x_p + b₂)
        Icnn reg = new Icnn(1, 1, 3.0);
        double w1 = 1.5, b1 = -0.2, w2 = 0.7, v = -0.4, b2 = 0.1, s = 0.3;
        double[] theta = {w1, b1, w2, v, b2, s};
        INDArray x = gaussian(new Random(2), 3, 4).muli(30); // large |βt| exercises the stable softplus
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE)) {
            double expected = 0;
            for (long i = 0; i < x.length(); i++) {
                double xi = x.getDouble(i);
                expected += softplus(w2 * softplus(w1 * xi + b1, 3) + v * xi + b2, 3);
            }
            expected *= Math.exp(s);
            assertEquals(expected, r.value(x), 1e-12 * Math.abs(expected));
        }
    }

    private static double softplus(double t, double beta) {
        double u = beta * t;
        return (Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)))) / beta;
    }

    @Test
    void projectionClipsOnlyW2() {
        Random random = new Random(4);
        double[] raw = new double[SMALL.numParams()];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = random.nextGaussian();
        }
        double[] p = SMALL.project(raw);
        for (int i = 0; i < raw.length; i++) {
            boolean inW2 = i >= SMALL.w2Offset() && i < SMALL.w2Offset() + 36;
            assertEquals(inW2 ? Math.max(0, raw[i]) : raw[i], p[i], 0.0, SMALL.paramName(i));
        }
        try (Regularizer.Instance r = SMALL.bind(raw, DataType.DOUBLE)) {
            assertTrue(!r.convexityModulus().certified(), "an infeasible θ must not claim certified convexity");
        }
    }

    @Test
    void hessianIsLipschitzWithItsCertifiedConstant() {
        Random random = new Random(6);
        try (Regularizer.Instance r = SMALL.bind(testTheta(random), DataType.DOUBLE)) {
            Bound lh = r.hessianLipschitz();
            assertTrue(lh.certified());
            for (int trial = 0; trial < 6; trial++) {
                INDArray x = testImage(random);
                INDArray y = x.add(gaussian(random, height(), width()).muli(Math.pow(10, -trial / 2.0)));
                INDArray v = gaussian(random, height(), width());
                INDArray hx = Nd4j.create(DataType.DOUBLE, height(), width());
                INDArray hy = Nd4j.create(DataType.DOUBLE, height(), width());
                r.hessianVector(x, v, hx);
                r.hessianVector(y, v, hy);
                double lhs = norm(hx.sub(hy));
                assertTrue(lhs <= lh.value() * norm(x.sub(y)) * norm(v) * (1 + 1e-9),
                        "‖(H(x) − H(y))v‖ = " + lhs + " exceeds L_H‖x − y‖‖v‖ = " + lh.value() * norm(x.sub(y)) * norm(v));
            }
        }
    }

    @Test
    void mixedJacobianIsLipschitzOnBallsButNotGlobally() {
        Random random = new Random(7);
        try (Regularizer.Instance r = SMALL.bind(testTheta(random), DataType.DOUBLE)) {
            Icnn.Inst inst = (Icnn.Inst) r;
            assertEquals(Double.POSITIVE_INFINITY, r.mixedLipschitz().value());
            assertTrue(r.mixedLipschitz().certified());
            for (int trial = 0; trial < 6; trial++) {
                INDArray x = testImage(random).muli(1 + trial);
                INDArray y = x.add(gaussian(random, height(), width()).muli(Math.pow(10, -trial / 2.0)));
                INDArray q = gaussian(random, height(), width());
                double rho = Math.max(norm(x), norm(y));
                Bound lj = inst.mixedLipschitz(rho);
                assertTrue(lj.certified() && Double.isFinite(lj.value()));
                double[] jx = r.mixedAdjoint(x, q);
                double[] jy = r.mixedAdjoint(y, q);
                double diff = 0;
                for (int i = 0; i < jx.length; i++) {
                    diff += (jx[i] - jy[i]) * (jx[i] - jy[i]);
                }
                diff = Math.sqrt(diff);
                assertTrue(diff <= lj.value() * norm(x.sub(y)) * norm(q) * (1 + 1e-9),
                        "‖(J(x) − J(y))ᵀq‖ = " + diff + " exceeds L_J(ρ)‖x − y‖‖q‖");
            }
        }
    }

    @Test
    void certifiedConstantsAreCertified() {
        try (Regularizer.Instance r = SMALL.bind(testTheta(new Random(8)), DataType.DOUBLE)) {
            assertTrue(r.convexityModulus().certified());
            assertTrue(r.gradientLipschitz().certified());
            assertTrue(r.hessianLipschitz().certified());
            assertTrue(r.mixedNorm(testImage(new Random(9))).certified());
        }
    }

    @Test
    void initialThetaDenoisesAPiecewiseConstantImage() {
        Icnn reg = new Icnn();
        int n = 32;
        Random random = new Random(10);
        INDArray clean = Nd4j.create(DataType.DOUBLE, n, n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double v = 0.2;
                if (i >= 8 && i < 24 && j >= 6 && j < 20) {
                    v = 0.8;
                }
                if ((i - 20) * (i - 20) + (j - 22) * (j - 22) < 36) {
                    v = 0.5;
                }
                clean.putScalar(new long[]{i, j}, v);
            }
        }
        INDArray noisy = clean.add(gaussian(random, n, n).muli(Icnn.INIT_NOISE_LEVEL));
        double[] theta = reg.initialTheta(1);
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE)) {
            // curvature is largest near the zero image (σ'' peaks where the zero-mean responses vanish): estimate
            // ‖∇²R‖ there by power iteration (the certified bound is far looser).
            double lEst = ConvexRidgeTest.powerIteration(r, n, 6);
            assertTrue(lEst <= r.gradientLipschitz().value() * (1 + 1e-9));
            // gradient descent on the 1-strongly convex ½‖x − y‖² + R(x): contracts by about 1 − step per iteration
            double step = 1 / (1 + 1.1 * lEst);
            INDArray x = noisy.dup();
            INDArray g = Nd4j.create(DataType.DOUBLE, n, n);
            for (int it = 0; it < 15; it++) {
                r.gradient(x, g);
                g.addi(x).subi(noisy);
                x.subi(g.muli(step));
            }
            double before = norm(noisy.sub(clean));
            double after = norm(x.sub(clean));
            System.out.printf("icnn init: certified L_R = %.3g, power-iteration L_R = %.3g, rms error noisy %.4f -> denoised %.4f%n",
                    r.gradientLipschitz().value(), lEst, before / n, after / n);
            assertTrue(after < 0.8 * before, "denoising error " + after + " vs noisy " + before);
        }
    }
}
