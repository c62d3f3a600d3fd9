package bilevel.numerics.primaldual;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.testproblems.BoxBlurTestOperator;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.IdentityTestOperator;
import bilevel.numerics.testproblems.MaskTestOperator;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.dot;
import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PDHG against the FISTA solution of the equivalent smooth primal problem (test-scope {@link HuberRegularizer}),
 * its certified distance bounds against the true distances, the contraction factor on random pairs, and the
 * proximal map of F*.
 */
class PdhgTest {
    private static final double WEIGHT = 1.0;
    private static final double SMOOTHING = 0.05;

    private static PrimalDualFixture fixture(LinearOperator a, LearnedOperator family, double mu, long seed) {
        return new PrimalDualFixture(a, 10, 9, seed, 0.1, family, mu, WEIGHT, SMOOTHING);
    }

    /** p* = ∇F(K x*) = λ_F clip(K x* / γ, ±1). */
    private static INDArray dualOf(LearnedOperator.Instance k, INDArray x) {
        INDArray kx = Nd4j.create(DataType.DOUBLE, k.dualShape());
        k.apply(x, kx);
        double[] u = kx.data().asDouble();
        for (int i = 0; i < u.length; i++) {
            u[i] = WEIGHT * Math.max(-1, Math.min(1, u[i] / SMOOTHING));
        }
        return Nd4j.create(u, k.dualShape(), DataType.DOUBLE);
    }

    @Test
    void convergesToTheSmoothPrimalSolutionAndTheDistanceBoundsAreNeverBelowTheTrueDistances() {
        int checks = 0;
        for (LearnedOperator family : new LearnedOperator[]{new FiniteDifferences(), new ConvolutionFilters(3, 3)}) {
            for (LinearOperator a : new LinearOperator[]{new IdentityTestOperator(), new MaskTestOperator(4)}) {
                double mu = a instanceof IdentityTestOperator ? 0.0 : 0.1;
                PrimalDualFixture f = fixture(a, family, mu, 7);
                double[] theta = family.initialTheta(2);
                double referenceEps = 1e-11;
                INDArray xRef = Dense.image(f.fistaSolution(theta, referenceEps), 10, 9);
                try (PrimalDualFixture.Model m = f.model(theta); Pdhg pdhg = new Pdhg(m.problem);
                     PrimalDualState s = m.method.newState()) {
                    INDArray pRef = dualOf(m.k, xRef);
                    // ‖p_ref − p*‖ ≤ (λ_F/γ) L_K ‖x_ref − x*‖ (∇F is (λ_F/γ)-Lipschitz)
                    double pRefError = WEIGHT / SMOOTHING * m.k.normBound().value() * referenceEps;
                    String where = family.type() + "/" + a.name();
                    for (double eps = 1e-1; eps >= 1e-10; eps /= 10) {
                        Pdhg.Result r = pdhg.solve(s.primal(), s.dual(), eps, 100_000);
                        assertTrue(r.converged() && r.certified(), where + ": " + r);
                        double dx = norm(s.primal().sub(xRef));
                        double dp = norm(s.dual().sub(pRef));
                        assertTrue(dx <= r.primalDistance() + referenceEps, where + " ε=" + eps + ": ‖x − x*‖ ≥ "
                                + (dx - referenceEps) + " > bound " + r.primalDistance());
                        assertTrue(dp <= r.dualDistance() + pRefError, where + " ε=" + eps + ": ‖p − p*‖ ≥ "
                                + (dp - pRefError) + " > bound " + r.dualDistance());
                        checks++;
                    }
                    assertTrue(norm(s.primal().sub(xRef)) <= 2e-10, where);
                    assertEquals(m.problem.primalValue(xRef), m.problem.primalValue(s.primal()), 1e-12, where);
                }
            }
        }
        assertEquals(40, checks);
    }

