package bilevel.numerics.primaldual;

import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.solvers.ConjugateGradient;
import bilevel.numerics.solvers.LinearSolveResult;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMax;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMin;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;

/**
 * The lower level of the primal–dual bilevel model for one measurement y, as a strongly convex–strongly
 * concave saddle-point problem:
 * <pre>
 *   min_x max_p  ⟨K_θ x, p⟩ + G(x) − F*(p),
 *   G(x)  = ½‖A x − y‖² + (μ/2)‖x‖²,
 *   F*(p) = Σ_i [ ι_{|p_i| ≤ λ_F}(p_i) + (γ/(2λ_F)) p_i² ].
 * </pre>
 *
 * <h2>F* is the conjugate of a weighted Huber function</h2>
 * Let h_γ(t) = t²/(2γ) for |t| ≤ γ and |t| − γ/2 otherwise, i.e. h_γ = |·| □ (1/(2γ))(·)² (infimal
 * convolution, the Moreau envelope of |·|). Conjugation turns □ into +, so h_γ* = ι_{[−1,1]} + (γ/2)(·)².
 * For F(u) = λ_F Σ_i h_γ(u_i), (λ_F h_γ)*(s) = λ_F h_γ*(s/λ_F) = ι_{|s| ≤ λ_F}(s) + (γ/(2λ_F)) s², which is
 * the F* above (per component, anisotropic). Hence the saddle problem is equivalent to the smooth primal
 * problem
 * <pre>
 *   min_x ½‖Ax − y‖² + (μ/2)‖x‖² + λ_F Σ_i h_γ((K_θ x)_i),
 * </pre>
 * with the dual solution p* = ∇F(K_θ x*) = λ_F clip((K_θ x*)/γ, −1, 1). G is μ_G-strongly convex with
 * μ_G = λ_min(AᵀA) + μ, F* is μ_F-strongly convex with μ_F = γ/λ_F.
 *
 * <h2>Proximal maps</h2>
 * <ul>
 * <li>prox_{τG}(v) = P(v + τAᵀy) with P = (τAᵀA + (1 + τμ) I)⁻¹, ‖P‖ ≤ 1/(1 + τμ_G). When AᵀA is diagonal
 *     (denoising, inpainting masks; detected on construction by comparing AᵀA v with diag(AᵀA)·v on a
 *     pseudo-random probe v) P is applied exactly, element-wise. Otherwise P is applied by conjugate gradients
 *     to a relative residual of {@link #CG_RELATIVE_TOLERANCE}; then the prox is inexact and nothing that
 *     depends on it is reported certified ({@link #proxExact()}).</li>
 * <li>prox_{σF*}(a)_i = clip(s a_i, −λ_F, λ_F), s = 1/(1 + σγ/λ_F) (minimise
 *     (γ/(2λ_F))q² + (q − a)²/(2σ) and project onto the interval, which is exact for a 1-D strongly convex
 *     quadratic). Its derivative is s on the free set |a_i| &lt; λ_F/s and 0 on the clamped set.</li>
 * </ul>
 *
 * <h2>Step sizes and contraction (certified)</h2>
 * With L_K ≥ ‖K‖ and a balance κ ∈ (0, 1): τ = (κ/L_K)√(μ_F/μ_G), σ = (κ/L_K)√(μ_G/μ_F), so
 * √(τσ) L_K = κ &lt; 1. PDHG is the preconditioned proximal-point method 0 ∈ 𝒜(z⁺) + M(z⁺ − z) with
 * 𝒜(x, p) = (∂G(x) + Kᵀp, ∂F*(p) − Kx) and M = [[I/τ, −Kᵀ], [−K, I/σ]]. Since 2|⟨Kx, p⟩| ≤
 * κ(‖x‖²/τ + ‖p‖²/σ), (1 − κ)D ⪯ M ⪯ (1 + κ)D with D = diag(I/τ, I/σ), so M is positive definite. 𝒜 is
 * strongly monotone: ⟨𝒜z − 𝒜z', z − z'⟩ ≥ μ_G‖Δx‖² + μ_F‖Δp‖² ≥ min(μ_Gτ, μ_Fσ)‖Δz‖²_D ≥ c‖Δz‖²_M with
 * <pre>
 *   c = min(μ_G τ, μ_F σ)/(1 + κ) = κ √(μ_G μ_F) / (L_K (1 + κ)).
 * </pre>
 * For z⁺ = T(z), z'⁺ = T(z'): M(z − z⁺) ∈ 𝒜z⁺ and M(z' − z'⁺) ∈ 𝒜z'⁺, so
 * ⟨Δz − Δz⁺, Δz⁺⟩_M ≥ c‖Δz⁺‖²_M, hence (1 + c)‖Δz⁺‖²_M ≤ ‖Δz‖_M‖Δz⁺‖_M: <b>T is a contraction in ‖·‖_M with
 * factor ρ = 1/(1 + c)</b>. ∎ This holds for every strongly monotone 𝒜 with these moduli, in particular for the
 * linearised problems of {@link PiggybackHypergradient}. Certified iff L_K and λ_min(AᵀA) are (μ, γ, λ_F exact).
 *
 * <p>Holds its own buffers (image-sized), not A, y or K. Not thread-safe; {@link #close()} frees the buffers.
 */
