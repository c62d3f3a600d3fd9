package bilevel.numerics.upper;

import bilevel.numerics.util.Bound;

import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * A synthetic bilevel problem with exactly controlled inexactness, for testing {@link Maid}.
 *
 * <p>Lower level: x*(θ) = Kθ + x₀ (the minimiser of ½‖x − Kθ − x₀‖²), K ∈ R^{n×P}. Upper level:
 * ℓ(x) = ‖x − x†‖² (convex, ∇ℓ 2-Lipschitz), so f(θ) = ‖Kθ + x₀ − x†‖² = ½θᵀMθ − bᵀθ + const with
 * M = 2KᵀK, b = 2Kᵀ(x† − x₀), and ∇f(θ) = 2Kᵀ(x*(θ) − x†).
 *
 * <p>Inexactness: x_ε(θ) = x*(θ) + ε u with ‖u‖ = 1, so ‖x_ε − x*‖ = ε exactly (worst case allowed by
 * the contract); z = 2Kᵀ(x_ε − x†) + δ w with ‖w‖ = 1. Hence z − ∇f = 2Kᵀ(εu) + δw and
 * ‖z − ∇f‖ ≤ 2‖K‖₂ ε + δ ≤ 2‖K‖_F ε + δ, the reported (certified) bound.
 *
 * <p>Directions: in {@link Mode#RANDOM} u and w are pseudo-random unit vectors, a deterministic function
 * of (θ, ε, δ). In {@link Mode#ADVERSARIAL} the loss is perturbed to mislead the line search as much as
 * the contract allows: at hypergradient points (the line search's reference point) u points along
 * x* − x† (loss over-estimated), at trial points against it (loss under-estimated).
 *
 * <p>Cost model: a linearly convergent solver, ⌈log₂(1/ε)⌉ lower-level plus ⌈log₂(1/δ)⌉ CG iterations.
 */
final class QuadraticBilevelOracle implements Oracle {
    enum Mode { RANDOM, ADVERSARIAL }

    final int n;
    final int p;
    final double[][] k;
    final double[] x0;
    final double[] target;
    final double kFrobenius;
    final Mode mode;
    int evaluations;
    int lossEvaluations;

    QuadraticBilevelOracle(long seed, int n, int p, Mode mode) {
        Random r = new Random(seed);
        this.n = n;
        this.p = p;
        this.mode = mode;
        k = new double[n][p];
        double f2 = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < p; j++) {
                k[i][j] = r.nextGaussian() / Math.sqrt(n);
                f2 += k[i][j] * k[i][j];
            }
        }
        kFrobenius = Math.sqrt(f2);
        x0 = new double[n];
        target = new double[n];
        for (int i = 0; i < n; i++) {
            x0[i] = r.nextGaussian();
            target[i] = r.nextGaussian();
        }
    }

    double[] lowerSolution(double[] theta) {
        double[] x = x0.clone();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < p; j++) {
                x[i] += k[i][j] * theta[j];
            }
        }
        return x;
    }

    /** f(θ) = ℓ(x*(θ)), the exact upper-level objective. */
    double trueLoss(double[] theta) {
        return loss(lowerSolution(theta));
    }

    /** ∇f(θ) = 2Kᵀ(x*(θ) − x†). */
    double[] trueGradient(double[] theta) {
        return lossGradientPulledBack(lowerSolution(theta));
    }

    /** The minimiser of f, from the normal equations KᵀK θ = Kᵀ(x† − x₀). */
    double[] minimiser() {
        double[][] a = new double[p][p + 1];
        for (int r = 0; r < p; r++) {
            for (int c = 0; c < p; c++) {
                for (int i = 0; i < n; i++) {
                    a[r][c] += k[i][r] * k[i][c];
                }
            }
            for (int i = 0; i < n; i++) {
                a[r][p] += k[i][r] * (target[i] - x0[i]);
            }
        }
        for (int c = 0; c < p; c++) { // Gaussian elimination with partial pivoting
            int piv = c;
            for (int r = c + 1; r < p; r++) {
                if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) {
                    piv = r;
                }
            }
            double[] t = a[c];
            a[c] = a[piv];
            a[piv] = t;
            for (int r = 0; r < p; r++) {
                if (r != c) {
                    double f = a[r][c] / a[c][c];
                    for (int cc = c; cc <= p; cc++) {
                        a[r][cc] -= f * a[c][cc];
                    }
                }
            }
        }
        double[] theta = new double[p];
        for (int r = 0; r < p; r++) {
            theta[r] = a[r][p] / a[r][r];
        }
        return theta;
    }

    @Override
    public Evaluation evaluate(double[] theta, double eps, double delta) {
        evaluations++;
        double[] x = perturbedSolution(theta, eps, delta, +1);
        double[] z = lossGradientPulledBack(x);
        double[] w = unitVector(p, seed(theta, eps, delta) ^ 0x5DEECE66DL);
        for (int j = 0; j < p; j++) {
            z[j] += delta * w[j];
        }
        return new Evaluation(loss(x), 2 * distance(x), z, Bound.certified(2 * kFrobenius * eps + delta),
                cost(eps) + cost(delta));
    }

    @Override
    public LossEvaluation loss(double[] theta, double eps) {
        lossEvaluations++;
        double[] x = perturbedSolution(theta, eps, 0, -1);
        return new LossEvaluation(loss(x), 2 * distance(x), cost(eps));
    }

    private double[] perturbedSolution(double[] theta, double eps, double delta, int adversarialSign) {
        double[] x = lowerSolution(theta);
        double[] u;
        if (mode == Mode.ADVERSARIAL) {
            u = new double[n];
            for (int i = 0; i < n; i++) {
                u[i] = x[i] - target[i];
            }
            double norm = norm(u);
            if (norm == 0) {
                u = unitVector(n, seed(theta, eps, delta));
            } else {
                for (int i = 0; i < n; i++) {
                    u[i] *= adversarialSign / norm;
                }
            }
        } else {
            u = unitVector(n, seed(theta, eps, delta));
        }
        for (int i = 0; i < n; i++) {
            x[i] += eps * u[i];
        }
        return x;
    }

    private double[] lossGradientPulledBack(double[] x) {
        double[] g = new double[p];
        for (int i = 0; i < n; i++) {
            double r = 2 * (x[i] - target[i]);
            for (int j = 0; j < p; j++) {
                g[j] += k[i][j] * r;
            }
        }
        return g;
    }

    private double loss(double[] x) {
        double d = distance(x);
        return d * d;
    }

    private double distance(double[] x) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (x[i] - target[i]) * (x[i] - target[i]);
        }
        return Math.sqrt(s);
    }

    private static double cost(double accuracy) {
        return Math.max(1, Math.ceil(Math.log(1 / accuracy) / Math.log(2)));
    }

    private static long seed(double[] theta, double eps, double delta) {
        long h = Arrays.hashCode(theta);
        h = h * 31 + Double.hashCode(eps);
        h = h * 31 + Double.hashCode(delta);
        return h;
    }

    private static double[] unitVector(int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] u = new double[len];
        double norm;
        do {
            for (int i = 0; i < len; i++) {
                u[i] = r.nextDouble(-1, 1);
            }
            norm = norm(u);
        } while (norm < 1e-3);
        for (int i = 0; i < len; i++) {
            u[i] /= norm;
        }
        return u;
    }

    static double norm(double[] a) {
        double s = 0;
        for (double v : a) {
            s += v * v;
        }
        return Math.sqrt(s);
    }
}
