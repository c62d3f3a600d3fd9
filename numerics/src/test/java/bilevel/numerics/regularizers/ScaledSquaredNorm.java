package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

/**
 * Test-only regularizer R_θ(x) = (θ/2)‖x‖², θ ≥ 0 (P = 1), small enough to exercise harnesses
 * (benchmark, registry) without the real families. Itself checked by {@link ScaledSquaredNormTest}.
 *
 * <p>Derivatives: ∇ₓR = θx, ∇²ₓₓR = θI, ∂θ∇ₓR = x (so (∂θ∇ₓR)ᵀq = ⟨x, q⟩). Constants (all exact,
 * hence certified): R − (θ/2)‖·‖² ≡ 0 is convex, so m_R = θ; ‖∇²R‖ = θ; the Hessian is constant, so
 * L_H = 0; ‖∂θ∇R(x) − ∂θ∇R(x')‖ = ‖x − x'‖, so L_J = 1; ‖∂θ∇R(x)‖ = ‖x‖.
 * FLOP model: one multiplication per pixel for the gradient and for the HVP.
 */
public class ScaledSquaredNorm implements Regularizer {

    @Override
    public String type() {
        return "sqnorm";
    }

    @Override
    public int numParams() {
        return 1;
    }

    @Override
    public String paramName(int i) {
        return "theta";
    }

    @Override
    public double[] initialTheta(long seed) {
        return new double[]{0.5 + new Random(seed).nextDouble()};
    }

    @Override
    public double[] project(double[] theta) {
        return new double[]{Math.max(0.0, theta[0])};
    }

    @Override
    public double gradientFlops(long height, long width) {
        return (double) height * width;
    }

    @Override
    public double hessianVectorFlops(long height, long width) {
        return (double) height * width;
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        double t = theta[0];
        return new Instance() {
            @Override
            public double[] theta() {
                return new double[]{t};
            }

            @Override
            public double value(INDArray x) {
                double n = x.norm2Number().doubleValue();
                return 0.5 * t * n * n;
            }

            @Override
            public void gradient(INDArray x, INDArray out) {
                out.assign(x).muli(t);
            }

            @Override
            public void hessianVector(INDArray x, INDArray v, INDArray out) {
                out.assign(v).muli(t);
            }

            @Override
            public double[] mixedAdjoint(INDArray x, INDArray q) {
                try (INDArray prod = x.mul(q)) {
                    return new double[]{prod.sumNumber().doubleValue()};
                }
            }

            @Override
            public Bound convexityModulus() {
                return Bound.certified(t);
            }

            @Override
            public Bound gradientLipschitz() {
                return Bound.certified(t);
            }

            @Override
            public Bound hessianLipschitz() {
                return Bound.certified(0);
            }

            @Override
            public Bound mixedLipschitz() {
                return Bound.certified(1);
            }

            @Override
            public Bound mixedNorm(INDArray x) {
                return Bound.certified(x.norm2Number().doubleValue());
            }

            @Override
            public void close() {
                // no buffers
            }
        };
    }
}
