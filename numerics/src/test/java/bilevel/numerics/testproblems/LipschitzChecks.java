package bilevel.numerics.testproblems;

import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static bilevel.numerics.TestArrays.gaussian;
import static bilevel.numerics.TestArrays.norm;
import static bilevel.numerics.TestArrays.uniform;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sampled falsification checks of the certified constants the hypergradient bound uses and the
 * regularizer contract does not check: L_H (Hessian Lipschitz) and L_J (mixed Lipschitz).
 * A sample can only show a violation, never prove the bound; the proofs are in the javadoc.
 */
public final class LipschitzChecks {
    private LipschitzChecks() {
    }

    /**
     * For random pairs x, x' = x + scale·u and random directions: ‖(∇²R(x) − ∇²R(x'))v‖ ≤ L_H‖x − x'‖‖v‖ and
     * ‖(J(x) − J(x'))ᵀq‖ ≤ L_J‖x − x'‖‖q‖.
     */
    public static void check(Regularizer reg, double[] theta, long h, long w, double scale, long seed) {
        Random random = new Random(seed);
        try (Regularizer.Instance r = reg.bind(theta, DataType.DOUBLE)) {
            double lh = r.hessianLipschitz().value();
            double lj = r.mixedLipschitz().value();
            for (int trial = 0; trial < 20; trial++) {
                INDArray x = uniform(random, 0, 1, h, w);
                INDArray xp = x.add(gaussian(random, h, w).muli(scale));
                double dist = norm(x.sub(xp));
                INDArray v = gaussian(random, h, w);
                INDArray hv = Nd4j.create(DataType.DOUBLE, h, w);
                INDArray hvp = Nd4j.create(DataType.DOUBLE, h, w);
                r.hessianVector(x, v, hv);
                r.hessianVector(xp, v, hvp);
                double lhs = norm(hv.sub(hvp));
                assertTrue(lhs <= lh * dist * norm(v) * (1 + 1e-9) + 1e-12,
                        reg.type() + ": Hessian Lipschitz violated: " + lhs + " > " + lh * dist * norm(v));
                INDArray q = gaussian(random, h, w);
                double[] a = r.mixedAdjoint(x, q);
                double[] b = r.mixedAdjoint(xp, q);
                double s = 0;
                for (int i = 0; i < a.length; i++) {
                    s += (a[i] - b[i]) * (a[i] - b[i]);
                }
                assertTrue(Math.sqrt(s) <= lj * dist * norm(q) * (1 + 1e-9) + 1e-12,
                        reg.type() + ": mixed Lipschitz violated: " + Math.sqrt(s) + " > " + lj * dist * norm(q));
            }
        }
    }
}
