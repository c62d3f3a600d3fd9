package bilevel.numerics.primaldual;

class FiniteDifferencesTest extends LearnedOperatorContract {
    @Override
    protected LearnedOperator family() {
        return new FiniteDifferences();
    }
}
