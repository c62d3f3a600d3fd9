package bilevel.numerics.testproblems;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

/**
 * Test-scope NON-quadratic smooth regularizer (anisotropic smoothed total variation), written in plain
 * Java so that it is independent of the production code:
 * <pre>
 *   R_θ(x) = w Σ_j Σ_i φ((D_j x)_i),   φ(t) = √(t² + s²),   w = e^{θ₀}, s = e^{θ₁},
 * </pre>
 * D₁, D₂ the Neumann forward differences; write D = [D₁; D₂] (‖D‖² ≤ 8, since ‖D_j‖² ≤ 4).
 *
 * <p>Derivatives: φ' = t/√(t²+s²) ∈ (−1, 1), φ'' = s²/(t²+s²)^{3/2} ∈ (0, 1/s],
 * φ''' = −3s²t/(t²+s²)^{5/2} with max|φ'''| = c₃ := 3/(2·(5/4)^{5/2} s²) (attained at t = s/2).
 * ∇R = w Dᵀφ'(Dx), ∇²R = w Dᵀ diag(φ''(Dx)) D. ∂∇R/∂θ₀ = ∇R; ∂∇R/∂θ₁ = w Dᵀψ(Dx) with
 * ψ(t) = s ∂φ'/∂s = −s²t/(t²+s²)^{3/2}, and ψ'(t) = −s²(s² − 2t²)/(t²+s²)^{5/2}, |ψ'| ≤ 1/s
 * (with t = su: |1 − 2u²| ≤ (1 + u²)^{5/2}).
 *
 * <p>Certified constants:
 * <ul>
 * <li>m_R = 0 (φ'' &gt; 0 but D annihilates constants).</li>
 * <li>L_R = 8w/s: ‖DᵀΛD‖ ≤ ‖Λ‖·‖D‖² with ‖Λ‖ = max φ'' ≤ 1/s.</li>
 * <li>L_H = 8√2·w·c₃: ∇²R(x) − ∇²R(x') = w Dᵀ diag(φ''(Dx) − φ''(Dx')) D, |Δφ''_i| ≤ c₃|(D(x − x'))_i|
 *     ≤ c₃√2‖x − x'‖ (a difference of two pixels: |a − b| ≤ √2 (a² + b²)^{1/2}).</li>
 * <li>L_J = 8√2·w/s: J = [∇R, w Dᵀψ(Dx)]; each column is (8w/s)-Lipschitz (|φ''|, |ψ'| ≤ 1/s, ‖D‖² ≤ 8),
 *     and ‖·‖₂ ≤ ‖·‖_F.</li>
 * <li>mixedNorm(x) = ‖J(x)‖_F.</li>
 * </ul>
 */
public final class SmoothedTvTestRegularizer implements Regularizer {

    @Override
    public String type() {
        return "test-smoothed-tv";
    }

    @Override
    public int numParams() {
        return 2;
    }

    @Override
    public String paramName(int i) {
        return i == 0 ? "log_weight" : "log_smoothing";
    }

    @Override
    public double[] initialTheta(long seed) {
        Random r = new Random(seed);
        return project(new double[]{Math.log(0.1) + 0.1 * r.nextGaussian(), Math.log(0.1) + 0.1 * r.nextGaussian()});
    }

    @Override
    public double[] project(double[] theta) {
        return new double[]{Math.max(-10, Math.min(5, theta[0])), Math.max(-6, Math.min(3, theta[1]))};
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        return new SmoothedTvInstance(theta.clone());
    }

    /** max |φ'''| for s = 1. */
    static final double C3 = 3.0 / (2.0 * Math.pow(1.25, 2.5));

    private static final class SmoothedTvInstance implements Instance {
        private final double[] theta;
        private final double w;
        private final double s;

        SmoothedTvInstance(double[] theta) {
            this.theta = theta;
            this.w = Math.exp(theta[0]);
            this.s = Math.exp(theta[1]);
        }

