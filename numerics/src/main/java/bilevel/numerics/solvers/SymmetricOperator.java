package bilevel.numerics.solvers;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A symmetric positive definite linear map H given matrix-free, e.g. v ↦ ∇²ₓₓh(x) v at a fixed x.
 */
@FunctionalInterface
public interface SymmetricOperator {
    /** out ← H v. Modifies only {@code out}, which never aliases {@code v}. */
    void apply(INDArray v, INDArray out);
}
