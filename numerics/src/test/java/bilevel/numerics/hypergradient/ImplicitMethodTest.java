package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.MaskTestOperator;

/** The implicit method (FISTA + CG) on smoothed TV with an inpainting mask passes the method contract. */
class ImplicitMethodTest extends HypergradientMethodContract {
    @Override
    protected HypergradientMethod method() {
        return new ImplicitMethod(1_000_000, 1_000_000);
    }

    @Override
    protected Regularizer family() {
        return new TotalVariation();
    }

    @Override
    protected BilevelFixture fixture() {
        return new BilevelFixture(new MaskTestOperator(3), 8, 8, 17, 0.1);
    }

    @Override
    protected double mu() {
        return 0.05;
    }

    @Override
    protected double[][] thetas() {
        return new double[][]{{Math.log(0.1), Math.log(0.1)}, {Math.log(0.3), Math.log(0.05)}};
    }
}
