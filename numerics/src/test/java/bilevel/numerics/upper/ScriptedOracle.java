package bilevel.numerics.upper;

import bilevel.numerics.util.Bound;

/**
 * A one-dimensional problem for hand-computed MAID traces: lower level x*(θ) = θ solved exactly,
 * ℓ(x) = x², so f(θ) = θ², ∇f = 2θ, ‖∇ℓ(x)‖ = |2x|; the hypergradient is exact but the reported
 * (valid, pessimistic) error bound is a·ε + b·ε·|θ|. Every call costs 1.
 */
record ScriptedOracle(double a, double b) implements Oracle {
    @Override
    public Evaluation evaluate(double[] theta, double eps, double delta) {
        double x = theta[0];
        return new Evaluation(x * x, Math.abs(2 * x), new double[]{2 * x},
                Bound.certified(a * eps + b * eps * Math.abs(x)), 1);
    }

    @Override
    public LossEvaluation loss(double[] theta, double eps) {
        double x = theta[0];
        return new LossEvaluation(x * x, Math.abs(2 * x), 1);
    }
}
