package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.RegularizerContract;

/** The test-scope smooth primal formulation passes the regularizer contract (finite differences). */
class HuberTvRegularizerTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new HuberRegularizer(new FiniteDifferences(), new long[]{height(), width()}, 1.0, 0.05);
    }
}
