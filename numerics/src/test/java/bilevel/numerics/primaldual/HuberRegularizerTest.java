package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.RegularizerContract;

/** The test-scope smooth primal formulation passes the regularizer contract (with learned filters). */
class HuberRegularizerTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new HuberRegularizer(new ConvolutionFilters(2, 3), new long[]{height(), width()}, 1.0, 0.05);
    }
}
