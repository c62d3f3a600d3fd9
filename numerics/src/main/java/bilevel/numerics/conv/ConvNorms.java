package bilevel.numerics.conv;

/**
 * Certified (proven) norm bounds for the multi-channel "same" correlation K_w of {@link Conv2d}, computed
 * from its weights w[o, i, a, b] (o &lt; cout, i &lt; cin, a, b &lt; k), stored like the Conv2d weight matrix:
 * entry (o, i, a, b) at {@code offset + ((o·cin + i)·k + a)·k + b}.
 *
 * <p>Write K_{oi} for the single-channel block x_i ↦ (K_w x)_o and m_{oi} = ‖w_{oi}‖₁ = Σ_{a,b} |w[o,i,a,b]|.
 * The facts below hold for every image size H×W.
 *
 * <p><b>Lemma 1 (Young).</b> ‖K_{oi}‖₂ ≤ m_{oi}. <i>Proof.</i> K_{oi} = R ∘ Σ_{a,b} w[o,i,a,b] S_{ab} ∘ E
 * where E zero-extends an H×W image to ℓ²(ℤ²), S_{ab} is a shift (an isometry of ℓ²(ℤ²)) and R restricts
 * to the H×W window; ‖E‖ = ‖R‖ = 1, and the triangle inequality gives ‖Σ w S‖ ≤ Σ |w|. ∎
 *
 * <p><b>Lemma 2 (Schur test).</b> ‖K_w‖₂ ≤ √(‖M‖_∞ ‖M‖₁) with M = (m_{oi}), ‖M‖_∞ = max_o Σ_i m_{oi} (largest row
 * sum) and ‖M‖₁ = max_i Σ_o m_{oi} (largest column sum). <i>Proof.</i> For x = (x_i), put ξ_i = ‖x_i‖₂. By Lemma 1
 * ‖(Kx)_o‖ ≤ Σ_i m_{oi} ξ_i, and by Cauchy–Schwarz with weights m_{oi},
 * (Σ_i m_{oi} ξ_i)² ≤ (Σ_i m_{oi})(Σ_i m_{oi} ξ_i²) ≤ ‖M‖_∞ Σ_i m_{oi} ξ_i². Summing over o,
 * ‖Kx‖² ≤ ‖M‖_∞ Σ_i ξ_i² Σ_o m_{oi} ≤ ‖M‖_∞ ‖M‖₁ ‖x‖². ∎ The bound is positively homogeneous of degree 1 in w.
 *
 * <p><b>Lemma 3 (ℓ∞ bounds).</b> ‖K_w z‖_∞ ≤ ‖M‖_∞ ‖z‖_∞ and ‖K_wᵀ v‖_∞ ≤ ‖M‖₁ ‖v‖_∞. <i>Proof.</i> Each output
 * entry of K (resp. Kᵀ) is Σ_{i,a,b} w[o,i,a,b]·(an entry of z or 0) (resp. Σ_{o,a,b} w[o,i,a,b]·(an entry of v or 0)). ∎
 *
 * <p><b>Lemma 4 (ℓ²→ℓ∞ bounds).</b> ‖K_w z‖_∞ ≤ max_o ‖w_{o··}‖₂ ‖z‖₂ and ‖K_wᵀ v‖_∞ ≤ max_i ‖w_{·i·}‖₂ ‖v‖₂, where
 * w_{o··} are all weights of output channel o and w_{·i·} all weights of input channel i. <i>Proof.</i> An entry
 * (K z)_o[r] is the inner product of w_{o··} with a vector of <em>distinct</em> entries of the zero-extended z
 * (distinct (i, a, b) address distinct pixels), so Cauchy–Schwarz gives the claim; likewise for Kᵀ, whose
 * entry (Kᵀv)_i[r] = Σ_{o,a,b} w[o,i,a,b] v̄_o[r − (a, b) + p] pairs w_{·i·} with distinct entries of v̄. ∎
 *
 * <p><b>Lemma 5 (parameter to operator).</b> ‖K_w‖₂ ≤ k ‖w‖₂ for every w. <i>Proof.</i> ‖K‖ ≤ ‖M‖₂ (first step of
 * Lemma 2) ≤ ‖M‖_F, and m_{oi}² ≤ k² ‖w_{oi}‖₂² by Cauchy–Schwarz over the k² taps. ∎ Likewise, by Lemma 3 and
 * Cauchy–Schwarz over cin·k² (resp. cout·k²) entries, ‖K_w‖_{∞→∞} ≤ k√cin ‖w‖₂ and ‖K_wᵀ‖_{∞→∞} ≤ k√cout ‖w‖₂.
 *
 * <p>All methods are pure functions of the weight array (read only) and are computed in double precision.
 */
