package bilevel.numerics.data;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Epoch-ordered minibatches over the samples of a {@link CropPlan}, as a pure function of an explicit
 * {@link Position}, so that training resumes exactly from a checkpointed position.
 *
 * <p>Epoch e visits the N samples in the order π_e, a Fisher–Yates shuffle of 0..N−1 driven by
 * {@code SplittableRandom(Seeds.derive(seed, TAG_SHUFFLE, e))}. Batches are consecutive runs of
 * π_e of length B; they never straddle epochs, so the last batch of an epoch has N mod B samples
 * when B does not divide N. Every sample appears exactly once per epoch.
 *
 * <p>Immutable and thread-safe (the last permutation is cached in an immutable holder).
 */
public final class MinibatchSampler {
    /** Stream tag for epoch shuffles in {@link Seeds#derive}. */
    public static final long TAG_SHUFFLE = 3;

    /**
     * Where the sampler is: the next batch starts at entry {@code index} of epoch {@code epoch}'s
     * order, shuffled with {@code seed}. Serialised field layout (stable): epoch (long ≥ 0),
     * index (int ≥ 0; index = N is read as the start of the next epoch), seed (long).
     */
    public record Position(long epoch, int index, long seed) {
        public Position {
            if (epoch < 0 || index < 0) {
                throw new IllegalArgumentException("epoch and index must be >= 0, got " + epoch + ", " + index);
            }
        }
    }

    /**
     * One minibatch.
     *
     * @param epoch   the epoch it belongs to
     * @param indices sample indices into the plan (copied)
     * @param samples the corresponding samples
     * @param next    the position after this batch
     */
    public record Batch(long epoch, int[] indices, List<CropPlan.Sample> samples, Position next) {
        public Batch {
            indices = indices.clone();
            samples = List.copyOf(samples);
            Objects.requireNonNull(next, "next");
        }

        @Override
        public int[] indices() {
            return indices.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Batch b && epoch == b.epoch && Arrays.equals(indices, b.indices)
                    && samples.equals(b.samples) && next.equals(b.next);
        }

        @Override
        public int hashCode() {
            return Objects.hash(epoch, Arrays.hashCode(indices), samples, next);
        }

        @Override
        public String toString() {
            return "Batch[epoch=" + epoch + ", indices=" + Arrays.toString(indices) + ", next=" + next + "]";
        }
    }

    private record CachedOrder(long seed, long epoch, int[] order) {
    }

    private final CropPlan plan;
    private final int batchSize;
    private volatile CachedOrder cache;

    /**
     * @param plan      the samples
     * @param batchSize B ≥ 1 (batches of an epoch's tail may be smaller)
     */
    public MinibatchSampler(CropPlan plan, int batchSize) {
        this.plan = Objects.requireNonNull(plan, "plan");
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        this.batchSize = batchSize;
    }

    public CropPlan plan() {
        return plan;
    }

    public int batchSize() {
        return batchSize;
    }

    /** ⌈N / B⌉. */
    public int batchesPerEpoch() {
        return (plan.size() + batchSize - 1) / batchSize;
    }

    /** The position before the first batch of epoch 0. */
    public Position start(long seed) {
        return new Position(0, 0, seed);
    }

    /** π_e: the visiting order of epoch {@code epoch} for {@code seed} (a new array). */
    public int[] order(long seed, long epoch) {
        return cachedOrder(seed, epoch).clone();
    }

    /**
     * The batch at {@code position} and the position after it. Modifies nothing.
     *
     * @throws IllegalArgumentException if position.index() &gt; N
     */
    public Batch next(Position position) {
        int n = plan.size();
        if (position.index() > n) {
            throw new IllegalArgumentException("position index " + position.index() + " exceeds " + n + " samples");
        }
        long epoch = position.epoch();
        int start = position.index();
        if (start == n) {
            epoch = Math.addExact(epoch, 1);
            start = 0;
        }
        int[] order = cachedOrder(position.seed(), epoch);
        int end = Math.min(n, start + batchSize);
        int[] indices = Arrays.copyOfRange(order, start, end);
        CropPlan.Sample[] samples = new CropPlan.Sample[indices.length];
        for (int i = 0; i < indices.length; i++) {
            samples[i] = plan.sample(indices[i]);
        }
        Position next = end == n ? new Position(epoch + 1, 0, position.seed()) : new Position(epoch, end, position.seed());
        return new Batch(epoch, indices, List.of(samples), next);
    }

    private int[] cachedOrder(long seed, long epoch) {
        CachedOrder c = cache;
        if (c != null && c.seed() == seed && c.epoch() == epoch) {
            return c.order();
        }
        int n = plan.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        SplittableRandom g = new SplittableRandom(Seeds.derive(seed, TAG_SHUFFLE, epoch));
        for (int i = n - 1; i > 0; i--) {
            int j = g.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        cache = new CachedOrder(seed, epoch, order);
        return order;
    }
}