public final class SaddlePointProblem implements AutoCloseable {
    /** Default κ = √(τσ)‖K‖: a compromise between the contraction factor and the norm equivalence constants. */
    public static final double DEFAULT_STEP_BALANCE = 0.7;
    /** Relative residual of the CG solves that apply P when AᵀA is not diagonal. */
    public static final double CG_RELATIVE_TOLERANCE = 1e-13;
    private static final int CG_MAX_ITERATIONS = 10_000;

    private final LinearOperator forward;
    private final INDArray data;
    private final long[] imageShape;
    private final LearnedOperator.Instance coupling;
    private final double mu;
    private final double huberWeight;
    private final double huberSmoothing;
    private final DataType dataType;
    private final Bound normK;
    private final Bound strongG;
    private final double strongF;
    private final double kappa;
    private final double tau;
    private final double sigma;
    private final double contraction;
    private final double dualScale;
    private final double proxNorm;
    private final boolean proxExact;
    private final INDArray tauAty;
    private final INDArray inverseDiagonal;   // null when P is applied by CG
    private final INDArray rangeBuffer;
    private final ConjugateGradient cg;
    private long proxCgIterations;

    /**
     * @param forward        A
     * @param data           y (shape A.rangeShape(imageShape); its data type is the problem's)
     * @param imageShape     [H, W]
     * @param coupling       K_θ (bound to the same shape and data type)
     * @param mu             μ ≥ 0
     * @param huberWeight    λ_F &gt; 0
     * @param huberSmoothing γ &gt; 0
     * @param stepBalance    κ ∈ (0, 1)
     */
    public SaddlePointProblem(LinearOperator forward, INDArray data, long[] imageShape,
                              LearnedOperator.Instance coupling, double mu, double huberWeight,
                              double huberSmoothing, double stepBalance) {
        if (!(mu >= 0) || !(huberWeight > 0) || !(huberSmoothing > 0) || !(stepBalance > 0 && stepBalance < 1)) {
            throw new IllegalArgumentException("need μ ≥ 0, λ_F > 0, γ > 0, κ ∈ (0,1)");
        }
        long[] range = forward.rangeShape(imageShape);
        if (!Arrays.equals(range, data.shape())) {
            throw new IllegalArgumentException("data has shape " + Arrays.toString(data.shape()) + ", A maps to "
                    + Arrays.toString(range));
        }
        this.forward = forward;
        this.data = data;
        this.imageShape = imageShape.clone();
        this.coupling = coupling;
        this.mu = mu;
        this.huberWeight = huberWeight;
        this.huberSmoothing = huberSmoothing;
        this.dataType = data.dataType();
        this.normK = coupling.normBound();
        this.strongG = Bound.certified(forward.gramLowerBound() + mu);
        if (!(strongG.value() > 0)) {
            throw new IllegalArgumentException("G is not strongly convex: λ_min(AᵀA) + μ = " + strongG.value());
        }
        if (!(normK.value() > 0) || !Double.isFinite(normK.value())) {
            throw new IllegalArgumentException("need a positive finite bound on ‖K‖, got " + normK.value());
        }
        this.strongF = huberSmoothing / huberWeight;
        this.kappa = stepBalance;
        double muG = strongG.value();
        this.tau = kappa / normK.value() * Math.sqrt(strongF / muG);
        this.sigma = kappa / normK.value() * Math.sqrt(muG / strongF);
        this.contraction = Math.min(muG * tau, strongF * sigma) / (1 + kappa);
        this.dualScale = 1.0 / (1.0 + sigma * huberSmoothing / huberWeight);
        this.proxNorm = 1.0 / (1.0 + tau * muG);
        this.rangeBuffer = Nd4j.create(dataType, range);
        this.tauAty = Nd4j.create(dataType, imageShape);
        forward.adjoint(data, tauAty);
        VectorOps.scale(tau, tauAty);
        INDArray diagonal = diagonalOfGramOrNull();
        if (diagonal != null) {
            // 1/(τ d + 1 + τμ)
            diagonal.muli(tau).addi(1 + tau * mu);
            this.inverseDiagonal = diagonal.rdivi(1.0);
            this.cg = null;
            this.proxExact = true;
        } else {
            this.inverseDiagonal = null;
            this.cg = new ConjugateGradient(imageShape, dataType);
            this.proxExact = false;
        }
    }

