package bilevel.numerics.regularizers;

/** {@link QuadraticRegularizer} with the D₀ = I term: the same contract and dense checks. */
class QuadraticRegularizerWithIdentityTest extends QuadraticRegularizerTest {
    @Override
    protected boolean identityTerm() {
        return true;
    }
}
