package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.junit.jupiter.api.Nested;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TotalVariationTest extends RegularizerContract {

    @Override
    protected Regularizer regularizer() {
        return new TotalVariation();
    }

    /** Strong smoothing, large weight. */
    @Nested
    class LargeGamma extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new TotalVariation();
        }

        @Override
        protected double[] testTheta(Random random) {
            return new double[]{Math.log(1.7), Math.log(0.4)};
        }
    }

    /** Weak smoothing on a smooth image, where many |Dx|_p are comparable to γ. */
    @Nested
    class SmallGammaSmoothImage extends RegularizerContract {
        @Override
        protected Regularizer regularizer() {
            return new TotalVariation();
        }

        @Override
        protected double[] testTheta(Random random) {
            return new double[]{Math.log(0.02), Math.log(0.01)};
        }

        @Override
        protected INDArray testImage(Random random) {
            INDArray x = Nd4j.create(DataType.DOUBLE, height(), width());
            for (int i = 0; i < height(); i++) {
                for (int j = 0; j < width(); j++) {
                    x.putScalar(i, j, 0.5 + 0.02 * Math.sin(i * 0.7 + j * 0.3) + 0.01 * random.nextGaussian());
                }
            }
            return x;
        }
    }

    private static double[] theta(double lambda, double gamma) {
        return new double[]{Math.log(lambda), Math.log(gamma)};
    }

    /** Direct double loops: λ Σ_p (√(a² + b² + γ²) − γ). */
    private static double directValue(INDArray x, double lambda, double gamma) {
        long h = x.size(0);
        long w = x.size(1);
        double s = 0;
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                double a = j + 1 < w ? x.getDouble(i, j + 1) - x.getDouble(i, j) : 0;
                double b = i + 1 < h ? x.getDouble(i + 1, j) - x.getDouble(i, j) : 0;
                s += Math.sqrt(a * a + b * b + gamma * gamma) - gamma;
            }
        }
        return lambda * s;
    }

    @Test
    void valueMatchesTheDefinition() {
        Random r = new Random(1);
        INDArray x = uniform(r, 0, 1, 9, 14);
        try (Regularizer.Instance tv = new TotalVariation().bind(theta(0.3, 0.02), DataType.DOUBLE)) {
            double expected = directValue(x, 0.3, 0.02);
            assertEquals(expected, tv.value(x), 1e-12 * expected);
        }
        // a horizontal ramp with step d: (H·(W−1)) pixels with |u| = d, plus the last column with u = (0, 0)
        INDArray ramp = Nd4j.create(DataType.DOUBLE, 5, 8);
        for (int j = 0; j < 8; j++) {
            ramp.getColumn(j).assign(0.1 * j);
        }
        try (Regularizer.Instance tv = new TotalVariation().bind(theta(2, 0.05), DataType.DOUBLE)) {
            assertEquals(2 * 5 * 7 * (Math.sqrt(0.01 + 0.0025) - 0.05), tv.value(ramp), 1e-12);
        }
    }

    @Test
    void constantImageHasZeroValueAndGradient() {
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            try (Regularizer.Instance tv = new TotalVariation().bind(theta(0.5, 0.01), dt)) {
                INDArray c = Nd4j.zeros(dt, 16, 9).addi(0.37);
                INDArray g = Nd4j.create(dt, 16, 9).addi(5);
                tv.gradient(c, g);
                assertEquals(0.0, tv.value(c), 0.0);
                assertEquals(0.0, g.norm2Number().doubleValue(), 0.0);
                assertArrayEquals(new double[]{0.0, 0.0}, tv.mixedAdjoint(c, gaussian(new Random(2), 16, 9).castTo(dt)), 0.0);
            }
        }
    }

    @Test
    void gradientMatchesTheClosedFormOnARamp() {
        // vertical ramp x[i, j] = d·i: u = (0, d) except the last row; ∇R = λ D_vᵀ(d/ρ) is −λd/ρ in the first
        // row, +λd/ρ in the last row and 0 in between
        double lambda = 0.8;
        double gamma = 0.03;
        double d = 0.07;
        INDArray x = Nd4j.create(DataType.DOUBLE, 6, 5);
        for (int i = 0; i < 6; i++) {
            x.getRow(i).assign(d * i);
        }
        INDArray g = Nd4j.create(DataType.DOUBLE, 6, 5);
        try (Regularizer.Instance tv = new TotalVariation().bind(theta(lambda, gamma), DataType.DOUBLE)) {
            tv.gradient(x, g);
        }
        double q = lambda * d / Math.sqrt(d * d + gamma * gamma);
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 5; j++) {
                double expected = i == 0 ? -q : (i == 5 ? q : 0.0);
                assertEquals(expected, g.getDouble(i, j), 1e-14);
            }
        }
    }

    @Test
    void thirdDerivativeConstantBoundsSampledThirdDerivativesAndIsNearlyTight() {
        // ‖d/dt ∇²ψ_γ(u + t h)‖₂ by central differences of the 2×2 Hessian, over u at the scale of γ
        Random r = new Random(3);
        double gamma = 0.2;
        double bound = TotalVariation.THIRD_DERIVATIVE_CONSTANT / (gamma * gamma);
        double max = 0;
        for (int trial = 0; trial < 20000; trial++) {
            double radius = gamma * 2 * r.nextDouble();
            double angle = 2 * Math.PI * r.nextDouble();
            double[] u = {radius * Math.cos(angle), radius * Math.sin(angle)};
            double hAngle = 2 * Math.PI * r.nextDouble();
            double[] h = {Math.cos(hAngle), Math.sin(hAngle)};
            double eps = 1e-5 * gamma;
            double[] hp = hessianPsi(u[0] + eps * h[0], u[1] + eps * h[1], gamma);
            double[] hm = hessianPsi(u[0] - eps * h[0], u[1] - eps * h[1], gamma);
            double p = (hp[0] - hm[0]) / (2 * eps);
            double q = (hp[1] - hm[1]) / (2 * eps);
            double s = (hp[2] - hm[2]) / (2 * eps);
            double spectral = Math.abs(p + s) / 2 + Math.sqrt((p - s) * (p - s) / 4 + q * q);
            max = Math.max(max, spectral);
        }
        assertTrue(max <= bound, "sampled third derivative " + max + " exceeds the proven bound " + bound);
        // the exact supremum is 3·(1/2)/(5/4)^{5/2}/γ² ≈ 0.8587/γ² (at |u| = γ/2, h ∥ u); the bound is ≈ 1.217/γ²
        assertTrue(max >= 0.65 * bound, "bound is much looser than expected: sampled max " + max + " vs " + bound);
    }

    /** (H₁₁, H₁₂, H₂₂) of ∇²ψ_γ(u) = (I − uuᵀ/ρ²)/ρ. */
    private static double[] hessianPsi(double u1, double u2, double gamma) {
        double rho2 = u1 * u1 + u2 * u2 + gamma * gamma;
        double rho = Math.sqrt(rho2);
        return new double[]{(1 - u1 * u1 / rho2) / rho, -u1 * u2 / rho2 / rho, (1 - u2 * u2 / rho2) / rho};
    }

    @Test
    void hessianLipschitzBoundHoldsOnRandomPairs() {
        Random r = new Random(4);
        double gamma = 0.02;
        try (Regularizer.Instance tv = new TotalVariation().bind(theta(0.7, gamma), DataType.DOUBLE)) {
            double lh = tv.hessianLipschitz().value();
            assertTrue(tv.hessianLipschitz().certified());
            INDArray hx = Nd4j.create(DataType.DOUBLE, 10, 12);
            INDArray hy = Nd4j.create(DataType.DOUBLE, 10, 12);
            double worst = 0;
            for (int trial = 0; trial < 40; trial++) {
                // pixel differences at the scale of γ, where the third derivative of ψ_γ is largest
                INDArray x = gaussian(r, 10, 12).muli(gamma * (0.2 + r.nextDouble()));
                INDArray y = x.add(gaussian(r, 10, 12).muli(gamma * Math.pow(10, -3 * r.nextDouble())));
                INDArray v = gaussian(r, 10, 12);
                tv.hessianVector(x, v, hx);
                tv.hessianVector(y, v, hy);
                double ratio = norm(hx.sub(hy)) / (norm(x.sub(y)) * norm(v));
                worst = Math.max(worst, ratio);
                assertTrue(ratio <= lh, "‖H(x)v − H(y)v‖/(‖x − y‖‖v‖) = " + ratio + " exceeds L_H = " + lh);
            }
            assertTrue(worst > 0);
        }
    }

    @Test
    void mixedLipschitzBoundHoldsOnRandomPairs() {
        Random r = new Random(5);
        double gamma = 0.05;
        try (Regularizer.Instance tv = new TotalVariation().bind(theta(1.5, gamma), DataType.DOUBLE)) {
            double lj = tv.mixedLipschitz().value();
            for (int trial = 0; trial < 30; trial++) {
                INDArray x = gaussian(r, 9, 8).muli(gamma);
                INDArray y = x.add(gaussian(r, 9, 8).muli(gamma * 0.1));
                INDArray q = gaussian(r, 9, 8);
                double[] jx = tv.mixedAdjoint(x, q);
                double[] jy = tv.mixedAdjoint(y, q);
                double diff = Math.hypot(jx[0] - jy[0], jx[1] - jy[1]);
                double ratio = diff / (norm(x.sub(y)) * norm(q));
                assertTrue(ratio <= lj, "mixed Lipschitz ratio " + ratio + " exceeds L_J = " + lj);
            }
        }
    }

    @Test
    void mixedNormIsTheFrobeniusNormOfBothColumns() {
        Random r = new Random(6);
        double lambda = 0.4;
        double gamma = 0.03;
        INDArray x = uniform(r, 0, 1, 12, 11);
        INDArray c1 = Nd4j.create(DataType.DOUBLE, 12, 11);
        INDArray gp = Nd4j.create(DataType.DOUBLE, 12, 11);
        INDArray gm = Nd4j.create(DataType.DOUBLE, 12, 11);
        TotalVariation reg = new TotalVariation();
        double h = 1e-6;
        Bound b;
        try (Regularizer.Instance tv = reg.bind(theta(lambda, gamma), DataType.DOUBLE)) {
            tv.gradient(x, c1);           // ∂∇R/∂ log λ = ∇R
            b = tv.mixedNorm(x);
        }
        try (Regularizer.Instance p = reg.bind(new double[]{Math.log(lambda), Math.log(gamma) + h}, DataType.DOUBLE);
             Regularizer.Instance m = reg.bind(new double[]{Math.log(lambda), Math.log(gamma) - h}, DataType.DOUBLE)) {
            p.gradient(x, gp);
            m.gradient(x, gm);
        }
        INDArray c2 = gp.sub(gm).divi(2 * h);
        double frobenius = Math.sqrt(dot(c1, c1) + dot(c2, c2));
        assertTrue(b.certified());
        assertTrue(b.value() >= frobenius * (1 - 1e-7), "mixedNorm " + b.value() + " below ‖J‖_F " + frobenius);
        assertEquals(frobenius, b.value(), 1e-6 * frobenius);
        // and in FLOAT
        try (Regularizer.Instance tv = reg.bind(theta(lambda, gamma), DataType.FLOAT)) {
            assertEquals(frobenius, tv.mixedNorm(x.castTo(DataType.FLOAT)).value(), 1e-4 * frobenius);
        }
    }

    @Test
    void projectionClampsOnlyLogGamma() {
        TotalVariation tv = new TotalVariation();
        assertArrayEquals(new double[]{-30, TotalVariation.LOG_GAMMA_MIN}, tv.project(new double[]{-30, -50}), 0.0);
        assertArrayEquals(new double[]{12, 0.0}, tv.project(new double[]{12, 3}), 0.0);
        assertArrayEquals(new double[]{0.1, -2}, tv.project(new double[]{0.1, -2}), 0.0);
        assertEquals(Math.log(1e-4), TotalVariation.LOG_GAMMA_MIN, 1e-15);
        assertArrayEquals(new double[]{Math.log(0.05), Math.log(0.01)}, tv.initialTheta(123), 0.0);
        assertEquals("tv", tv.type());
        assertEquals(2, tv.numParams());
        assertEquals("log_lambda", tv.paramName(0));
        assertEquals("log_gamma", tv.paramName(1));
        assertThrows(IllegalArgumentException.class, () -> tv.bind(new double[]{1}, DataType.DOUBLE));
        assertEquals(14.0 * 256 * 256, tv.gradientFlops(256, 256));
        assertEquals(25.0 * 256 * 256, tv.hessianVectorFlops(256, 256));
    }

    @Test
    void instanceFollowsImageShapeChangesAndFloatAgreesOnALargeImage() {
        Random r = new Random(7);
        TotalVariation reg = new TotalVariation();
        INDArray big = uniform(r, 0, 1, 256, 256);
        INDArray small = uniform(r, 0, 1, 12, 11);
        try (Regularizer.Instance d = reg.bind(reg.initialTheta(0), DataType.DOUBLE);
             Regularizer.Instance f = reg.bind(reg.initialTheta(0), DataType.FLOAT)) {
            INDArray gd = Nd4j.create(DataType.DOUBLE, 256, 256);
            INDArray gf = Nd4j.create(DataType.FLOAT, 256, 256);
            INDArray hd = Nd4j.create(DataType.DOUBLE, 256, 256);
            INDArray hf = Nd4j.create(DataType.FLOAT, 256, 256);
            INDArray v = gaussian(r, 256, 256);
            d.gradient(big, gd);
            f.gradient(big.castTo(DataType.FLOAT), gf);
            d.hessianVector(big, v, hd);
            f.hessianVector(big.castTo(DataType.FLOAT), v.castTo(DataType.FLOAT), hf);
            assertTrue(norm(gd.sub(gf.castTo(DataType.DOUBLE))) <= 1e-5 * norm(gd));
            assertTrue(norm(hd.sub(hf.castTo(DataType.DOUBLE))) <= 1e-4 * norm(hd));
            assertEquals(d.value(big), f.value(big.castTo(DataType.FLOAT)), 1e-5 * d.value(big));
            // switch shape and back
            INDArray gs = Nd4j.create(DataType.DOUBLE, 12, 11);
            d.gradient(small, gs);
            assertEquals(directValue(small, 0.05, 0.01), d.value(small), 1e-12 * d.value(small));
            INDArray gd2 = Nd4j.create(DataType.DOUBLE, 256, 256);
            d.gradient(big, gd2);
            assertEquals(0.0, norm(gd2.sub(gd)), 0.0);
        }
    }
}
