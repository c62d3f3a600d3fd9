package bilevel.numerics.testproblems;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;

/**
 * Reports the gradient Lipschitz constant of another instance as an <em>estimate</em> scaled by a factor
 * (e.g. 0.01: far too small), to test backtracking.
 */
public final class MisreportedSmoothness extends DelegatingInstance {
    private final double factor;

    public MisreportedSmoothness(Regularizer.Instance inner, double factor) {
        super(inner);
        this.factor = factor;
    }

    @Override
    public Bound gradientLipschitz() {
        return Bound.estimated(inner.gradientLipschitz().value() * factor);
    }
}
