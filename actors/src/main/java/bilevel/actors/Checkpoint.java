package bilevel.actors;

import bilevel.numerics.data.MinibatchSampler;
import bilevel.numerics.train.UpperLevelStepper;
import bilevel.numerics.upper.Adam;
import bilevel.numerics.upper.Sgd;
import bilevel.numerics.upper.UpperOptimizer;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything needed to continue a run: the upper-level state (θ, its version, the optimizer's state with
 * its schedule position k), the sampler's position in its seeded epoch order (the only random state of
 * a run: crops, noise and shuffles are all derived from the seed), samples that were handed out but not
 * yet applied, the counters, and the warm-start files of the solvers.
 *
 * <p>Written as JSON by {@link CheckpointStore} (with a SHA-256 of the content inside the file).
 *
 * @param sequence        checkpoint number (increasing within a run)
 * @param mode            "sync" or "async"
 * @param solvers         number of solvers of the run that wrote it
 * @param dataFingerprint of the training data (a resume on other data is refused)
 * @param steps           upper-level updates applied (= metrics lines of the run)
 * @param version         version of θ
 * @param theta           θ
 * @param optimizer       "sgd" or "adam"
 * @param optimizerK      the optimizer's step counter k (the schedules' position)
 * @param adamM           Adam's first moment (null for SGD)
 * @param adamV           Adam's second moment (null for SGD)
 * @param samplerEpoch    epoch of the sampler's current batch
 * @param samplerIndex    start of the sampler's current batch within the epoch's order
 * @param samplerSeed     the sampler's seed
 * @param samplerConsumed samples of the current batch already handed out (async)
 * @param nextWorkId      next work-item id
 * @param pendingSamples  samples handed out but not applied (re-issued on resume, in this order)
 * @param computations    total computations so far
 * @param hypergradients  hypergradients computed so far
 * @param seconds         wall time of the run so far
 * @param validationPsnr  last validation PSNR (null: none yet)
 * @param warmStarts      warm-start files (relative to the checkpoint's folder) and their digests
 * @param counters        diagnostic counters (rejections, re-issues, …)
 */
public record Checkpoint(String format, int formatVersion, long sequence, String mode, int solvers,
                         String dataFingerprint, long steps, long version, double[] theta, String optimizer,
                         long optimizerK, double[] adamM, double[] adamV, long samplerEpoch, int samplerIndex,
                         long samplerSeed, int samplerConsumed, long nextWorkId, int[] pendingSamples,
                         long computations, long hypergradients, double seconds, Double validationPsnr,
                         List<WarmStartFile> warmStarts, Map<String, Long> counters) {

    public static final String FORMAT = "bilevel-checkpoint";
    public static final int FORMAT_VERSION = 1;

    /** One solver's warm-start file: name relative to the checkpoint folder, and its digest. */
    public record WarmStartFile(String file, String digest) {
    }

    public Checkpoint {
        theta = theta.clone();
        adamM = adamM == null ? null : adamM.clone();
        adamV = adamV == null ? null : adamV.clone();
        pendingSamples = pendingSamples == null ? new int[0] : pendingSamples.clone();
        warmStarts = warmStarts == null ? List.of() : List.copyOf(warmStarts);
        counters = counters == null ? Map.of() : Map.copyOf(counters);
    }

    @Override
    public double[] theta() {
        return theta.clone();
    }

    @Override
    public int[] pendingSamples() {
        return pendingSamples.clone();
    }

    /** The upper-level state stored here. */
    public UpperLevelStepper.State upperLevel() {
        UpperOptimizer.State s = switch (optimizer) {
            case "sgd" -> new Sgd.State(optimizerK);
            case "adam" -> new Adam.State(optimizerK, adamM, adamV);
            default -> throw new IllegalStateException("unknown optimizer '" + optimizer + "' in checkpoint");
        };
        return new UpperLevelStepper.State(theta, s, version);
    }

    /**
     * This checkpoint with its model grown into a larger one of the same family ({@link
     * bilevel.numerics.regularizers.Regularizer#embed}): θ embedded (the same regularizer, new parameters at
     * their initial values), and the optimizer's per-parameter state following θ — Adam's moments m and v
     * copied to where their parameters went. A new parameter gets m = 0 and v = the median of the copied v:
     * Adam's bias correction divides by 1 − β₂^k with the run's step count k, so a zero v (as a fresh
     * parameter's) would make its first steps several times α (measured: a 7×7 → 9×9 growth at k = 616 lost
     * 0.6 dB validation PSNR in 34 steps); the median is the typical second moment of the model's parameters.
     * Step counts, the sampler position and the warm starts (iterates x, independent of θ's layout) stay.
     *
     * @throws IllegalArgumentException when {@code to} cannot hold {@code from}, or θ is not {@code from}'s
     */
    public Checkpoint grown(bilevel.numerics.regularizers.Regularizer from, bilevel.numerics.regularizers.Regularizer to,
                            long seed) {
        if (theta.length != from.numParams()) {
            throw new IllegalArgumentException("the checkpoint holds " + theta.length + " parameters, not "
                    + from.numParams());
        }
        int[] map = to.embedding(from).orElseThrow(() -> new IllegalArgumentException("a " + from.type() + " model with "
                + from.numParams() + " parameters cannot grow into one with " + to.numParams()));
        double[] t = to.embed(from, theta, seed).orElseThrow();
        double[] m = null;
        double[] v = null;
        if (adamM != null) {
            m = new double[to.numParams()];
            v = new double[to.numParams()];
            double[] sorted = adamV.clone();
            java.util.Arrays.sort(sorted);
            int n = sorted.length;
            double median = n == 0 ? 0.0 : n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
            java.util.Arrays.fill(v, median);
            for (int i = 0; i < map.length; i++) {
                m[map[i]] = adamM[i];
                v[map[i]] = adamV[i];
            }
        }
        return new Checkpoint(format, formatVersion, sequence, mode, solvers, dataFingerprint, steps, version, t, optimizer,
                optimizerK, m, v, samplerEpoch, samplerIndex, samplerSeed, samplerConsumed, nextWorkId, pendingSamples,
                computations, hypergradients, seconds, validationPsnr, warmStarts, counters);
    }

    /** This checkpoint under another sequence number. */
    public Checkpoint withSequence(long n) {
        return new Checkpoint(format, formatVersion, n, mode, solvers, dataFingerprint, steps, version, theta, optimizer,
                optimizerK, adamM, adamV, samplerEpoch, samplerIndex, samplerSeed, samplerConsumed, nextWorkId,
                pendingSamples, computations, hypergradients, seconds, validationPsnr, warmStarts, counters);
    }

    /** The sampler position of the current batch. */
    public MinibatchSampler.Position samplerPosition() {
        return new MinibatchSampler.Position(samplerEpoch, samplerIndex, samplerSeed);
    }

    /** "sgd"/"adam", k, m, v of an optimizer state. */
    static Object[] optimizerFields(UpperOptimizer.State s) {
        if (s instanceof Sgd.State sgd) {
            return new Object[]{"sgd", sgd.k(), null, null};
        }
        if (s instanceof Adam.State adam) {
            return new Object[]{"adam", adam.k(), adam.m(), adam.v()};
        }
        throw new IllegalArgumentException("unknown optimizer state " + s);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Checkpoint c && sequence == c.sequence && steps == c.steps && version == c.version
                && Arrays.equals(theta, c.theta) && Objects.equals(optimizer, c.optimizer) && optimizerK == c.optimizerK
                && Arrays.equals(adamM, c.adamM) && Arrays.equals(adamV, c.adamV) && samplerEpoch == c.samplerEpoch
                && samplerIndex == c.samplerIndex && samplerSeed == c.samplerSeed && samplerConsumed == c.samplerConsumed
                && nextWorkId == c.nextWorkId && Arrays.equals(pendingSamples, c.pendingSamples)
                && computations == c.computations && hypergradients == c.hypergradients
                && Double.compare(seconds, c.seconds) == 0 && Objects.equals(validationPsnr, c.validationPsnr)
                && Objects.equals(warmStarts, c.warmStarts) && Objects.equals(counters, c.counters)
                && Objects.equals(mode, c.mode) && solvers == c.solvers && Objects.equals(dataFingerprint, c.dataFingerprint)
                && Objects.equals(format, c.format) && formatVersion == c.formatVersion;
    }

    @Override
    public int hashCode() {
        return Objects.hash(sequence, steps, version, Arrays.hashCode(theta));
    }

    @Override
    public String toString() {
        return "Checkpoint[sequence=" + sequence + ", steps=" + steps + ", version=" + version + ", computations="
                + computations + "]";
    }
}
