package bilevel.numerics.train;

/**
 * One line of the metrics file.
 *
 * @param step           upper-level step k (0-based; the line is written after the update of step k)
 * @param computations   total computations so far: lower-level + CG iterations, summed over samples
 * @param seconds        wall time since the run started (excluding data loading)
 * @param batchLoss      mean upper loss ‖x_ε − x*‖² over the step's minibatch (MAID: over all samples)
 * @param epsilon        lower-level accuracy ε_k requested
 * @param delta          CG tolerance δ_k requested
 * @param alpha          step size α_k
 * @param zNorm          ‖z‖ of the (mean) hypergradient
 * @param errorBound     mean of the per-sample a-posteriori bounds (≥ the error of the mean hypergradient)
 * @param certified      whether every bound of the step was certified
 * @param accepted       MAID: whether the step was accepted; always true for ISGD/Adam
 * @param validationPsnr mean validation PSNR in dB after the step, or null when not evaluated
 * @param lowerIterationCapHits samples of this step whose lower-level solve hit the iteration cap
 * @param cgIterationCapHits    samples of this step whose CG solve hit the iteration cap
 * @param staleness      mean staleness of the step's hypergradients: versions of θ applied between the one
 *                       they were computed at and this step (0 for synchronous training)
 * @param weight         the staleness weight w the step was scaled by (1 for synchronous training)
 */
public record StepMetrics(long step, long computations, double seconds, double batchLoss, double epsilon,
                          double delta, double alpha, double zNorm, double errorBound, boolean certified,
                          boolean accepted, Double validationPsnr, int lowerIterationCapHits, int cgIterationCapHits,
                          double staleness, double weight) {

    /** A synchronous step (staleness 0, weight 1). */
    public StepMetrics(long step, long computations, double seconds, double batchLoss, double epsilon, double delta,
                       double alpha, double zNorm, double errorBound, boolean certified, boolean accepted,
                       Double validationPsnr, int lowerIterationCapHits, int cgIterationCapHits) {
        this(step, computations, seconds, batchLoss, epsilon, delta, alpha, zNorm, errorBound, certified, accepted,
                validationPsnr, lowerIterationCapHits, cgIterationCapHits, 0.0, 1.0);
    }
}