        /** Dx as one array: vertical pairs first (r·W + c for r &lt; H−1), then horizontal (r·(W−1) + c). */
        private static double[] diff(double[] x, int h, int wd) {
            double[] d = new double[(h - 1) * wd + h * (wd - 1)];
            int k = 0;
            for (int r = 0; r + 1 < h; r++) {
                for (int c = 0; c < wd; c++) {
                    d[k++] = x[(r + 1) * wd + c] - x[r * wd + c];
                }
            }
            for (int r = 0; r < h; r++) {
                for (int c = 0; c + 1 < wd; c++) {
                    d[k++] = x[r * wd + c + 1] - x[r * wd + c];
                }
            }
            return d;
        }

        /** Dᵀp. */
        private static double[] diffAdjoint(double[] p, int h, int wd) {
            double[] out = new double[h * wd];
            int k = 0;
            for (int r = 0; r + 1 < h; r++) {
                for (int c = 0; c < wd; c++) {
                    out[(r + 1) * wd + c] += p[k];
                    out[r * wd + c] -= p[k];
                    k++;
                }
            }
            for (int r = 0; r < h; r++) {
                for (int c = 0; c + 1 < wd; c++) {
                    out[r * wd + c + 1] += p[k];
                    out[r * wd + c] -= p[k];
                    k++;
                }
            }
            return out;
        }

        private double[] gradientArray(INDArray x) {
            int h = (int) x.size(0);
            int wd = (int) x.size(1);
            double[] d = diff(Dense.vector(x), h, wd);
            for (int i = 0; i < d.length; i++) {
                d[i] = w * d[i] / Math.sqrt(d[i] * d[i] + s * s);
            }
            return diffAdjoint(d, h, wd);
        }

        private double[] thetaOneColumn(INDArray x) {
            int h = (int) x.size(0);
            int wd = (int) x.size(1);
            double[] d = diff(Dense.vector(x), h, wd);
            for (int i = 0; i < d.length; i++) {
                double t = d[i];
                d[i] = -w * s * s * t / Math.pow(t * t + s * s, 1.5);
            }
            return diffAdjoint(d, h, wd);
        }

        private static void write(double[] v, INDArray out) {
            out.assign(Dense.image(v, out.size(0), out.size(1)));
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public double value(INDArray x) {
            double[] d = diff(Dense.vector(x), (int) x.size(0), (int) x.size(1));
            double v = 0;
            for (double t : d) {
                v += Math.sqrt(t * t + s * s);
            }
            return w * v;
        }

        @Override
        public void gradient(INDArray x, INDArray out) {
            write(gradientArray(x), out);
        }

        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            int h = (int) x.size(0);
            int wd = (int) x.size(1);
            double[] dx = diff(Dense.vector(x), h, wd);
            double[] dv = diff(Dense.vector(v), h, wd);
            for (int i = 0; i < dx.length; i++) {
                double t = dx[i];
                dv[i] *= w * s * s / Math.pow(t * t + s * s, 1.5);
            }
            write(diffAdjoint(dv, h, wd), out);
        }

        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            double[] qv = Dense.vector(q);
            return new double[]{Dense.dot(gradientArray(x), qv), Dense.dot(thetaOneColumn(x), qv)};
        }

        @Override
        public Bound convexityModulus() {
            return Bound.certified(0);
        }

        @Override
        public Bound gradientLipschitz() {
            return Bound.certified(8 * w / s);
        }

        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(8 * Math.sqrt(2) * w * C3 / (s * s));
        }

        @Override
        public Bound mixedLipschitz() {
            return Bound.certified(8 * Math.sqrt(2) * w / s);
        }

        @Override
        public Bound mixedNorm(INDArray x) {
            double a = Dense.norm(gradientArray(x));
            double b = Dense.norm(thetaOneColumn(x));
            return Bound.certified(Math.sqrt(a * a + b * b));
        }

        @Override
        public void close() {
        }
    }
}
