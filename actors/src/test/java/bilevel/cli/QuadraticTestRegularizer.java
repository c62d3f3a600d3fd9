package bilevel.cli;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Test-only regularizer R_θ(x) = (θ/2)‖x‖², θ ≥ 0, to drive the command line without the real families
 * (its derivatives are checked against the regularizer contract in the numerics module, as
 * {@code ScaledSquaredNorm}). ∇R = θx, ∇²R v = θv, (∂θ∇R)ᵀq = ⟨x, q⟩; one multiplication per pixel.
 */
class QuadraticTestRegularizer implements Regularizer {
    private final String type;
    private final boolean flopModel;

    QuadraticTestRegularizer(String type, boolean flopModel) {
        this.type = type;
        this.flopModel = flopModel;
    }

    @Override
    public String type() {
        return type;
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
        return new double[]{1.0};
    }

    @Override
    public double[] project(double[] theta) {
        return new double[]{Math.max(0.0, theta[0])};
    }

    @Override
    public double gradientFlops(long height, long width) {
        return flopModel ? (double) height * width : Double.NaN;
    }

    @Override
    public double hessianVectorFlops(long height, long width) {
        return flopModel ? (double) height * width : Double.NaN;
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
            }
        };
    }
}
