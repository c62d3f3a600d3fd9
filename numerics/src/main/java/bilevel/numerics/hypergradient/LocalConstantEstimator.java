package bilevel.numerics.hypergradient;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;

/**
 * <b>Estimated</b> (not certified) local replacements for the three regularizer constants of
 * {@link HypergradientErrorBound} — M ≥ ‖J(x)‖, L_H and L_J — measured at the computed point (x, q)
 * instead of bounded over all of R^n (or a ball). Used by {@link ImplicitHypergradient} in
 * {@link ErrorBoundMode#ESTIMATED} mode.
 *
 * <h2>What the bound really needs</h2>
 * The derivation in {@link HypergradientErrorBound} uses the constants only through three quantities:
 * <ol>
 *   <li>‖J(x)ᵀe‖ ≤ M‖e‖ for the adjoint error e = q − q̂;</li>
 *   <li>‖(H(x̂) − H(x)) q̂‖ ≤ L_H ε ‖q̂‖ — the Hessian's change <em>applied to the adjoint</em>;</li>
 *   <li>‖(J(x) − J(x̂))ᵀ q̂‖ ≤ L_J ε ‖q̂‖ — the mixed derivative's change <em>applied to the adjoint</em>,</li>
 * </ol>
 * with ‖x − x̂‖ ≤ ε. The global constants bound these for every x, x̂ and every adjoint; here only the
 * actual x, the actual adjoint direction q̄ = q/‖q‖ and perturbations d of x of size t are used:
 * <pre>
 *   M̃   = ( (1/k) Σ_i ‖J(x)ᵀ u_i‖² )^{1/2}                       u_i ~ N(0, I_n), k probes: E = ‖J(x)‖_F² ≥ ‖J(x)‖₂²
 *   L̃_J = ( (1/k) Σ_i ‖B u_i‖² )^{1/2},  B d = (J(x + t d)ᵀ q̄ − J(x − t d)ᵀ q̄)/(2t)        (≈ ‖∂ₓ(J(x)ᵀq̄)‖_F)
 *   L̃_H = ‖A d_m‖,  A d = (∇²R(x + t d) q̄ − ∇²R(x − t d) q̄)/(2t),  d_m after m power iterations on A
 *                  (A is symmetric: the third derivative of R is a symmetric tensor), maximised with the
 *                  one-sided secants ‖∇²R(x ± t d_m) q̄ − ∇²R(x) q̄‖/t
 * </pre>
 * (only R's Hessian and mixed derivative depend on x beyond the quadratic data and Tikhonov terms).
 * The Frobenius estimates are unbiased estimates of upper bounds of the operator norms (the 2-norm is at
 * most the Frobenius norm), the power iteration approaches ‖A‖ from below. The perturbation size is the
 * achieved ε (the actual distance scale of x − x̂, so the secants see the nonlinearity at that scale),
 * but at least √u·max(1, ‖x‖) (u the unit roundoff of the data type) so that rounding does not swamp the
 * differences.
 *
 * <h2>Safety factor</h2>
 * The safety factor s (default {@value #DEFAULT_SAFETY}) multiplies M̃ and L̃_J. Since L_H enters the bound
 * only through the product M·L_H, every term of the bound is then exactly s times its value with the raw
 * estimates: s covers the sampling error of the Frobenius estimates (relative standard deviation ≤ √(2/k)
 * of the squared norm), the power iteration's approach from below, and the change of the local
 * constants between x and x̂ and between q and q̂. Finally each constant is capped by its certified
 * counterpart (an upper bound everywhere, so the cap never loses what a certified constant provides, and
 * the estimated bound is never larger than the certified one). The result is still only an
 * <em>estimate</em>: all three are returned as {@link Bound#estimated}, and nothing here is proven — the
 * tests check it against true errors on problems where those are known.
 *
 * <p>Work: k mixed adjoints for M̃, 2k for L̃_J, 2m + 3 Hessian-vector products of R for L̃_H;
 * {@link Estimates#evaluations()} reports their number (counted by the caller as computations).
 *
 * <p>Holds six image buffers of one shape and data type; not thread-safe. Probes are drawn from a
 * {@link SplittableRandom} seeded by the caller, so the estimates are deterministic.
 */
public final class LocalConstantEstimator implements AutoCloseable {

