package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.QuadraticRegularizer;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.testproblems.QuadraticReference;
import bilevel.numerics.testproblems.SmoothedTvTestRegularizer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Refining a cached state with tighter tolerances continues the solves instead of restarting them. */
class WarmStartRefineTest {
    private static final int H = 8;
    private static final int W = 8;
    private static final double MU = 0.05;

    private record Outcome(Hypergradient coarse, Hypergradient refined, Hypergradient scratch) {
    }

    private static Outcome run(BilevelFixture f, Regularizer reg, double[] theta, double coarseTol, double fineTol) {
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(f.operator, f.data(), f.shape(), r, MU);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 100_000, 100_000);
             HypergradientState state = ih.newState()) {
            Hypergradient coarse = ih.compute(f.target(), coarseTol, coarseTol, state);
            assertTrue(state.lowerLevel().norm2Number().doubleValue() > 0, "state x must be updated in place");
            assertTrue(state.adjoint().norm2Number().doubleValue() > 0, "state q must be updated in place");
            Hypergradient refined = ih.compute(f.target(), fineTol, fineTol, state);
            Hypergradient scratch = ih.compute(f.target(), fineTol, fineTol);
            return new Outcome(coarse, refined, scratch);
        }
    }

    private static void checkCommon(Outcome o, String where) {
        assertTrue(o.coarse().certified() && o.refined().certified() && o.scratch().certified(), where);
        assertTrue(o.refined().computations() < o.scratch().computations(),
                where + ": refine cost " + o.refined().computations() + " vs scratch " + o.scratch().computations());
        double diff = Dense.norm(Dense.minus(o.refined().z(), o.scratch().z()));
        // both are within their bounds of the same ∇f(θ)
        assertTrue(diff <= o.refined().errorBound() + o.scratch().errorBound(), where + ": " + diff);
        assertTrue(o.refined().errorBound() < o.coarse().errorBound(), where);
    }

    @Test
    void refiningIsCheaperThanRecomputingAndAgreesWithinTheBound() {
        QuadraticRegularizer quad = new QuadraticRegularizer(false);
        double[] theta = {Math.log(0.3), Math.log(0.6)};
        BilevelFixture blur = new BilevelFixture(new BoxBlurTestOperator(), H, W, 31, 0.1);
        Outcome o = run(blur, quad, theta, 1e-3, 1e-9);
        checkCommon(o, "quadratic/blur");
        QuadraticReference ref = new QuadraticReference(blur.operator, blur.measurement, blur.clean, H, W, theta, false, MU);
        assertTrue(Dense.norm(Dense.minus(o.refined().z(), ref.hypergradient)) <= o.refined().errorBound());

        BilevelFixture mask = new BilevelFixture(new MaskTestOperator(4), H, W, 32, 0.1);
        checkCommon(run(mask, new SmoothedTvTestRegularizer(), new double[]{Math.log(0.2), Math.log(0.1)}, 1e-3, 1e-9),
                "smoothed-tv/mask");
    }
}
