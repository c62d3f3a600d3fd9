package bilevel.numerics.primaldual;

import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Fixed forward differences with one learned weight, the (anisotropic) total-variation special case:
 * <pre>
 *   K_θ x = λ (D₁x, D₂x),   λ = e^{θ₀},
 * </pre>
 * D₁, D₂ the vertical and horizontal forward differences with Neumann boundary (the last row, resp.
 * column, of D_j x is 0). With the Huber dual of {@link SaddlePointProblem} the lower level is smoothed TV
 * denoising/reconstruction.
 *
 * <p>Certified constants: ‖K‖ ≤ λ√8 (‖D_j‖² ≤ 4 by Gershgorin on D_jᵀD_j); ∂θ⟨v, K_θx⟩ = ⟨v, K_θx⟩, so
 * Γ = λ√8.
 */
public final class FiniteDifferences implements LearnedOperator {
    public static final double MIN_LOG_WEIGHT = -12;
    public static final double MAX_LOG_WEIGHT = 5;

    @Override
    public String type() {
        return "tv";
    }

    @Override
    public int numParams() {
        return 1;
    }

    @Override
    public String paramName(int i) {
        return "log_weight";
    }

    @Override
    public int channels() {
        return 2;
    }

    @Override
    public double[] initialTheta(long seed) {
        return new double[]{Math.log(0.1)};
    }

    @Override
    public double[] project(double[] theta) {
        return new double[]{Math.max(MIN_LOG_WEIGHT, Math.min(MAX_LOG_WEIGHT, theta[0]))};
    }

    /** λ√8 (see the class comment). */
    @Override
    public Bound normBound(double[] theta) {
        return Bound.certified(Math.exp(theta[0]) * Math.sqrt(8));
    }

    /** λ√8 (see the class comment). */
    @Override
    public Bound parameterGradientBound(double[] theta) {
        return normBound(theta);
    }

    @Override
    public Instance bind(double[] theta, long[] imageShape, DataType dataType) {
        return new DifferencesInstance(theta.clone(), imageShape, dataType);
    }

    private static final class DifferencesInstance implements Instance {
        private final double[] theta;
        private final double lambda;
        private final long[] dualShape;
        private final INDArray image;      // [H, W] copy of x, or Kᵀv
        private final INDArray dual;       // [2, H, W]
        private final INDArray imageLower; // x[1:, :]
        private final INDArray imageUpper; // x[:-1, :]
        private final INDArray imageRight; // x[:, 1:]
        private final INDArray imageLeft;  // x[:, :-1]
        private final INDArray verticalTop;     // dual[0, :-1, :]
        private final INDArray horizontalLeft;  // dual[1, :, :-1]

        DifferencesInstance(double[] theta, long[] imageShape, DataType dataType) {
            this.theta = theta;
            this.lambda = Math.exp(theta[0]);
            long h = imageShape[0];
            long w = imageShape[1];
            this.dualShape = new long[]{2, h, w};
            this.image = Nd4j.create(dataType, h, w);
            this.dual = Nd4j.create(dataType, 2, h, w);
            this.imageLower = image.get(NDArrayIndex.interval(1, h), NDArrayIndex.all());
            this.imageUpper = image.get(NDArrayIndex.interval(0, h - 1), NDArrayIndex.all());
            this.imageRight = image.get(NDArrayIndex.all(), NDArrayIndex.interval(1, w));
            this.imageLeft = image.get(NDArrayIndex.all(), NDArrayIndex.interval(0, w - 1));
            this.verticalTop = dual.get(NDArrayIndex.point(0), NDArrayIndex.interval(0, h - 1), NDArrayIndex.all());
            this.horizontalLeft = dual.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.interval(0, w - 1));
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public long[] dualShape() {
            return dualShape.clone();
        }

        @Override
        public void apply(INDArray x, INDArray out) {
            image.assign(x);
            dual.assign(0);
            verticalTop.assign(imageLower).subi(imageUpper);
            horizontalLeft.assign(imageRight).subi(imageLeft);
            VectorOps.scale(lambda, dual);
            out.assign(dual);
        }

        @Override
        public void adjoint(INDArray v, INDArray out) {
            dual.assign(v);
            image.assign(0);
            imageLower.addi(verticalTop);
            imageUpper.subi(verticalTop);
            imageRight.addi(horizontalLeft);
            imageLeft.subi(horizontalLeft);
            VectorOps.scale(lambda, image);
            out.assign(image);
        }

        @Override
        public Bound normBound() {
            return Bound.certified(lambda * Math.sqrt(8));
        }

        /** ∂/∂θ₀ ⟨v, λ D x⟩ = ⟨v, K x⟩. */
        @Override
        public void accumulateParameterGradient(INDArray x, INDArray v, double scale, double[] out) {
            image.assign(x);
            dual.assign(0);
            verticalTop.assign(imageLower).subi(imageUpper);
            horizontalLeft.assign(imageRight).subi(imageLeft);
            out[0] += scale * lambda * VectorOps.dot(dual, v);
        }

        @Override
        public Bound parameterGradientBound() {
            return Bound.certified(lambda * Math.sqrt(8));
        }

        @Override
        public void close() {
            image.close();
            dual.close();
        }
    }
}
