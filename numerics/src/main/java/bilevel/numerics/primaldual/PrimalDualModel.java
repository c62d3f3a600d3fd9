package bilevel.numerics.primaldual;

import bilevel.numerics.regularizers.LearnedStructure;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMax;
import org.nd4j.linalg.api.ops.impl.scalar.ScalarMin;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A learned primal–dual model: the lower level of {@link SaddlePointProblem},
 * <pre>
 *   min_x max_p ⟨K_θ x, p⟩ + ½‖Ax − y‖² + (μ/2)‖x‖² − F*(p),   F* the conjugate of F = λ_F Σ_i h_γ,
 * </pre>
 * with K_θ a {@link LearnedOperator} (learned filters: type {@code pd-filters}; fixed differences with a learned
 * weight, i.e. smoothed anisotropic TV: {@code pd-tv}) and the fixed constants λ_F (Huber weight), γ (Huber
 * smoothing) and κ (PDHG step balance). Its hypergradients are computed by {@link PiggybackMethod}, its lower
 * level solved by {@link Pdhg}.
 *
 * <h2>As a regularizer</h2>
 * The saddle problem is equivalent to min_x ½‖Ax − y‖² + (μ/2)‖x‖² + R_θ(x) with the smooth convex
 * <pre>
 *   R_θ(x) = λ_F Σ_i h_γ((K_θ x)_i),  h_γ(t) = t²/(2γ) for |t| ≤ γ, |t| − γ/2 otherwise
 *          = λ_F (⟨K_θx, c⟩ − (γ/2)‖c‖²),  c = clip(K_θx/γ, −1, 1),
 *   ∇R = K_θᵀψ,  ψ = λ_F c,   ∇²R v = K_θᵀ(Λ ⊙ K_θ v),  Λ = (λ_F/γ)·1[|K_θx| &lt; γ],
 *   (∂θ∇R)ᵀq = ∂θ⟨ψ, K_θ q⟩|_ψ fixed + ∂θ⟨Λ ⊙ K_θ q, K_θ x⟩|_fixed,
 * </pre>
 * so this class is also a {@link Regularizer} (the rest of the system stores, projects and binds θ through
 * that interface, and FISTA could solve the primal problem). Constants: m_R = 0 (convex, certified);
 * L_R = λ_F L_K²/γ (‖∇²R‖ ≤ ‖K‖² ‖Λ‖_∞, certified when L_K is); h_γ'' is discontinuous, so x ↦ ∇²R and
 * x ↦ ∂θ∇R are not Lipschitz: L_H = L_J = +∞, which is trivially a valid (certified) upper bound and makes
 * the implicit bound infinite — the implicit method is not meant for this model; ‖∂θ∇R(x)‖ ≤
 * Γ(‖ψ‖ + (λ_F/γ) L_K ‖x‖) (from the two terms above with ‖∂θ⟨a, K_θb⟩‖ ≤ Γ‖a‖‖b‖ and ‖Λ‖_∞ = λ_F/γ;
 * certified when Γ and L_K are).
 *
 * <p>Immutable and thread-safe. An {@link Instance} binds K_θ lazily for every image shape it meets (training
 * crops and validation images differ) and owns those bindings; it is not thread-safe.
 */
public final class PrimalDualModel implements Regularizer, LearnedStructure {
    /** Default λ_F: the learned operator carries the scale (learned weights), so F is fixed at weight 1. */
    public static final double DEFAULT_HUBER_WEIGHT = 1.0;

    private final LearnedOperator coupling;
    private final double huberWeight;
    private final double huberSmoothing;
    private final double stepBalance;

    /**
     * @param coupling       the family K_θ
     * @param huberWeight    λ_F &gt; 0
     * @param huberSmoothing γ &gt; 0
     * @param stepBalance    κ ∈ (0, 1) of {@link SaddlePointProblem}
     */
    public PrimalDualModel(LearnedOperator coupling, double huberWeight, double huberSmoothing, double stepBalance) {
        this.coupling = Objects.requireNonNull(coupling, "coupling");
        if (!(huberWeight > 0) || !Double.isFinite(huberWeight) || !(huberSmoothing > 0) || !Double.isFinite(huberSmoothing)) {
            throw new IllegalArgumentException("need a finite Huber weight λ_F > 0 and smoothing γ > 0, got "
                    + huberWeight + ", " + huberSmoothing);
        }
        if (!(stepBalance > 0 && stepBalance < 1)) {
            throw new IllegalArgumentException("the step balance κ must be in (0, 1), got " + stepBalance);
        }
        this.huberWeight = huberWeight;
        this.huberSmoothing = huberSmoothing;
        this.stepBalance = stepBalance;
    }