    /** Default multiplier of every estimate. */
    public static final double DEFAULT_SAFETY = 4.0;
    /** Default number k of Gaussian probes of the Frobenius estimates. */
    public static final int DEFAULT_PROBES = 4;
    /** Default number m of power iterations for L̃_H. */
    public static final int DEFAULT_POWER_ITERATIONS = 4;

    private final double safety;
    private final int probes;
    private final int powerIterations;
    private final DataType dataType;
    private final INDArray direction;
    private final INDArray shifted;
    private final INDArray plus;
    private final INDArray minus;
    private final INDArray center;
    private final INDArray qUnit;

    /**
     * The estimates, each {@link Bound#estimated}: min(certified constant, s × M̃), min(certified, L̃_H),
     * min(certified, s × L̃_J).
     *
     * @param mixedNorm        replaces M ≥ ‖J(x)‖
     * @param hessianLipschitz replaces L_H
     * @param mixedLipschitz   replaces L_J
     * @param evaluations      regularizer evaluations spent (mixed adjoints + Hessian-vector products)
     */
    public record Estimates(Bound mixedNorm, Bound hessianLipschitz, Bound mixedLipschitz, long evaluations) {
    }

    /** With the default safety factor, probes and power iterations. */
    public LocalConstantEstimator(long[] imageShape, DataType dataType) {
        this(imageShape, dataType, DEFAULT_SAFETY, DEFAULT_PROBES, DEFAULT_POWER_ITERATIONS);
    }

    /**
     * @param safety          s ≥ 1, the multiplier of M̃ and L̃_J (hence of the whole bound)
     * @param probes          k ≥ 1
     * @param powerIterations m ≥ 1
     */
    public LocalConstantEstimator(long[] imageShape, DataType dataType, double safety, int probes, int powerIterations) {
        if (!(safety >= 1) || Double.isInfinite(safety)) {
            throw new IllegalArgumentException("safety factor must be finite and >= 1, got " + safety);
        }
        if (probes < 1 || powerIterations < 1) {
            throw new IllegalArgumentException("need at least one probe and one power iteration");
        }
        this.safety = safety;
        this.probes = probes;
        this.powerIterations = powerIterations;
        this.dataType = dataType;
        this.direction = Nd4j.create(dataType, imageShape);
        this.shifted = Nd4j.create(dataType, imageShape);
        this.plus = Nd4j.create(dataType, imageShape);
        this.minus = Nd4j.create(dataType, imageShape);
        this.center = Nd4j.create(dataType, imageShape);
        this.qUnit = Nd4j.create(dataType, imageShape);
    }

    public double safety() {
        return safety;
    }

