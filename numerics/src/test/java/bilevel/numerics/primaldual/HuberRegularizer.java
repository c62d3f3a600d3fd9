package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Test-scope smooth primal formulation of the primal–dual lower level, as a {@link Regularizer} so that
 * {@code LowerLevelProblem}, {@code Fista} and {@code ImplicitHypergradient} can solve the same problem:
 * <pre>
 *   R_θ(x) = λ_F Σ_i h_γ((K_θ x)_i),   h_γ(t) = t²/(2γ) (|t| ≤ γ), |t| − γ/2 (otherwise),
 *   ∇R = K_θᵀ ψ,  ψ = λ_F clip(Kx/γ, −1, 1),   ∇²R v = K_θᵀ (λ_F/γ) 1_{|Kx| &lt; γ} ⊙ K_θ v,
 *   (∂θ∇R)ᵀ q = ∂θ⟨ψ, K_θ q⟩|_ψ fixed + ∂θ⟨(λ_F/γ) 1_{|Kx|&lt;γ} ⊙ K_θ q, K_θ x⟩|_fixed.
 * </pre>
 * Constants: m_R = 0, L_R = λ_F L_K²/γ (certified). h_γ'' is discontinuous, so there are no finite Hessian
 * or mixed Lipschitz constants: both are reported as +∞ (certified, trivially), which makes the implicit
 * bound infinite; the implicit hypergradient itself is still well defined (strict complementarity).
 * mixedNorm(x) = λ_F Γ(‖clip(Kx/γ)‖ + L_K‖x‖/γ) (certified from the two terms above).
 * The image shape is fixed at construction because K_θ is bound per size.
 */
final class HuberRegularizer implements Regularizer {
    private final LearnedOperator family;
    private final long[] shape;
    private final double weight;
    private final double smoothing;

    HuberRegularizer(LearnedOperator family, long[] shape, double weight, double smoothing) {
        this.family = family;
        this.shape = shape.clone();
        this.weight = weight;
        this.smoothing = smoothing;
    }

    @Override
    public String type() {
        return "test-huber-" + family.type();
    }

    @Override
    public int numParams() {
        return family.numParams();
    }

    @Override
    public String paramName(int i) {
        return family.paramName(i);
    }

    @Override
    public double[] initialTheta(long seed) {
        return family.initialTheta(seed);
    }

    @Override
    public double[] project(double[] theta) {
        return family.project(theta);
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        return new HuberInstance(family.bind(theta, shape, dataType), dataType);
    }

    private final class HuberInstance implements Instance {
        private final LearnedOperator.Instance k;
        private final INDArray kx;
        private final INDArray psi;
        private final INDArray kv;

        HuberInstance(LearnedOperator.Instance k, DataType dataType) {
            this.k = k;
            this.kx = Nd4j.create(dataType, k.dualShape());
            this.psi = Nd4j.create(dataType, k.dualShape());
            this.kv = Nd4j.create(dataType, k.dualShape());
        }

        /** psi ← λ_F clip(Kx/γ, ±1); returns the curvature indicator (λ_F/γ)·1_{|Kx| &lt; γ} as a new array. */
        private INDArray derivatives(INDArray x) {
            k.apply(x, kx);
            double[] u = kx.data().asDouble();
            double[] d1 = new double[u.length];
            double[] d2 = new double[u.length];
            for (int i = 0; i < u.length; i++) {
                d1[i] = weight * Math.max(-1, Math.min(1, u[i] / smoothing));
                d2[i] = Math.abs(u[i]) < smoothing ? weight / smoothing : 0.0;
            }
            psi.assign(Nd4j.create(d1, k.dualShape(), DataType.DOUBLE));
            return Nd4j.create(d2, k.dualShape(), DataType.DOUBLE).castTo(kx.dataType());
        }

        @Override
        public double[] theta() {
            return k.theta();
        }

        @Override
        public double value(INDArray x) {
            k.apply(x, kx);
            double v = 0;
            for (double t : kx.data().asDouble()) {
                double a = Math.abs(t);
                v += weight * (a <= smoothing ? t * t / (2 * smoothing) : a - smoothing / 2);
            }
            return v;
        }

        @Override
        public void gradient(INDArray x, INDArray out) {
            derivatives(x).close();
            k.adjoint(psi, out);
        }

        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            try (INDArray curvature = derivatives(x)) {
                k.apply(v, kv);
                kv.muli(curvature);
                k.adjoint(kv, out);
            }
        }

        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            double[] out = new double[numParams()];
            try (INDArray curvature = derivatives(x)) {
                k.accumulateParameterGradient(q, psi, 1.0, out);     // ∂θ⟨ψ, K_θ q⟩
                k.apply(q, kv);
                kv.muli(curvature);
                k.accumulateParameterGradient(x, kv, 1.0, out);      // ∂θ⟨Λ K q, K_θ x⟩
            }
            return out;
        }

        @Override
        public Bound convexityModulus() {
            return Bound.certified(0);
        }

        @Override
        public Bound gradientLipschitz() {
            double l = k.normBound().value();
            return new Bound(weight * l * l / smoothing, k.normBound().certified());
        }

        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(Double.POSITIVE_INFINITY);
        }

        @Override
        public Bound mixedLipschitz() {
            return Bound.certified(Double.POSITIVE_INFINITY);
        }

        @Override
        public Bound mixedNorm(INDArray x) {
            derivatives(x).close();
            double gamma = k.parameterGradientBound().value();
            double value = gamma * (VectorOps.norm(psi) + weight / smoothing * k.normBound().value() * VectorOps.norm(x));
            return new Bound(value, k.parameterGradientBound().certified() && k.normBound().certified());
        }

        @Override
        public void close() {
            k.close();
            kx.close();
            psi.close();
            kv.close();
        }
    }
}