    /** λ_F = {@link #DEFAULT_HUBER_WEIGHT}, κ = {@link SaddlePointProblem#DEFAULT_STEP_BALANCE}. */
    public PrimalDualModel(LearnedOperator coupling, double huberSmoothing) {
        this(coupling, DEFAULT_HUBER_WEIGHT, huberSmoothing, SaddlePointProblem.DEFAULT_STEP_BALANCE);
    }

    public LearnedOperator coupling() {
        return coupling;
    }

    /** λ_F. */
    public double huberWeight() {
        return huberWeight;
    }

    /** γ. */
    public double huberSmoothing() {
        return huberSmoothing;
    }

    /** κ. */
    public double stepBalance() {
        return stepBalance;
    }

    /**
     * Whether {@code other} describes the same model: same coupling type, number of parameters and channels, and
     * the same λ_F, γ, κ (two families built from the same options).
     */
    public boolean sameModel(PrimalDualModel other) {
        return other == this || (other != null && other.coupling.type().equals(coupling.type())
                && other.coupling.numParams() == coupling.numParams() && other.coupling.channels() == coupling.channels()
                && other.huberWeight == huberWeight && other.huberSmoothing == huberSmoothing
                && other.stepBalance == stepBalance);
    }

    /** "pd-" + the coupling's type: {@code pd-filters}, {@code pd-tv}. */
    @Override
    public String type() {
        return "pd-" + coupling.type();
    }

    @Override
    public int numParams() {
        return coupling.numParams();
    }

    @Override
    public String paramName(int i) {
        return coupling.paramName(i);
    }

    @Override
    public double[] initialTheta(long seed) {
        return coupling.initialTheta(seed);
    }

    @Override
    public double[] project(double[] theta) {
        return coupling.project(theta);
    }

    @Override
    public List<double[][]> filters(double[] theta) {
        return coupling.filters(theta);
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        if (theta.length != numParams()) {
            throw new IllegalArgumentException("expected " + numParams() + " parameters, got " + theta.length);
        }
        return new Instance(theta.clone(), dataType);
    }

    /** R_θ with θ fixed; K_θ bound per image shape on first use. Not thread-safe. */
    public final class Instance implements Regularizer.Instance {
        private final double[] theta;
        private final DataType dataType;
        private final Bound normK;
        private final Bound gamma;
        private final Map<List<Long>, Workspace> shapes = new HashMap<>();

        private Instance(double[] theta, DataType dataType) {
            this.theta = theta;
            this.dataType = dataType;
            this.normK = coupling.normBound(theta);
            this.gamma = coupling.parameterGradientBound(theta);
        }

        /** The model this instance belongs to. */
        public PrimalDualModel model() {
            return PrimalDualModel.this;
        }

        public DataType dataType() {
            return dataType;
        }

        /** K_θ for images of shape [H, W] (owned by this instance: do not close). */
        public LearnedOperator.Instance coupling(long[] imageShape) {
            return workspace(imageShape).k;
        }

        private Workspace workspace(long[] imageShape) {
            if (imageShape.length != 2) {
                throw new IllegalArgumentException("images are [H, W], got rank " + imageShape.length);
            }
            return shapes.computeIfAbsent(List.of(imageShape[0], imageShape[1]),
                    s -> new Workspace(coupling.bind(theta, imageShape, dataType)));
        }

        @Override
        public double[] theta() {
            return theta.clone();
        }

        @Override
        public double value(INDArray x) {
            Workspace w = workspace(x.shape()).derivatives(x);
            // λ_F(⟨Kx, c⟩ − (γ/2)‖c‖²) with ψ = λ_F c
            double kc = VectorOps.dot(w.kx, w.psi) / huberWeight;
            double cc = VectorOps.dot(w.psi, w.psi) / (huberWeight * huberWeight);
            return huberWeight * (kc - 0.5 * huberSmoothing * cc);
        }

