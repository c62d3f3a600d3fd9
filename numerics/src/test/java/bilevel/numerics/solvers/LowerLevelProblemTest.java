package bilevel.numerics.solvers;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.testproblems.SmoothedTvTestRegularizer;
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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LowerLevelProblemTest {
    private static final long H = 9;
    private static final long W = 8;

    @Test
    void gradientAndHessianMatchFiniteDifferences() {
        Random random = new Random(51);
        LinearOperator[] ops = {new IdentityTestOperator(), new BoxBlurTestOperator(), new MaskTestOperator(3)};
        Regularizer[] regs = {new QuadraticRegularizer(true), new SmoothedTvTestRegularizer()};
        for (LinearOperator a : ops) {
            for (Regularizer reg : regs) {
                INDArray y = uniform(random, 0, 1, H, W);
                try (Regularizer.Instance r = reg.bind(reg.initialTheta(5), DataType.DOUBLE);
                     LowerLevelProblem p = new LowerLevelProblem(a, y, new long[]{H, W}, r, 0.3)) {
                    INDArray x = uniform(random, 0, 1, H, W);
                    INDArray d = gaussian(random, H, W);
                    INDArray g = p.newImage();
                    p.gradient(x, g);
                    double step = 1e-5;
                    double fd = (p.value(x.add(d.mul(step))) - p.value(x.sub(d.mul(step)))) / (2 * step);
                    assertEquals(fd, dot(g, d), 1e-6 * Math.max(1, Math.abs(fd)), a.name() + "/" + reg.type());
                    INDArray hv = p.newImage();
                    p.hessianVector(x, d, hv);
                    INDArray gp = p.newImage();
                    INDArray gm = p.newImage();
                    p.gradient(x.add(d.mul(step)), gp);
                    p.gradient(x.sub(d.mul(step)), gm);
                    INDArray fdh = gp.sub(gm).divi(2 * step);
                    assertTrue(norm(fdh.sub(hv)) <= 1e-6 * Math.max(1, norm(hv)), a.name() + "/" + reg.type());
                }
            }
        }
    }

    @Test
    void gradientIsTheDenseQuadraticResidual() {
        Random random = new Random(52);
        LinearOperator a = new BoxBlurTestOperator();
        double[] theta = {0.2, -0.5};
        double mu = 0.1;
        int h = (int) H;
        int w = (int) W;
        double[][] am = Dense.matrixOf(H, W, new long[]{H, W}, a::apply);
        double[][] d1 = Dense.verticalDifference(h, w);
        double[][] d2 = Dense.horizontalDifference(h, w);
        double[][] hess = Dense.plus(Dense.plus(Dense.plus(Dense.transposeTimes(am, am), mu, Dense.identity(h * w)),
                Math.exp(theta[0]), Dense.transposeTimes(d1, d1)), Math.exp(theta[1]), Dense.transposeTimes(d2, d2));
        INDArray y = uniform(random, 0, 1, H, W);
        try (Regularizer.Instance r = new QuadraticRegularizer().bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(a, y, new long[]{H, W}, r, mu)) {
            INDArray x = gaussian(random, H, W);
            INDArray g = p.newImage();
            p.gradient(x, g);
            double[] expected = Dense.minus(Dense.times(hess, Dense.vector(x)), Dense.transposeTimes(am, Dense.vector(y)));
            assertTrue(Dense.norm(Dense.minus(Dense.vector(g), expected)) <= 1e-12 * Dense.norm(expected));
            // the constants: μ_h = 0 + 0 + μ, L_h = 1 + (4 + 4)·w + μ
            assertEquals(mu, p.strongConvexity().value(), 1e-15);
            assertTrue(p.strongConvexity().certified() && p.smoothness().certified());
            assertEquals(1 + 4 * Math.exp(theta[0]) + 4 * Math.exp(theta[1]) + mu, p.smoothness().value(), 1e-12);
        }
    }

    @Test
    void identityOperatorAddsOneToTheModulusAndNonStronglyConvexProblemsAreRejected() {
        INDArray y = Nd4j.zeros(DataType.DOUBLE, H, W);
        try (Regularizer.Instance r = new SmoothedTvTestRegularizer().bind(new double[]{0, 0}, DataType.DOUBLE)) {
            try (LowerLevelProblem p = new LowerLevelProblem(new IdentityTestOperator(), y, r, 0)) {
                assertEquals(1.0, p.strongConvexity().value());
                assertEquals(java.util.Arrays.toString(new long[]{H, W}), java.util.Arrays.toString(p.imageShape()));
            }
            assertThrows(IllegalArgumentException.class,
                    () -> new LowerLevelProblem(new BoxBlurTestOperator(), y, new long[]{H, W}, r, 0));
            Regularizer.Instance estimated = new bilevel.numerics.testproblems.MisreportedSmoothness(r, 1.0);
            try (LowerLevelProblem p = new LowerLevelProblem(new IdentityTestOperator(), y, new long[]{H, W}, estimated, 0.1)) {
                Bound l = p.smoothness();
                assertFalse(l.certified(), "an estimated L_R must make L_h estimated");
            }
        }
    }
}
