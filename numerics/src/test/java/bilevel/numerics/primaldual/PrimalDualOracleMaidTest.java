package bilevel.numerics.primaldual;

import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.upper.Maid;
import bilevel.numerics.upper.Oracle;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Maid} drives the primal–dual {@link PrimalDualOracle} on tiny denoising problems and decreases the true loss. */
class PrimalDualOracleMaidTest {

    private static PrimalDualOracle oracle(LearnedOperator family, int samples) {
        List<INDArray> clean = new ArrayList<>();
        List<INDArray> noisy = new ArrayList<>();
        for (int i = 0; i < samples; i++) {
            BilevelFixture f = new BilevelFixture(new IdentityTestOperator(), 8, 8, 40 + i, 0.1);
            clean.add(f.target());
            noisy.add(f.data());
        }
        PrimalDualOracle.Model model = new PrimalDualOracle.Model(family, new IdentityTestOperator(), 0.0, 1.0, 0.05,
                SaddlePointProblem.DEFAULT_STEP_BALANCE, 100_000, 100_000, DataType.DOUBLE);
        return new PrimalDualOracle(model, clean, noisy);
    }

    /** f(θ) to 1e-12 with a fresh oracle (no shared warm starts). */
    private static double trueLoss(LearnedOperator family, int samples, double[] theta) {
        try (PrimalDualOracle o = oracle(family, samples)) {
            return o.loss(theta, 1e-12).loss();
        }
    }

    @Test
    void maidDecreasesTheTrueLossForSmoothedTv() {
        LearnedOperator family = new FiniteDifferences();
        double[] theta0 = {Math.log(0.005)};   // far too little regularisation
        // the loss is flat in log λ here: start at accuracies where the inexact line search can see the decrease
        Maid.Parameters parameters = Maid.Parameters.defaults().withAlpha0(50.0).withEps0(1e-5).withDelta0(1e-5);
        run(family, 2, theta0, new Maid(parameters), 6);
    }

    @Test
    void maidDecreasesTheTrueLossForLearnedFilters() {
        LearnedOperator family = new ConvolutionFilters(2, 3);
        double[] theta0 = family.initialTheta(7);
        run(family, 1, theta0, new Maid(Maid.Parameters.defaults().withAlpha0(1.0), family::project), 4);
    }

    private static void run(LearnedOperator family, int samples, double[] theta0, Maid maid, int iterations) {
        double before = trueLoss(family, samples, theta0);
        Maid.Run run;
        try (PrimalDualOracle o = oracle(family, samples)) {
            Oracle.Evaluation first = o.evaluate(theta0, 1e-6, 1e-6);
            assertTrue(first.errorBound().certified());
            assertEquals(before, first.loss(), first.lossGradientNorm() * 1e-6 + 1e-12);
            run = maid.run(maid.init(theta0), o, iterations);
            assertTrue(o.computations() > 0);
        }
        long accepted = run.iterations().stream().filter(Maid.Iteration::accepted).count();
        assertTrue(accepted >= 1, "no accepted step: " + run.iterations());
        for (Maid.Iteration it : run.iterations()) {
            assertTrue(it.boundCertified(), "every hypergradient bound is certified: " + it);
        }
        double after = trueLoss(family, samples, run.state().theta());
        System.out.println(family.type() + ": MAID " + run.iterations().size() + " iterations, " + accepted
                + " accepted, true loss " + before + " -> " + after);
        assertTrue(after < before, "true loss " + before + " -> " + after);
    }
}