public final class ConvNorms {
    private ConvNorms() {
    }

    /** m_{oi} = ‖w_{oi}‖₁ as a [cout][cin] matrix, each row optionally scaled by |rowScale[o]| (null: no scaling). */
    public static double[][] blockL1(double[] w, int offset, int cout, int cin, int k, double[] rowScale) {
        double[][] m = new double[cout][cin];
        int kk = k * k;
        for (int o = 0; o < cout; o++) {
            double s = rowScale == null ? 1.0 : Math.abs(rowScale[o]);
            for (int i = 0; i < cin; i++) {
                int base = offset + (o * cin + i) * kk;
                double sum = 0;
                for (int j = 0; j < kk; j++) {
                    sum += Math.abs(w[base + j]);
                }
                m[o][i] = s * sum;
            }
        }
        return m;
    }

    /** ‖M‖_∞ = max_o Σ_i m_{oi}: a certified bound on ‖K_w‖_{∞→∞} (Lemma 3). */
    public static double maxRowSum(double[] w, int offset, int cout, int cin, int k) {
        return maxRowSum(blockL1(w, offset, cout, cin, k, null));
    }

    /** ‖M‖₁ = max_i Σ_o m_{oi}: a certified bound on ‖K_wᵀ‖_{∞→∞} (Lemma 3). */
    public static double maxColumnSum(double[] w, int offset, int cout, int cin, int k) {
        return maxColumnSum(blockL1(w, offset, cout, cin, k, null));
    }

    /** √(‖M‖_∞ ‖M‖₁): a certified bound on ‖K_w‖₂ (Lemma 2). */
    public static double spectralBound(double[] w, int offset, int cout, int cin, int k) {
        return spectralBound(w, offset, cout, cin, k, null);
    }

    /**
     * Certified bound on ‖D K_w‖₂ where D multiplies output channel o by rowScale[o] (Lemma 2 applied to the
     * weights of D K_w, which are the rows of w scaled by rowScale). rowScale null means D = I.
     */
    public static double spectralBound(double[] w, int offset, int cout, int cin, int k, double[] rowScale) {
        double[][] m = blockL1(w, offset, cout, cin, k, rowScale);
        return Math.sqrt(maxRowSum(m) * maxColumnSum(m));
    }

    /** max_o ‖w_{o··}‖₂: a certified bound on ‖K_w‖_{2→∞} (Lemma 4). */
    public static double maxOutputChannelL2(double[] w, int offset, int cout, int cin, int k) {
        int len = cin * k * k;
        double best = 0;
        for (int o = 0; o < cout; o++) {
            double s = 0;
            for (int j = 0; j < len; j++) {
                double v = w[offset + o * len + j];
                s += v * v;
            }
            best = Math.max(best, s);
        }
        return Math.sqrt(best);
    }

    /** ‖w_{o··}‖₂ for every output channel o (a certified bound on ‖(K_w ·)_o‖_{2→∞}, Lemma 4). */
    public static double[] outputChannelL2(double[] w, int offset, int cout, int cin, int k) {
        int len = cin * k * k;
        double[] r = new double[cout];
        for (int o = 0; o < cout; o++) {
            double s = 0;
            for (int j = 0; j < len; j++) {
                double v = w[offset + o * len + j];
                s += v * v;
            }
            r[o] = Math.sqrt(s);
        }
        return r;
    }

    /** max_i ‖w_{·i·}‖₂: a certified bound on ‖K_wᵀ‖_{2→∞} (Lemma 4). */
    public static double maxInputChannelL2(double[] w, int offset, int cout, int cin, int k) {
        int kk = k * k;
        double[] s = new double[cin];
        for (int o = 0; o < cout; o++) {
            for (int i = 0; i < cin; i++) {
                int base = offset + (o * cin + i) * kk;
                for (int j = 0; j < kk; j++) {
                    s[i] += w[base + j] * w[base + j];
                }
            }
        }
        double best = 0;
        for (double v : s) {
            best = Math.max(best, v);
        }
        return Math.sqrt(best);
    }

    /** The factor k of Lemma 5: ‖K_w‖₂ ≤ k‖w‖₂ for all weights w of kernel size k. */
    public static double parameterToOperator(int k) {
        return k;
    }

    private static double maxRowSum(double[][] m) {
        double best = 0;
        for (double[] row : m) {
            double s = 0;
            for (double v : row) {
                s += v;
            }
            best = Math.max(best, s);
        }
        return best;
    }

    private static double maxColumnSum(double[][] m) {
        if (m.length == 0) {
            return 0;
        }
        double best = 0;
        for (int i = 0; i < m[0].length; i++) {
            double s = 0;
            for (double[] row : m) {
                s += row[i];
            }
            best = Math.max(best, s);
        }
        return best;
    }
}