    /**
     * Estimates the constants at (x, q) for a lower-level distance ε.
     *
     * @param reg       R_θ (its work buffers are used; otherwise unchanged)
     * @param x         the computed lower-level solution (unchanged)
     * @param q         the computed adjoint (unchanged)
     * @param epsilon   the achieved distance bound ε ≥ ‖x − x̂‖ (perturbation scale)
     * @param certified the certified constants {M, L_H, L_J} (values only; +∞ allowed)
     * @param seed      seed of the probes
     */
    public Estimates estimate(Regularizer.Instance reg, INDArray x, INDArray q, double epsilon, double[] certified,
                              long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        long evaluations = 0;
        double unit = dataType == DataType.DOUBLE ? 0x1p-53 : 0x1p-24;
        double xNorm = VectorOps.norm(x);
        double t = Math.max(epsilon, Math.sqrt(unit) * Math.max(1.0, xNorm));
        double qNorm = VectorOps.norm(q);

        // M̃: Hutchinson estimate of ‖J(x)‖_F² = E‖J(x)ᵀu‖², u ~ N(0, I)
        double frob2 = 0;
        for (int i = 0; i < probes; i++) {
            gaussian(direction, random);
            frob2 += squaredNorm(reg.mixedAdjoint(x, direction)) / probes;
            evaluations++;
        }
        double mixedNorm = Math.min(certified[0], safety * Math.sqrt(frob2));

        double hessianLipschitz;
        double mixedLipschitz;
        if (qNorm == 0 || !Double.isFinite(qNorm)) {
            // nothing to estimate along: keep the certified constants (the terms they multiply vanish for q̂ ≈ 0)
            hessianLipschitz = certified[1];
            mixedLipschitz = certified[2];
        } else {
            qUnit.assign(q).muli(1.0 / qNorm);
            // L̃_J: Frobenius estimate of d ↦ ∂ₓ(J(x)ᵀ q̄)[d] by central differences of radius t
            double b2 = 0;
            for (int i = 0; i < probes; i++) {
                gaussian(direction, random);
                VectorOps.scale(1.0 / Math.sqrt(direction.length()), direction); // E‖d‖² = 1
                shifted.assign(x);
                VectorOps.axpy(t, direction, shifted);
                double[] ap = reg.mixedAdjoint(shifted, qUnit);
                shifted.assign(x);
                VectorOps.axpy(-t, direction, shifted);
                double[] am = reg.mixedAdjoint(shifted, qUnit);
                double s = 0;
                for (int j = 0; j < ap.length; j++) {
                    double dj = (ap[j] - am[j]) / (2 * t);
                    s += dj * dj;
                }
                b2 += s * direction.length() / probes;   // unit-variance probes: E‖B d‖² = ‖B‖_F²/n per entry scale
                evaluations += 2;
            }
            mixedLipschitz = Math.min(certified[2], safety * Math.sqrt(b2));

            // L̃_H: power iteration on the symmetric map d ↦ ∂ₓ(∇²R(x) q̄)[d]
            gaussian(direction, random);
            VectorOps.scale(1.0 / VectorOps.norm(direction), direction);
            double lambda = 0;
            for (int it = 0; it < powerIterations; it++) {
                evaluations += applyHessianDifference(reg, x, t, direction);      // minus ← A d
                double norm = VectorOps.norm(minus);
                lambda = Math.max(lambda, norm);
                if (!(norm > 0) || !Double.isFinite(norm)) {
                    break;
                }
                direction.assign(minus).muli(1.0 / norm);
            }
            // one-sided secants at the final direction: the change at the scale t, not only its linear part
            reg.hessianVector(x, qUnit, center);
            shifted.assign(x);
            VectorOps.axpy(t, direction, shifted);
            reg.hessianVector(shifted, qUnit, plus);
            plus.subi(center);
            shifted.assign(x);
            VectorOps.axpy(-t, direction, shifted);
            reg.hessianVector(shifted, qUnit, minus);
            minus.subi(center);
            evaluations += 3;
            double secant = Math.max(VectorOps.norm(plus), VectorOps.norm(minus)) / t;
            lambda = Math.max(lambda, secant);
            hessianLipschitz = Math.min(certified[1], lambda);
        }
        return new Estimates(Bound.estimated(mixedNorm), Bound.estimated(hessianLipschitz),
                Bound.estimated(mixedLipschitz), evaluations);
    }

    /** minus ← (∇²R(x + t d) q̄ − ∇²R(x − t d) q̄)/(2t) for d = direction; returns the evaluations used (2). */
    private long applyHessianDifference(Regularizer.Instance reg, INDArray x, double t, INDArray d) {
        shifted.assign(x);
        VectorOps.axpy(t, d, shifted);
        reg.hessianVector(shifted, qUnit, plus);
        shifted.assign(x);
        VectorOps.axpy(-t, d, shifted);
        reg.hessianVector(shifted, qUnit, minus);
        minus.rsubi(plus).muli(1.0 / (2 * t));
        return 2;
    }

    private static double squaredNorm(double[] v) {
        double s = 0;
        for (double a : v) {
            s += a * a;
        }
        return s;
    }

    /** out ← independent N(0, 1) entries (out is a contiguous 'c' array of this estimator). */
    private void gaussian(INDArray out, SplittableRandom random) {
        int n = (int) out.length();
        if (dataType == DataType.DOUBLE) {
            DoubleBuffer b = out.data().asNioDouble();
            for (int i = 0; i < n; i++) {
                b.put(i, random.nextGaussian());
            }
        } else {
            FloatBuffer b = out.data().asNioFloat();
            for (int i = 0; i < n; i++) {
                b.put(i, (float) random.nextGaussian());
            }
        }
    }

    @Override
    public void close() {
        direction.close();
        shifted.close();
        plus.close();
        minus.close();
        center.close();
        qUnit.close();
    }
}
