package bilevel.numerics.primaldual;

import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.hypergradient.ImplicitHypergradient;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.solvers.Fista;
import bilevel.numerics.solvers.LowerLevelProblem;
import bilevel.numerics.testproblems.BilevelFixture;
import bilevel.numerics.testproblems.Dense;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** One synthetic training pair plus the primal–dual model constants, with reference computations. */
final class PrimalDualFixture {
    final BilevelFixture pair;
    final LearnedOperator family;
    final double mu;
    final double huberWeight;
    final double huberSmoothing;

    PrimalDualFixture(LinearOperator a, int h, int w, long seed, double noise, LearnedOperator family, double mu,
                      double huberWeight, double huberSmoothing) {
        this.pair = new BilevelFixture(a, h, w, seed, noise);
        this.family = family;
        this.mu = mu;
        this.huberWeight = huberWeight;
        this.huberSmoothing = huberSmoothing;
    }

    long[] shape() {
        return pair.shape();
    }

    /** A handle owning K_θ, the problem and the piggyback method. */
    final class Model implements AutoCloseable {
        final LearnedOperator.Instance k;
        final SaddlePointProblem problem;
        final PiggybackHypergradient method;

        Model(double[] theta, int maxIterations) {
            k = family.bind(theta, shape(), DataType.DOUBLE);
            problem = new SaddlePointProblem(pair.operator, pair.data(), shape(), k, mu, huberWeight, huberSmoothing,
                    SaddlePointProblem.DEFAULT_STEP_BALANCE);
            method = new PiggybackHypergradient(problem, maxIterations, maxIterations);
        }

        @Override
        public void close() {
            method.close();
            problem.close();
            k.close();
        }
    }

    Model model(double[] theta) {
        return new Model(theta, 1_000_000);
    }

    PrimalDualHypergradient piggyback(double[] theta, double eps, double delta) {
        try (Model m = model(theta)) {
            return m.method.compute(pair.target(), eps, delta);
        }
    }

    HuberRegularizer huber() {
        return new HuberRegularizer(family, shape(), huberWeight, huberSmoothing);
    }

    /** x̂ of the smooth primal problem by FISTA to ε (certified), as a dense vector. */
    double[] fistaSolution(double[] theta, double eps) {
        try (Regularizer.Instance r = huber().bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(pair.operator, pair.data(), shape(), r, mu);
             Fista fista = new Fista(p)) {
            INDArray x = p.newImage();
            Fista.Result res = fista.solve(x, eps, 1_000_000);
            assertTrue(res.converged() && res.certified(), "FISTA reference: " + res);
            return Dense.vector(x);
        }
    }

    /** The implicit-function hypergradient of the smooth primal problem. */
    Hypergradient implicit(double[] theta, double eps, double delta) {
        try (Regularizer.Instance r = huber().bind(theta, DataType.DOUBLE);
             LowerLevelProblem p = new LowerLevelProblem(pair.operator, pair.data(), shape(), r, mu);
             ImplicitHypergradient ih = new ImplicitHypergradient(p, 1_000_000, 1_000_000)) {
            return ih.compute(pair.target(), eps, delta);
        }
    }

    /** f(θ) = ‖x(θ) − x†‖² by PDHG to ε; returns {f, error bound on f}. */
    double[] upperObjective(double[] theta, double eps) {
        try (Model m = model(theta); PrimalDualState state = m.method.newState();
             Pdhg pdhg = new Pdhg(m.problem)) {
            Pdhg.Result res = pdhg.solve(state.primal(), state.dual(), eps, 1_000_000);
            assertTrue(res.converged(), "PDHG: " + res);
            double dist = Dense.norm(Dense.minus(Dense.vector(state.primal()), pair.clean));
            double e = res.primalDistance();
            return new double[]{dist * dist, (2 * dist + e) * e};
        }
    }
}