    /** diag(AᵀA) if AᵀA v = diag(AᵀA) ⊙ v on a pseudo-random probe v (to rounding), else null. */
    private INDArray diagonalOfGramOrNull() {
        INDArray d = Nd4j.create(dataType, imageShape);
        try (INDArray ones = Nd4j.ones(dataType, imageShape); INDArray probe = Nd4j.create(dataType, imageShape);
             INDArray image = Nd4j.create(dataType, imageShape)) {
            normal(ones, d);
            Random r = new Random(0x9E3779B97F4A7C15L);
            double[] v = new double[(int) probe.length()];
            for (int i = 0; i < v.length; i++) {
                v[i] = 2 * r.nextDouble() - 1;
            }
            try (INDArray src = Nd4j.create(v, imageShape, DataType.DOUBLE)) {
                probe.assign(src);
            }
            normal(probe, image);
            double scale = VectorOps.norm(image) + VectorOps.norm(probe);
            try (INDArray dv = probe.mul(d)) {
                image.subi(dv);
            }
            double tol = (dataType == DataType.DOUBLE ? 1e-12 : 1e-5) * scale;
            if (VectorOps.norm(image) <= tol) {
                return d;
            }
        }
        d.close();
        return null;
    }

    /** out ← AᵀA v (using the range buffer). */
    private void normal(INDArray v, INDArray out) {
        forward.apply(v, rangeBuffer);
        forward.adjoint(rangeBuffer, out);
    }

    /**
     * out ← P rhs = (τAᵀA + (1 + τμ)I)⁻¹ rhs. For the CG path, {@code out} is the starting guess (warm start).
     * Modifies only {@code out}; rhs and out must not alias.
     */
    public void applyP(INDArray rhs, INDArray out) {
        if (inverseDiagonal != null) {
            rhs.mul(inverseDiagonal, out);
            return;
        }
        double tol = CG_RELATIVE_TOLERANCE * VectorOps.norm(rhs);
        LinearSolveResult r = cg.solve((v, o) -> {
            normal(v, o);
            VectorOps.scale(tau, o);
            VectorOps.axpy(1 + tau * mu, v, o);
        }, rhs, out, tol, CG_MAX_ITERATIONS);
        proxCgIterations += r.iterations();
    }

