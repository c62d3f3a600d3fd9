package bilevel.numerics.testproblems;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.operators.LinearOperatorContract;

/** The test-scope operator satisfies the same contract as production operators. */
class IdentityTestOperatorContractTest extends LinearOperatorContract {
    @Override
    protected LinearOperator operator() {
        return new IdentityTestOperator();
    }
}
