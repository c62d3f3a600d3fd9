package bilevel.numerics.upper;

import bilevel.numerics.util.Bound;

import java.util.Arrays;
import java.util.Objects;

/**
 * Inexact evaluations of the upper-level problem f(θ) = ℓ(x*(θ)), where x*(θ) solves the lower-level
 * problem and ℓ is the upper-level loss — the only thing {@link Maid} needs to know about how
 * hypergradients are computed.
 *
 * <p><b>Contract</b> (what {@link Maid}'s guarantees rely on). For an accuracy ε the oracle computes a
 * lower-level approximation x_ε(θ) with ‖x_ε(θ) − x*(θ)‖ ≤ ε and reports
 * <ul>
 *   <li>{@code loss} = ℓ̃(θ) := ℓ(x_ε(θ)),</li>
 *   <li>{@code lossGradientNorm} = ‖∇ℓ(x_ε(θ))‖,</li>
 *   <li>for {@link #evaluate} additionally a hypergradient z ≈ ∇f(θ) (using a linear-system tolerance
 *       δ) and a bound with ‖z − ∇f(θ)‖ ≤ {@code errorBound} (never an under-estimate),</li>
 *   <li>{@code cost}: the work spent, in any consistent unit (e.g. lower-level iterations + CG
 *       iterations), for metrics only.</li>
 * </ul>
 * With ℓ convex and ∇ℓ L-Lipschitz this implies
 * ℓ̃(θ) − ‖∇ℓ(x_ε)‖ε ≤ f(θ) ≤ ℓ̃(θ) + ‖∇ℓ(x_ε)‖ε + (L/2)ε².
 *
 * <p>Implementations may be stateful (warm starts) but must not modify their arguments.
 */
public interface Oracle {

    /** Loss, loss-gradient norm, hypergradient and its error bound at θ for accuracies (ε, δ). */
    Evaluation evaluate(double[] theta, double eps, double delta);

    /** Loss and loss-gradient norm only at θ for accuracy ε (line-search trial points). */
    LossEvaluation loss(double[] theta, double eps);

    /**
     * Result of {@link Oracle#loss}.
     *
     * @param loss             ℓ̃(θ); finite or +∞ (a diverged trial point simply fails the line search)
     * @param lossGradientNorm ‖∇ℓ(x_ε(θ))‖ ≥ 0 (may be +∞ together with the loss)
     * @param cost             work spent, ≥ 0
     */
    record LossEvaluation(double loss, double lossGradientNorm, double cost) {
        public LossEvaluation {
            if (Double.isNaN(loss) || loss == Double.NEGATIVE_INFINITY) {
                throw new IllegalArgumentException("loss must be finite or +infinity, got " + loss);
            }
            if (!(lossGradientNorm >= 0)) {
                throw new IllegalArgumentException("lossGradientNorm must be >= 0, got " + lossGradientNorm);
            }
            Evaluation.checkCost(cost);
        }
    }

    /**
     * Result of {@link Oracle#evaluate}. The hypergradient is copied on construction and access.
     *
     * <p>Serialised field layout (stable): {@code loss} (double), {@code lossGradientNorm} (double),
     * {@code hypergradient} (double[P]), {@code errorBound} ({@link Bound}: value, certified),
     * {@code cost} (double).
     *
     * @param loss             ℓ̃(θ), finite
     * @param lossGradientNorm ‖∇ℓ(x_ε(θ))‖, finite, ≥ 0
     * @param hypergradient    z, finite entries
     * @param errorBound       upper bound on ‖z − ∇f(θ)‖, ≥ 0
     * @param cost             work spent, ≥ 0
     */
    record Evaluation(double loss, double lossGradientNorm, double[] hypergradient, Bound errorBound, double cost) {
        public Evaluation {
            if (!Double.isFinite(loss)) {
                throw new IllegalArgumentException("loss at a hypergradient point must be finite, got " + loss);
            }
            if (!(lossGradientNorm >= 0) || !Double.isFinite(lossGradientNorm)) {
                throw new IllegalArgumentException("lossGradientNorm must be finite and >= 0, got " + lossGradientNorm);
            }
            Objects.requireNonNull(hypergradient, "hypergradient");
            Objects.requireNonNull(errorBound, "errorBound");
            hypergradient = hypergradient.clone();
            for (double v : hypergradient) {
                if (!Double.isFinite(v)) {
                    throw new IllegalArgumentException("hypergradient has a non-finite entry");
                }
            }
            if (!(errorBound.value() >= 0)) {
                throw new IllegalArgumentException("errorBound must be >= 0, got " + errorBound.value());
            }
            checkCost(cost);
        }

        @Override
        public double[] hypergradient() {
            return hypergradient.clone();
        }

        /** ‖z‖₂. */
        public double hypergradientNorm() {
            return norm(hypergradient);
        }

        static double norm(double[] a) {
            // scaled to avoid overflow/underflow for extreme magnitudes
            double scale = 0;
            for (double v : a) {
                scale = Math.max(scale, Math.abs(v));
            }
            if (scale == 0 || !Double.isFinite(scale)) {
                return scale;
            }
            double s = 0;
            for (double v : a) {
                double t = v / scale;
                s += t * t;
            }
            return scale * Math.sqrt(s);
        }

        static void checkCost(double cost) {
            if (!(cost >= 0) || !Double.isFinite(cost)) {
                throw new IllegalArgumentException("cost must be finite and >= 0, got " + cost);
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Evaluation e
                    && Double.compare(loss, e.loss) == 0
                    && Double.compare(lossGradientNorm, e.lossGradientNorm) == 0
                    && Arrays.equals(hypergradient, e.hypergradient)
                    && errorBound.equals(e.errorBound)
                    && Double.compare(cost, e.cost) == 0;
        }

        @Override
        public int hashCode() {
            return Objects.hash(loss, lossGradientNorm, Arrays.hashCode(hypergradient), errorBound, cost);
        }

        @Override
        public String toString() {
            return "Evaluation[loss=" + loss + ", lossGradientNorm=" + lossGradientNorm + ", hypergradient="
                    + Arrays.toString(hypergradient) + ", errorBound=" + errorBound + ", cost=" + cost + "]";
        }
    }
}
