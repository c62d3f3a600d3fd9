package bilevel.numerics.data;

/**
 * Deterministic seed derivation, so that independent streams (crop positions, noise, epoch shuffles)
 * are reproducible across runs, JVMs and machines.
 *
 * <p>{@link #mix64} is the SplitMix64 finaliser (Steele, Lea &amp; Flood 2014), a bijection on 64-bit
 * integers with good avalanche. {@link #derive}(seed, p1, …, pn) is
 * h₀ = mix64(seed), h_i = mix64(h_{i−1} + GAMMA · mix64(p_i + GAMMA)), GAMMA = 0x9E3779B97F4A7C15
 * (wrapping arithmetic); it is order-sensitive. This definition is part of the data format: changing
 * it changes every crop plan and noise realisation.
 */
public final class Seeds {
    /** The golden-ratio increment of SplitMix64. */
    public static final long GAMMA = 0x9E3779B97F4A7C15L;

    private Seeds() {
    }

    /** SplitMix64 finaliser. */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A seed derived from {@code seed} and the given path of integers (see the class comment). */
    public static long derive(long seed, long... path) {
        long h = mix64(seed);
        for (long p : path) {
            h = mix64(h + GAMMA * mix64(p + GAMMA));
        }
        return h;
    }
}
