package bilevel.numerics.regularizers;

/** The test-only regularizer used by harness tests satisfies the same contract as the real ones. */
class ScaledSquaredNormTest extends RegularizerContract {
    @Override
    protected Regularizer regularizer() {
        return new ScaledSquaredNorm();
    }
}
