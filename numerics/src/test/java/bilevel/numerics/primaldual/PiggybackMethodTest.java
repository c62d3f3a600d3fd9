package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.HypergradientMethodContract;
import bilevel.numerics.hypergradient.ImplicitMethod;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.IdentityTestOperator;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The piggyback method on learned filters (denoising) passes the method contract. */
class PiggybackMethodTest extends HypergradientMethodContract {
    private static final PrimalDualModel MODEL = new PrimalDualModel(new ConvolutionFilters(2, 3), 1.0, 0.05,
            SaddlePointProblem.DEFAULT_STEP_BALANCE);

    @Override
    protected HypergradientMethod method() {
        return new PiggybackMethod(MODEL, 10_000_000, 10_000_000);
    }

    @Override
    protected Regularizer family() {
        return MODEL;
    }

    @Override
    protected BilevelFixture fixture() {
        return new BilevelFixture(new IdentityTestOperator(), 8, 8, 11, 0.1);
    }

    @Override
    protected double mu() {
        return 0.0;
    }

    @Override
    protected double[][] thetas() {
        double[][] out = new double[2][];
        for (int s = 0; s < 2; s++) {
            double[] t = MODEL.initialTheta(s + 1);
            Random r = new Random(s + 1);
            for (int i = 0; i < t.length; i++) {
                t[i] += 0.2 * r.nextGaussian();
            }
            out[s] = MODEL.project(t);
        }
        return out;
    }

    @Test
    void acceptsOnlyInstancesOfItsOwnModel() {
        HypergradientMethod m = method();
        PrimalDualModel same = new PrimalDualModel(new ConvolutionFilters(2, 3), 1.0, 0.05, SaddlePointProblem.DEFAULT_STEP_BALANCE);
        PrimalDualModel other = new PrimalDualModel(new ConvolutionFilters(2, 3), 1.0, 0.1, SaddlePointProblem.DEFAULT_STEP_BALANCE);
        try (Regularizer.Instance a = same.bind(thetas()[0], DataType.DOUBLE);
             Regularizer.Instance b = other.bind(thetas()[0], DataType.DOUBLE);
             Regularizer.Instance tv = new TotalVariation().bind(new double[]{-2, -2}, DataType.DOUBLE)) {
            assertTrue(m.accepts(a));
            assertFalse(m.accepts(b));
            assertFalse(m.accepts(tv));
            BilevelFixture f = fixture();
            HypergradientMethod.Sample sample = new HypergradientMethod.Sample(f.target(), f.data(), f.operator, 0.0);
            assertThrows(IllegalArgumentException.class, () -> m.compute(tv, sample, 1e-3, 1e-3, null));
            // the implicit method's warm start is not the piggyback method's
            try (var wrong = new ImplicitMethod(10, 10).newWarmStart(f.shape(), DataType.DOUBLE)) {
                assertThrows(IllegalArgumentException.class, () -> m.compute(a, sample, 1e-3, 1e-3, wrong));
            }
        }
    }
}