    @Test
    void nonDiagonalForwardOperatorUsesConjugateGradientsAndIsNotCertified() {
        LearnedOperator family = new FiniteDifferences();
        PrimalDualFixture f = fixture(new BoxBlurTestOperator(), family, 0.05, 3);
        double[] theta = {Math.log(0.05)};
        double[] xRef = f.fistaSolution(theta, 1e-10);
        try (PrimalDualFixture.Model m = f.model(theta); Pdhg pdhg = new Pdhg(m.problem);
             PrimalDualState s = m.method.newState()) {
            assertFalse(m.problem.proxExact());
            Pdhg.Result r = pdhg.solve(s.primal(), s.dual(), 1e-9, 100_000);
            assertTrue(r.converged());
            assertFalse(r.certified(), "an inexact prox must not be reported certified");
            assertTrue(m.problem.proxCgIterations() > 0);
            assertTrue(Dense.norm(Dense.minus(Dense.vector(s.primal()), xRef)) <= 1e-8);
        }
    }

    /** Falsification check of the certified ρ: ‖T z − T z'‖_M ≤ ρ‖z − z'‖_M on random pairs. */
    @Test
    void pdhgMapContractsWithTheCertifiedFactor() {
        Random r = new Random(5);
        for (LearnedOperator family : new LearnedOperator[]{new FiniteDifferences(), new ConvolutionFilters(2, 3)}) {
            PrimalDualFixture f = fixture(new MaskTestOperator(2), family, 0.2, 5);
            try (PrimalDualFixture.Model m = f.model(family.initialTheta(4)); Pdhg pdhg = new Pdhg(m.problem)) {
                double rho = m.problem.contractionFactor();
                double worst = 0;
                for (int trial = 0; trial < 20; trial++) {
                    double scale = trial % 2 == 0 ? 1.0 : 0.01;
                    INDArray x1 = gaussian(r, 10, 9).muli(scale);
                    INDArray p1 = gaussian(r, m.k.dualShape()).muli(0.5 * scale);
                    INDArray x2 = gaussian(r, 10, 9).muli(scale);
                    INDArray p2 = gaussian(r, m.k.dualShape()).muli(0.5 * scale);
                    double before = metric(m, x1.sub(x2), p1.sub(p2));
                    pdhg.solve(x1, p1, 1e-300, 1);
                    pdhg.solve(x2, p2, 1e-300, 1);
                    double after = metric(m, x1.sub(x2), p1.sub(p2));
                    assertTrue(after <= rho * before * (1 + 1e-12), "contraction " + after / before + " > ρ = " + rho);
                    worst = Math.max(worst, after / before);
                }
                assertTrue(worst > 0 && rho < 1);
            }
        }
    }

    private static double metric(PrimalDualFixture.Model m, INDArray dx, INDArray dp) {
        INDArray kdx = Nd4j.create(DataType.DOUBLE, m.k.dualShape());
        m.k.apply(dx, kdx);
        double tau = m.problem.tau();
        double sigma = m.problem.sigma();
        return Math.sqrt(dot(dx, dx) / tau - 2 * dot(kdx, dp) + dot(dp, dp) / sigma);
    }

    /** prox_{σF*}(a) minimises (γ/(2λ_F))q² + (q − a)²/(2σ) over |q| ≤ λ_F (checked by its optimality conditions). */
    @Test
    void dualProximalMapSatisfiesItsOptimalityConditions() {
        PrimalDualFixture f = fixture(new IdentityTestOperator(), new FiniteDifferences(), 0.0, 1);
        try (PrimalDualFixture.Model m = f.model(new double[]{0.0})) {
            double sigma = m.problem.sigma();
            Random r = new Random(9);
            INDArray a = gaussian(r, m.k.dualShape()).muli(3 * WEIGHT);
            INDArray q = Nd4j.create(DataType.DOUBLE, m.k.dualShape());
            m.problem.proxDual(a, q);
            double[] av = a.data().asDouble();
            double[] qv = q.data().asDouble();
            int clamped = 0;
            for (int i = 0; i < av.length; i++) {
                double gradient = SMOOTHING / WEIGHT * qv[i] + (qv[i] - av[i]) / sigma;
                assertTrue(Math.abs(qv[i]) <= WEIGHT);
                if (Math.abs(qv[i]) < WEIGHT) {
                    assertEquals(0.0, gradient, 1e-12 * (1 + Math.abs(av[i]) / sigma));
                } else {
                    clamped++;
                    assertTrue(gradient * Math.signum(qv[i]) <= 1e-12, "the objective must decrease outward");
                }
            }
            assertTrue(clamped > 0 && clamped < av.length);
        }
    }
}
