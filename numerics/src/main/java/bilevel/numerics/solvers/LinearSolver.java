package bilevel.numerics.solvers;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A pluggable solver for H q = b with H symmetric positive definite and given matrix-free (in the
 * spirit of JAXopt's {@code solve} argument). Every implementation stops on the <em>absolute</em>
 * residual ‖H q − b‖ ≤ δ, reports the true residual of the returned q and the iterations used, and
 * never stops silently at its cap. Implementations own work buffers for one array shape and data type.
 */
public interface LinearSolver extends AutoCloseable {

    /**
     * Solves H q = b approximately.
     *
     * @param operator      H (symmetric positive definite)
     * @param rhs           b (unchanged)
     * @param solution      in: the starting point (warm start); out: the approximate solution. Modified in place.
     * @param tolerance     δ ≥ 0, absolute tolerance on ‖H q − b‖
     * @param maxIterations the iteration cap
     */
    LinearSolveResult solve(SymmetricOperator operator, INDArray rhs, INDArray solution, double tolerance,
                            int maxIterations);

    @Override
    void close();
}
