package bilevel.numerics.primaldual;

class ConvolutionFiltersTest extends LearnedOperatorContract {
    @Override
    protected LearnedOperator family() {
        return new ConvolutionFilters(3, 3);
    }
}
