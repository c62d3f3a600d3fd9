package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.HypergradientMethodContract;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.MaskTestOperator;

/** The piggyback method on primal–dual smoothed TV (inpainting mask, μ > 0) passes the method contract. */
class PiggybackTvMethodTest extends HypergradientMethodContract {
    private static final PrimalDualModel MODEL = new PrimalDualModel(new FiniteDifferences(), 0.05);

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
        return new BilevelFixture(new MaskTestOperator(5), 8, 8, 23, 0.1);
    }

    @Override
    protected double mu() {
        return 0.3;
    }

    @Override
    protected double[][] thetas() {
        return new double[][]{{Math.log(0.2)}, {Math.log(0.05)}};
    }
}
