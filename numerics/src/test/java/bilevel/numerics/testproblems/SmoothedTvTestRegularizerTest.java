package bilevel.numerics.testproblems;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.RegularizerContract;
import org.junit.jupiter.api.Test;

import java.util.Random;

/** The test-scope smoothed TV satisfies the regularizer contract and its certified Lipschitz constants. */
class SmoothedTvTestRegularizerTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new SmoothedTvTestRegularizer();
    }

    @Override
    protected double[] testTheta(Random random) {
        return new double[]{Math.log(0.5) + 0.3 * random.nextGaussian(), Math.log(0.2) + 0.3 * random.nextGaussian()};
    }

    @Test
    void certifiedLipschitzConstantsHoldOnRandomPairs() {
        LipschitzChecks.check(regularizer(), testTheta(new Random(3)), height(), width(), 0.05, 31);
        LipschitzChecks.check(regularizer(), testTheta(new Random(4)), height(), width(), 0.5, 32);
    }
}
