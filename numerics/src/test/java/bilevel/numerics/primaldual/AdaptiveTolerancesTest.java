package bilevel.numerics.primaldual;

import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import bilevel.numerics.operators.LinearOperator;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Adaptive tolerances reach a requested hypergradient accuracy (certified, and checked against a tight
 * reference) with fewer PDHG + piggyback iterations than fixed tight tolerances.
 */
class AdaptiveTolerancesTest {
    private static final double FIXED_TIGHT = 1e-10;

    @Test
    void reachesTheAccuracyWithFewerIterationsThanFixedTightTolerances() {
        long adaptiveTotal = 0;
        long fixedTotal = 0;
        int samples = 0;
        StringBuilder log = new StringBuilder();
        for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(3)}) {
            for (LearnedOperator family : new LearnedOperator[]{new FiniteDifferences(), new ConvolutionFilters(2, 3)}) {
                double mu = a instanceof IdentityTestOperator ? 0.0 : 0.1;
                PrimalDualFixture f = new PrimalDualFixture(a, 10, 10, 31, 0.1, family, mu, 1.0, 0.05);
                double[] theta = family.initialTheta(3);
                if (family instanceof ConvolutionFilters) {
                    Random r = new Random(3);
                    for (int i = 0; i < theta.length; i++) {
                        theta[i] += 0.1 * r.nextGaussian();
                    }
                }
                PrimalDualHypergradient ref = f.piggyback(theta, 1e-12, 1e-12);
                double accuracy = 1e-3 * Dense.norm(ref.z());
                try (PrimalDualFixture.Model m = f.model(theta); PrimalDualState state = m.method.newState()) {
                    AdaptiveTolerances.Result adaptive = AdaptiveTolerances.compute(m.method, f.pair.target(), accuracy,
                            state, 1e-1, 1e-1, 1e-14, 50);
                    PrimalDualHypergradient fixed = m.method.compute(f.pair.target(), FIXED_TIGHT, FIXED_TIGHT);
                    String where = family.type() + "/" + a.name();
                    assertTrue(adaptive.reached() && adaptive.hypergradient().certified(), where + ": " + adaptive);
                    assertTrue(fixed.errorBound() <= accuracy, where + ": the fixed tolerances must also reach it");
                    double trueError = Dense.norm(Dense.minus(adaptive.hypergradient().z(), ref.z()));
                    assertTrue(trueError <= accuracy + ref.errorBound(), where + ": true error " + trueError);
                    adaptiveTotal += adaptive.computations();
                    fixedTotal += fixed.computations();
                    samples++;
                    log.append(String.format("%n  %s: adaptive %d iterations (%d refinements, final ε=%.2e, δ=%.2e)"
                                    + ", fixed ε=δ=%.0e %d iterations", where, adaptive.computations(),
                            adaptive.refinements(), adaptive.epsilon(), adaptive.delta(), FIXED_TIGHT,
                            fixed.computations()));
                }
            }
        }
        System.out.println("adaptive vs fixed tolerances (accuracy 1e-3·‖∇f‖):" + log
                + String.format("%n  total: adaptive %d, fixed %d", adaptiveTotal, fixedTotal));
        assertTrue(samples == 4);
        assertTrue(adaptiveTotal < fixedTotal, "adaptive " + adaptiveTotal + " vs fixed " + fixedTotal);
    }
}
