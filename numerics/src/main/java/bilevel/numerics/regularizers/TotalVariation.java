package bilevel.numerics.regularizers;

import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.Axpy;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * Smoothed isotropic total variation, type {@code "tv"}:
 * <pre>
 *   R_θ(x) = λ Σ_p ( ψ_γ((Dx)_p) − γ ),   ψ_γ(u) = √(|u|² + γ²),   θ = (log λ, log γ),
 * </pre>
 * where (Dx)_p = ((D_h x)_p, (D_v x)_p) ∈ R² are forward differences, (D_h x)[i, j] = x[i, j+1] − x[i, j]
 * and (D_v x)[i, j] = x[i+1, j] − x[i, j], set to 0 in the last column (D_h) and last row (D_v)
 * (Neumann boundary). R_θ is convex, non-negative, and 0 exactly on constant images.
 *
 * <h2>Derivatives</h2> With u = Dx, ρ_p = ψ_γ(u_p):
 * <ul>
 *   <li>∇R = λ Dᵀ(u/ρ) (pixelwise quotient);</li>
 *   <li>∇²R v = λ Dᵀ M(u) D v with the 2×2 blocks M_p = ∇²ψ_γ(u_p) = (I − u_p u_pᵀ/ρ_p²)/ρ_p;</li>
 *   <li>∂∇R/∂θ₁ = λ ∂∇R/∂λ = λ Dᵀ(u/ρ) = ∇R,
 *       ∂∇R/∂θ₂ = γ ∂∇R/∂γ = −λγ² Dᵀ(u/ρ³) (∂(u/ρ)/∂γ = −γu/ρ³).</li>
 * </ul>
 *
 * <h2>Feasible set</h2> θ₁ = log λ is unconstrained; θ₂ = log γ is clamped by {@link #project} to
 * [log 10⁻⁴, log 1] = [{@value #LOG_GAMMA_MIN}, 0] (γ below 10⁻⁴ makes the smoothing, and every
 * constant below, degenerate; γ above 1 is not a TV any more for images in [0, 1]). {@link #bind} accepts
 * any finite θ (it does not clamp).
 *
 * <h2>Constants</h2> (certified; proofs below, all norms Euclidean / spectral)
 * <ol>
 *   <li><b>‖D‖² ≤ 8.</b> ‖D_h x‖² = Σ (x_{i,j+1} − x_{i,j})² ≤ Σ 2(x_{i,j+1}² + x_{i,j}²) ≤ 4‖x‖²; same for D_v.</li>
 *   <li><b>Convexity modulus 0</b> (ψ_γ convex, constants are in the kernel of D, so no strong convexity).</li>
 *   <li><b>Gradient Lipschitz 8λ/γ.</b> ‖M_p‖ = 1/ρ_p ≤ 1/γ (eigenvalues 1/ρ and γ²/ρ³), so
 *       ‖∇²R‖ ≤ λ‖D‖² max_p ‖M_p‖ ≤ 8λ/γ.</li>
 *   <li><b>Hessian Lipschitz L_H = (16√10/3) λ/γ² ≈ 16.87 λ/γ².</b>
 *     <ul>
 *       <li><i>Third derivative of ψ_γ.</i> T(u)[h] := d/dt ∇²ψ_γ(u + th)|₀
 *           = −((u·h) I + h uᵀ + u hᵀ)/ρ³ + 3 (u·h) u uᵀ/ρ⁵. Write r = |u|, e = u/r, h = α e + β e⊥
 *           (α² + β² = 1). In the basis (e, e⊥), using 1 − r²/ρ² = γ²/ρ²:
 *           T(u)[h] = (r/ρ³) [[−3αγ²/ρ², −β], [−β, −α]]. For a symmetric 2×2 matrix [[p, q], [q, s]] with
 *           p s ≥ 0 the spectral norm is (|p| + |s|)/2 + √(((|p| − |s|)/2)² + q²) ≤ max(|p|, |s|) + |q|, so
 *           ‖T(u)[h]‖ ≤ (r/ρ³)(|α| max(3γ²/ρ², 1) + |β|) ≤ (r/ρ³)·√(max(3γ²/ρ², 1)² + 1) ≤ √10 · r/ρ³
 *           (Cauchy–Schwarz, γ²/ρ² ≤ 1). Finally r/(r² + γ²)^{3/2} is maximal at r² = γ²/2, where it
 *           equals 2/(3√3 γ²). Hence sup_{u,|h|=1} ‖T(u)[h]‖ ≤ c₃/γ² with c₃ = 2√10/(3√3) ≈ 1.217, and by
 *           the mean value theorem ‖M(u) − M(u')‖ ≤ (c₃/γ²)|u − u'|.</li>
 *       <li><i>Pixel differences.</i> (D δ)_p involves δ at p, its right and its lower neighbour:
 *           |(Dδ)_p|² ≤ (δ₁ − δ₀)² + (δ₂ − δ₀)², a quadratic form with eigenvalues 0, 1, 3; so
 *           max_p |(Dδ)_p| ≤ √3 ‖δ‖.</li>
 *       <li><i>Together.</i> ∇²R(x) − ∇²R(y) = λ Dᵀ (M(Dx) − M(Dy)) D with block-diagonal middle factor, so
 *           ‖·‖ ≤ λ ‖D‖² max_p ‖M_p(x) − M_p(y)‖ ≤ 8λ (c₃/γ²) √3 ‖x − y‖ = (16√10/3)(λ/γ²) ‖x − y‖.</li>
 *     </ul></li>
 *   <li><b>Mixed Lipschitz L_J = 8√2 λ/γ.</b> J(x) = [c₁(x), c₂(x)] with c₁ = λ Dᵀ φ₁(Dx), φ₁(u) = u/ρ and
 *       c₂ = −λγ² Dᵀ φ₂(Dx), φ₂(u) = u/ρ³ (pixelwise). ∇φ₁ = M has norm ≤ 1/γ; ∇φ₂ = (I − 3uuᵀ/ρ²)/ρ³ has
 *       eigenvalues 1/ρ³ ≤ 1/γ³ (across u) and (γ² − 2r²)/ρ⁵ (along u); with s = r²/γ² the latter has modulus
 *       |1 − 2s|/((1 + s)^{5/2} γ³) ≤ 1/γ³, because 1 − 2s ≤ 1 ≤ (1 + s)^{5/2} and, by Bernoulli's inequality,
 *       2s − 1 ≤ 1 + 5s/2 ≤ (1 + s)^{5/2}. So ‖∇φ₂‖ ≤ 1/γ³ (attained at u = 0). Hence, pixelwise and then
 *       with ‖D‖ ≤ √8,
 *       ‖c₁(x) − c₁(y)‖ ≤ λ √8 (1/γ) √8 ‖x − y‖ = 8λ/γ ‖x − y‖ and
 *       ‖c₂(x) − c₂(y)‖ ≤ λγ² √8 (1/γ³) √8 ‖x − y‖ = 8λ/γ ‖x − y‖. Combining the columns by the Frobenius
 *       norm (which bounds the operator norm R^{H×W} → R²): L_J = √2 · 8λ/γ.</li>
 *   <li><b>mixedNorm(x)</b> = ‖J(x)‖_F = √(‖c₁(x)‖² + ‖c₂(x)‖²) ≥ ‖J(x)‖₂, evaluated at x (squared norms
 *       accumulated in double), plus a rounding allowance 64 ε λ √8 (‖u/ρ‖ + γ²‖u/ρ³‖) (ε = unit roundoff
 *       of the data type), which dominates the error of the computed columns (each entry of Dᵀp is a sum
 *       of four terms with relative errors of a few ε).</li>
 * </ol>
 *
 * <h2>Buffers</h2> An {@link Instance} keeps nine [H, W] arrays of its data type (plus one DOUBLE [H, W]
 * array for exact norm sums when the type is FLOAT) for the most recent image shape; a call with a new
 * shape replaces them. After that, value, gradient, hessianVector and mixedAdjoint allocate no arrays
 * (only ND4J's small op descriptors and scalar results). An instance is not thread-safe.
 *
 * <h2>Cost</h2> Per pixel, the gradient takes 14 floating-point operations (2 differences, 5 for ρ
 * counting the square root as one, 2 divisions, 4 for Dᵀ, 1 scaling); the Hessian-vector product 25
 * (ρ and u: 7, D v: 2, s = (u·Dv)/ρ²: 5, (Dv − u s)/ρ: 6, Dᵀ: 4, scaling: 1).
 */
public final class TotalVariation implements Regularizer {

    /** Lower end of the feasible interval of log γ, log 10⁻⁴. */
    public static final double LOG_GAMMA_MIN = -9.210340371976182;
    /** Upper end of the feasible interval of log γ, log 1. */
    public static final double LOG_GAMMA_MAX = 0.0;
    /** Default λ of {@link #initialTheta}. */
    public static final double INITIAL_LAMBDA = 0.05;
    /** Default γ of {@link #initialTheta}. */
    public static final double INITIAL_GAMMA = 0.01;

    /** sup_{u, |h| = 1} ‖∇³ψ_γ(u)[h]‖ · γ² ≤ 2√10/(3√3) (see the class comment). */
    static final double THIRD_DERIVATIVE_CONSTANT = 2 * Math.sqrt(10) / (3 * Math.sqrt(3));

    @Override
    public String type() {
        return "tv";
    }

    @Override
    public int numParams() {
        return 2;
    }

    @Override
    public String paramName(int i) {
        return switch (i) {
            case 0 -> "log_lambda";
            case 1 -> "log_gamma";
            default -> throw new IndexOutOfBoundsException("TV has 2 parameters, asked for " + i);
        };
    }

    /** θ₀ = (log 0.05, log 0.01), independent of the seed. */
    @Override
    public double[] initialTheta(long seed) {
        return new double[]{Math.log(INITIAL_LAMBDA), Math.log(INITIAL_GAMMA)};
    }

    /** Copies θ and clamps log γ to [{@value #LOG_GAMMA_MIN}, 0]; log λ is unconstrained. */
    @Override
    public double[] project(double[] theta) {
        requireTheta(theta);
        double[] p = theta.clone();
        p[1] = Math.min(LOG_GAMMA_MAX, Math.max(LOG_GAMMA_MIN, p[1]));
        return p;
    }

    @Override
    public double gradientFlops(long height, long width) {
        return 14.0 * height * width;
    }

    @Override
    public double hessianVectorFlops(long height, long width) {
        return 25.0 * height * width;
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        requireTheta(theta);
        if (dataType != DataType.DOUBLE && dataType != DataType.FLOAT) {
            throw new IllegalArgumentException("TV works in FLOAT or DOUBLE, not " + dataType);
        }
        return new TvInstance(theta.clone(), dataType);
    }

    private static void requireTheta(double[] theta) {
        if (theta == null || theta.length != 2) {
            throw new IllegalArgumentException("TV needs θ = (log λ, log γ), got "
                    + (theta == null ? "null" : Arrays.toString(theta)));
        }
        if (!Double.isFinite(theta[0]) || !Double.isFinite(theta[1])) {
            throw new IllegalArgumentException("TV parameters must be finite, got " + Arrays.toString(theta));
        }
    }

    /**
     * An [H, W] buffer with contiguous views of its row-major flat vector f (length n = HW), so that both
     * difference operators are shifts of f: (D_h x)_k = f_{k+1} − f_k and (D_v x)_k = f_{k+W} − f_k,
     * with the entries that wrap around (last column, resp. last row) overwritten by 0. Strided column
     * views are avoided because ND4J processes them an order of magnitude slower.
     */
    private static final class Field {
        final INDArray full;
        final INDArray hLo;        // f[0, n−1)
        final INDArray hHi;        // f[1, n)
        final INDArray vLo;        // f[0, n−W)
        final INDArray vHi;        // f[W, n)
        final INDArray lastColumn; // [H, 1] view (strided, H entries)
        final INDArray lastRow;    // f[n−W, n)

        Field(DataType dt, long h, long w) {
            long n = h * w;
            full = Nd4j.create(dt, h, w);
            INDArray flat = full.reshape('c', new long[]{n});
            hLo = flat.get(NDArrayIndex.interval(0, n - 1));
            hHi = flat.get(NDArrayIndex.interval(1, n));
            vLo = flat.get(NDArrayIndex.interval(0, n - w));
            vHi = flat.get(NDArrayIndex.interval(w, n));
            lastColumn = full.get(NDArrayIndex.all(), NDArrayIndex.interval(w - 1, w));
            lastRow = flat.get(NDArrayIndex.interval(n - w, n));
        }
    }

    /** Work buffers for one image shape. */
    private static final class Workspace implements AutoCloseable {
        final long height;
        final long width;
        final Field src;   // copy of the argument (x, v or q)
        final Field uh;    // D_h x, later reused
        final Field uv;    // D_v x, later reused
        final Field rho;   // ψ_γ(Dx)
        final Field dh;    // D_h v
        final Field dv;    // D_v v
        final Field s;     // scratch
        final Field t;     // scratch
        final Field g;     // Dᵀ(·) result
        final INDArray wide; // DOUBLE copy for norms when the instance type is FLOAT (else null)

        Workspace(DataType dt, long h, long w) {
            height = h;
            width = w;
            src = new Field(dt, h, w);
            uh = new Field(dt, h, w);
            uv = new Field(dt, h, w);
            rho = new Field(dt, h, w);
            dh = new Field(dt, h, w);
            dv = new Field(dt, h, w);
            s = new Field(dt, h, w);
            t = new Field(dt, h, w);
            g = new Field(dt, h, w);
            wide = dt == DataType.DOUBLE ? null : Nd4j.create(DataType.DOUBLE, h, w);
        }

        @Override
        public void close() {
            for (Field f : new Field[]{src, uh, uv, rho, dh, dv, s, t, g}) {
                f.full.close();
            }
            if (wide != null) {
                wide.close();
            }
        }
    }

    /** R_θ for fixed θ; owns buffers for the last image shape used. Not thread-safe. */
    private static final class TvInstance implements Instance {
        private final double[] theta;
        private final double lambda;
        private final double gamma;
        private final DataType dataType;
        private Workspace ws;

        TvInstance(double[] theta, DataType dataType) {
            this.theta = theta;
            this.lambda = Math.exp(theta[0]);
            this.gamma = Math.exp(theta[1]);
            this.dataType = dataType;
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        private Workspace workspace(INDArray x) {
            if (x.rank() != 2 || x.size(0) < 2 || x.size(1) < 2) {
                throw new IllegalArgumentException("TV needs a rank-2 [H, W] image with H, W ≥ 2, got shape "
                        + Arrays.toString(x.shape()));
            }
            if (ws == null || ws.height != x.size(0) || ws.width != x.size(1)) {
                if (ws != null) {
                    ws.close();
                }
                ws = new Workspace(dataType, x.size(0), x.size(1));
            }
            return ws;
        }

        /** z ← α x + y (one contiguous ND4J op; z may be y). */
        private static void axpy(double alpha, INDArray x, INDArray y, INDArray z) {
            Nd4j.getExecutioner().exec(new Axpy(x, y, z, alpha));
        }

        /** outH ← D_h f, outV ← D_v f (zero in the last column / row). Reads f, writes outH, outV. */
        private static void differences(Field f, Field outH, Field outV) {
            axpy(-1.0, f.hLo, f.hHi, outH.hLo);
            outH.lastColumn.assign(0);
            axpy(-1.0, f.vLo, f.vHi, outV.vLo);
            outV.lastRow.assign(0);
        }

        /**
         * g ← Dᵀ(p, q) = D_hᵀ p + D_vᵀ q, i.e. g_k = −p_k + p_{k−1} − q_k + q_{k−W}. Requires p = 0 in the last
         * column and q = 0 in the last row, which holds for every caller: p and q are D-images (zero
         * there) multiplied pixelwise by finite factors, or such products minus other such products.
         */
        private static void adjointDifferences(Field p, Field q, Field g) {
            p.full.mul(-1.0, g.full);
            axpy(1.0, p.hLo, g.hHi, g.hHi);
            g.full.subi(q.full);
            axpy(1.0, q.vLo, g.vHi, g.vHi);
        }

        /** ws.src ← x; uh, uv ← Dx; rho ← √(|Dx|² + γ²). Uses t as scratch. */
        private void prepare(Workspace w, INDArray x) {
            w.src.full.assign(x);
            differences(w.src, w.uh, w.uv);
            w.uh.full.mul(w.uh.full, w.rho.full);
            w.uv.full.mul(w.uv.full, w.t.full);
            w.rho.full.addi(w.t.full).addi(gamma * gamma);
            Transforms.sqrt(w.rho.full, false);
        }

        /** R_θ(x) = λ Σ |u|²/(ρ + γ) (the same as λ Σ (ρ − γ), without cancellation). */
        @Override
        public double value(INDArray x) {
            Workspace w = workspace(x);
            prepare(w, x);
            w.uh.full.mul(w.uh.full, w.s.full);
            w.uv.full.mul(w.uv.full, w.t.full);
            w.s.full.addi(w.t.full);
            w.rho.full.addi(gamma);
            w.s.full.divi(w.rho.full);
            return lambda * sum(w, w.s.full);
        }

        /** out ← λ Dᵀ(Dx/ρ). Modifies only {@code out}. */
        @Override
        public void gradient(INDArray x, INDArray out) {
            Workspace w = workspace(x);
            prepare(w, x);
            w.uh.full.divi(w.rho.full);
            w.uv.full.divi(w.rho.full);
            adjointDifferences(w.uh, w.uv, w.g);
            w.g.full.muli(lambda);
            out.assign(w.g.full);
        }

        /** out ← λ Dᵀ M(Dx) D v with M = (I − uuᵀ/ρ²)/ρ per pixel. Modifies only {@code out}. */
        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            Workspace w = workspace(x);
            requireSameShape(x, v);
            prepare(w, x);
            w.src.full.assign(v);
            differences(w.src, w.dh, w.dv);
            // s = (u · Dv)/ρ²
            w.uh.full.mul(w.dh.full, w.s.full);
            w.uv.full.mul(w.dv.full, w.t.full);
            w.s.full.addi(w.t.full).divi(w.rho.full).divi(w.rho.full);
            // (Dv − u s)/ρ
            w.uh.full.mul(w.s.full, w.t.full);
            w.dh.full.subi(w.t.full).divi(w.rho.full);
            w.uv.full.mul(w.s.full, w.t.full);
            w.dv.full.subi(w.t.full).divi(w.rho.full);
            adjointDifferences(w.dh, w.dv, w.g);
            w.g.full.muli(lambda);
            out.assign(w.g.full);
        }

        /** (⟨λDᵀ(u/ρ), q⟩, ⟨−λγ²Dᵀ(u/ρ³), q⟩) = (λ Σ u·Dq/ρ, −λγ² Σ u·Dq/ρ³). */
        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace w = workspace(x);
            requireSameShape(x, q);
            prepare(w, x);
            w.src.full.assign(q);
            differences(w.src, w.dh, w.dv);
            w.uh.full.mul(w.dh.full, w.s.full);
            w.uv.full.mul(w.dv.full, w.t.full);
            w.s.full.addi(w.t.full).divi(w.rho.full);
            double m1 = lambda * sum(w, w.s.full);
            w.s.full.divi(w.rho.full).divi(w.rho.full);
            double m2 = -lambda * gamma * gamma * sum(w, w.s.full);
            return new double[]{m1, m2};
        }

        /** Certified 0. */
        @Override
        public Bound convexityModulus() {
            return Bound.certified(0.0);
        }

        /** Certified 8λ/γ. */
        @Override
        public Bound gradientLipschitz() {
            return Bound.certified(8 * lambda / gamma);
        }

        /** Certified (16√10/3) λ/γ² = 8√3 c₃ λ/γ². */
        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(8 * Math.sqrt(3) * THIRD_DERIVATIVE_CONSTANT * lambda / (gamma * gamma));
        }

        /** Certified 8√2 λ/γ. */
        @Override
        public Bound mixedLipschitz() {
            return Bound.certified(8 * Math.sqrt(2) * lambda / gamma);
        }

        /** Certified ‖J(x)‖_F (+ rounding allowance), see the class comment. */
        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace w = workspace(x);
            prepare(w, x);
            w.uh.full.divi(w.rho.full);
            w.uv.full.divi(w.rho.full);
            double p1 = Math.sqrt(sumOfSquares(w, w.uh.full) + sumOfSquares(w, w.uv.full));   // ‖u/ρ‖
            adjointDifferences(w.uh, w.uv, w.g);
            double n1 = sumOfSquares(w, w.g.full);                                             // ‖c₁‖²/λ²
            w.uh.full.divi(w.rho.full).divi(w.rho.full);
            w.uv.full.divi(w.rho.full).divi(w.rho.full);
            double p2 = Math.sqrt(sumOfSquares(w, w.uh.full) + sumOfSquares(w, w.uv.full));   // ‖u/ρ³‖
            adjointDifferences(w.uh, w.uv, w.g);
            double n2 = sumOfSquares(w, w.g.full);                                             // ‖c₂‖²/(λγ²)²
            double g2 = gamma * gamma;
            double frobenius = lambda * Math.sqrt(n1 + g2 * g2 * n2);
            double eps = dataType == DataType.DOUBLE ? 0x1p-53 : 0x1p-24;
            double allowance = 64 * eps * lambda * Math.sqrt(8) * (p1 + g2 * p2);
            return Bound.certified((frobenius + allowance) * (1 + 1e-12));
        }

        private static double sum(Workspace w, INDArray a) {
            if (w.wide == null) {
                return a.sumNumber().doubleValue();
            }
            w.wide.assign(a);
            return w.wide.sumNumber().doubleValue();
        }

        private static double sumOfSquares(Workspace w, INDArray a) {
            INDArray d = a;
            if (w.wide != null) {
                w.wide.assign(a);
                d = w.wide;
            }
            double n = d.norm2Number().doubleValue();
            return n * n;
        }

        private static void requireSameShape(INDArray x, INDArray y) {
            if (!Arrays.equals(x.shape(), y.shape())) {
                throw new IllegalArgumentException("shapes differ: " + Arrays.toString(x.shape()) + " vs "
                        + Arrays.toString(y.shape()));
            }
        }

        @Override
        public void close() {
            if (ws != null) {
                ws.close();
                ws = null;
            }
        }
    }
}
