package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.RegularizerContract;

/** The primal–dual smoothed TV, seen as a regularizer, passes the regularizer contract. */
class PrimalDualTvModelTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new PrimalDualModel(new FiniteDifferences(), 0.05);
    }
}