        @Override
        public void gradient(INDArray x, INDArray out) {
            Workspace w = workspace(x.shape()).derivatives(x);
            w.k.adjoint(w.psi, out);
        }

        @Override
        public void hessianVector(INDArray x, INDArray v, INDArray out) {
            Workspace w = workspace(x.shape()).derivatives(x);
            w.k.apply(v, w.kv);
            w.kv.muli(w.curvature);
            w.k.adjoint(w.kv, out);
        }

        @Override
        public double[] mixedAdjoint(INDArray x, INDArray q) {
            Workspace w = workspace(x.shape()).derivatives(x);
            double[] out = new double[numParams()];
            w.k.accumulateParameterGradient(q, w.psi, 1.0, out);     // ∂θ⟨ψ, K_θ q⟩
            w.k.apply(q, w.kv);
            w.kv.muli(w.curvature);
            w.k.accumulateParameterGradient(x, w.kv, 1.0, out);      // ∂θ⟨Λ ⊙ K q, K_θ x⟩
            return out;
        }

        /** 0: R is convex (certified). */
        @Override
        public Bound convexityModulus() {
            return Bound.certified(0);
        }

        /** λ_F L_K²/γ (see the class comment). */
        @Override
        public Bound gradientLipschitz() {
            return new Bound(huberWeight * normK.value() * normK.value() / huberSmoothing, normK.certified());
        }

        /** +∞ (h_γ'' is discontinuous; trivially a valid upper bound). */
        @Override
        public Bound hessianLipschitz() {
            return Bound.certified(Double.POSITIVE_INFINITY);
        }

        /** +∞ (as {@link #hessianLipschitz()}). */
        @Override
        public Bound mixedLipschitz() {
            return Bound.certified(Double.POSITIVE_INFINITY);
        }

        /** Γ(‖ψ‖ + (λ_F/γ) L_K ‖x‖) (see the class comment). */
        @Override
        public Bound mixedNorm(INDArray x) {
            Workspace w = workspace(x.shape()).derivatives(x);
            double value = gamma.value() * (VectorOps.norm(w.psi) + huberWeight / huberSmoothing * normK.value() * VectorOps.norm(x));
            return new Bound(value, gamma.certified() && normK.certified());
        }

        @Override
        public void close() {
            for (Workspace w : new ArrayList<>(shapes.values())) {
                w.close();
            }
            shapes.clear();
        }

        /** K_θ for one shape and (lazily) the buffers of the regularizer face. */
        private final class Workspace implements AutoCloseable {
            final LearnedOperator.Instance k;
            INDArray kx;
            INDArray psi;
            INDArray curvature;
            INDArray kv;

            Workspace(LearnedOperator.Instance k) {
                this.k = k;
            }

            /** kx ← Kx, ψ ← λ_F clip(Kx/γ, ±1), curvature ← (λ_F/γ)·1[|Kx| &lt; γ]. Returns this. */
            Workspace derivatives(INDArray x) {
                if (kx == null) {
                    kx = Nd4j.create(dataType, k.dualShape());
                    psi = Nd4j.create(dataType, k.dualShape());
                    curvature = Nd4j.create(dataType, k.dualShape());
                    kv = Nd4j.create(dataType, k.dualShape());
                }
                k.apply(x, kx);
                psi.assign(kx);
                VectorOps.scale(1.0 / huberSmoothing, psi);
                Nd4j.getExecutioner().exec(new ScalarMin(psi, 1.0));
                Nd4j.getExecutioner().exec(new ScalarMax(psi, -1.0));
                // 1[|t| < γ] = ceil(1 − min(|t|/γ, 1)) (1 − m ∈ (0, 1] iff m < 1)
                curvature.assign(psi);
                Transforms.abs(curvature, false);
                curvature.rsubi(1.0);
                Transforms.ceil(curvature, false);
                VectorOps.scale(huberWeight / huberSmoothing, curvature);
                VectorOps.scale(huberWeight, psi);
                return this;
            }

            @Override
            public void close() {
                k.close();
                for (INDArray a : new INDArray[]{kx, psi, curvature, kv}) {
                    if (a != null) {
                        a.close();
                    }
                }
            }
        }
    }
}
