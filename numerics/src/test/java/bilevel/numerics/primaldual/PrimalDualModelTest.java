package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.RegularizerContract;

/** The primal–dual model with learned filters, seen as the smooth regularizer λ_F Σ h_γ(K_θx), passes the regularizer contract. */
class PrimalDualModelTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new PrimalDualModel(new ConvolutionFilters(2, 3), 1.0, 0.05, SaddlePointProblem.DEFAULT_STEP_BALANCE);
    }
}
