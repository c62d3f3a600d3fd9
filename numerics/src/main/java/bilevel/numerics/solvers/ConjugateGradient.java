package bilevel.numerics.solvers;

import bilevel.numerics.util.VectorOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The conjugate gradient method (Hestenes–Stiefel) for H q = b, H symmetric positive definite.
 *
 * <p>Starting from the given q₀ (warm start) with r₀ = b − H q₀, p₀ = r₀:
 * <pre>
 *   α_k = ‖r_k‖² / ⟨p_k, H p_k⟩,   q_{k+1} = q_k + α_k p_k,   r_{k+1} = r_k − α_k H p_k,
 *   β_k = ‖r_{k+1}‖² / ‖r_k‖²,     p_{k+1} = r_{k+1} + β_k p_k.
 * </pre>
 * The recursively updated r_k drifts from the true residual b − H q_k in floating point. Therefore,
 * when ‖r_k‖ ≤ δ the true residual is recomputed; the method stops only if the <em>true</em> residual
 * satisfies ‖b − H q_k‖ ≤ δ, and otherwise replaces r_k by it and restarts the search directions
 * (residual replacement). The reported residual is always a recomputed true one, also at the cap.
 * ⟨p, Hp⟩ ≤ 0 (H not positive definite) or a non-finite value stop the method with converged = false.
 *
 * <p>Owns three work buffers of one shape and data type; allocates no ND4J memory per iteration (given an
 * operator that does not). Not thread-safe.
 */
public final class ConjugateGradient implements LinearSolver {
    private final long[] shape;
    private final INDArray residual;     // r_k
    private final INDArray direction;    // p_k
    private final INDArray image;        // H p_k, or H q_k when recomputing

    public ConjugateGradient(long[] shape, DataType dataType) {
        this.shape = shape.clone();
        this.residual = Nd4j.create(dataType, shape);
        this.direction = Nd4j.create(dataType, shape);
        this.image = Nd4j.create(dataType, shape);
    }

    /** r ← b − H q; returns ‖r‖. */
    private double trueResidual(SymmetricOperator operator, INDArray rhs, INDArray solution) {
        operator.apply(solution, image);
        residual.assign(rhs);
        VectorOps.axpy(-1.0, image, residual);
        return VectorOps.norm(residual);
    }

    @Override
    public LinearSolveResult solve(SymmetricOperator operator, INDArray rhs, INDArray solution, double tolerance,
                                   int maxIterations) {
        if (!(tolerance >= 0)) {
            throw new IllegalArgumentException("tolerance must be non-negative, got " + tolerance);
        }
        if (maxIterations < 0) {
            throw new IllegalArgumentException("maxIterations must be non-negative, got " + maxIterations);
        }
        if (!java.util.Arrays.equals(shape, solution.shape()) || !java.util.Arrays.equals(shape, rhs.shape())) {
            throw new IllegalArgumentException("solver was built for shape " + java.util.Arrays.toString(shape));
        }
        int applications = 1;
        double rnorm = trueResidual(operator, rhs, solution);
        boolean residualIsTrue = true;
        double rr = rnorm * rnorm;
        direction.assign(residual);
        int k = 0;
        while (Double.isFinite(rnorm) && rnorm > tolerance && k < maxIterations) {
            operator.apply(direction, image);
            applications++;
            double curvature = VectorOps.dot(direction, image);
            if (!(curvature > 0) || !Double.isFinite(curvature)) {
                break;  // not positive definite along p (or overflow): give up, report the true residual
            }
            double alpha = rr / curvature;
            VectorOps.axpy(alpha, direction, solution);
            VectorOps.axpy(-alpha, image, residual);
            k++;
            double rrNext = VectorOps.dot(residual, residual);
            if (Math.sqrt(rrNext) <= tolerance) {
                rnorm = trueResidual(operator, rhs, solution);
                applications++;
                residualIsTrue = true;
                rr = rnorm * rnorm;
                direction.assign(residual);   // restart from the true residual if it is not small enough
                continue;
            }
            double beta = rrNext / rr;
            rr = rrNext;
            rnorm = Math.sqrt(rrNext);
            residualIsTrue = false;
            VectorOps.scale(beta, direction);
            VectorOps.axpy(1.0, residual, direction);
        }
        if (!residualIsTrue) {   // report the true residual in every case (cap, breakdown)
            rnorm = trueResidual(operator, rhs, solution);
            applications++;
        }
        boolean converged = rnorm <= tolerance;
        return new LinearSolveResult(k, Double.isFinite(rnorm) ? rnorm : Double.POSITIVE_INFINITY, converged,
                tolerance, maxIterations, applications);
    }

    @Override
    public void close() {
        residual.close();
        direction.close();
        image.close();
    }
}