    /** out ← prox_{σF*}(a) = clip(s a, −λ_F, λ_F). Modifies only {@code out}. */
    public void proxDual(INDArray a, INDArray out) {
        out.assign(a);
        VectorOps.scale(dualScale, out);
        Nd4j.getExecutioner().exec(new ScalarMin(out, huberWeight));
        Nd4j.getExecutioner().exec(new ScalarMax(out, -huberWeight));
    }

    /** h(x) = ½‖Ax − y‖² + (μ/2)‖x‖² + λ_F Σ h_γ((Kx)_i), the primal objective (allocates; for tests and logs). */
    public double primalValue(INDArray x) {
        forward.apply(x, rangeBuffer);
        rangeBuffer.subi(data);
        double v = 0.5 * VectorOps.dot(rangeBuffer, rangeBuffer) + 0.5 * mu * VectorOps.dot(x, x);
        try (INDArray kx = Nd4j.create(dataType, coupling.dualShape())) {
            coupling.apply(x, kx);
            double[] u = kx.data().asDouble();
            for (double t : u) {
                double a = Math.abs(t);
                v += huberWeight * (a <= huberSmoothing ? t * t / (2 * huberSmoothing) : a - huberSmoothing / 2);
            }
        }
        return v;
    }

    public LinearOperator forward() { return forward; }

    public INDArray data() { return data; }

    public long[] imageShape() { return imageShape.clone(); }

    public long[] dualShape() { return coupling.dualShape(); }

    public LearnedOperator.Instance coupling() { return coupling; }

    public DataType dataType() { return dataType; }

    public double mu() { return mu; }

    /** λ_F. */
    public double huberWeight() { return huberWeight; }

    /** γ. */
    public double huberSmoothing() { return huberSmoothing; }

    /** τAᵀy (live buffer; do not modify). */
    INDArray tauAty() { return tauAty; }

    /** Primal step τ. */
    public double tau() { return tau; }

    /** Dual step σ. */
    public double sigma() { return sigma; }

    /** κ = √(τσ) L_K. */
    public double kappa() { return kappa; }

    /** L_K ≥ ‖K‖. */
    public Bound normK() { return normK; }

    /** μ_G = λ_min(AᵀA) + μ. */
    public Bound strongConvexityG() { return strongG; }

    /** μ_F = γ/λ_F. */
    public double strongConvexityFStar() { return strongF; }

    /** c, with contraction factor ρ = 1/(1 + c) of the PDHG map in ‖·‖_M. */
    public double contractionMargin() { return contraction; }

    /** ρ = 1/(1 + c). */
    public double contractionFactor() { return 1.0 / (1.0 + contraction); }

    /** s = 1/(1 + σγ/λ_F), the slope of prox_{σF*} on its free set. */
    public double dualScale() { return dualScale; }

    /** An upper bound on ‖P‖: 1/(1 + τμ_G). */
    public double proxNorm() { return proxNorm; }

    /** Whether prox_{τG} is applied exactly (AᵀA diagonal) rather than by CG. */
    public boolean proxExact() { return proxExact; }

    /** Whether the contraction factor (and every distance bound built on it) is certified. */
    public boolean contractionCertified() {
        return normK.certified() && strongG.certified() && proxExact;
    }

    /** CG iterations spent applying P so far (0 on the exact path). */
    public long proxCgIterations() { return proxCgIterations; }

    /** A new zero image. */
    public INDArray newImage() { return Nd4j.create(dataType, imageShape); }

    /** A new zero dual variable [C, H, W]. */
    public INDArray newDual() { return Nd4j.create(dataType, coupling.dualShape()); }

    @Override
    public void close() {
        tauAty.close();
        rangeBuffer.close();
        if (inverseDiagonal != null) {
            inverseDiagonal.close();
        }
        if (cg != null) {
            cg.close();
        }
    }
}
