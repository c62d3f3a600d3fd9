package bilevel.actors;

import bilevel.numerics.train.UpperLevelStepper;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How the actor runtime runs a training (the {@code bilevel.runtime} section of the configuration).
 *
 * @param mode            synchronous (reproduces the reference trainer) or asynchronous
 * @param solvers         number of solver actors (≥ 1)
 * @param group           async: hypergradients averaged into one update (≥ 1)
 * @param staleness       async: weighting and rejection of stale hypergradients
 * @param refineEta       async: refine a hypergradient whose bound exceeds η‖z‖ (0 = never)
 * @param refineFactor    factor in (0, 1) applied to ε and δ by a refinement
 * @param maxRefinements  refinements per hypergradient at most
 * @param checkpointEvery checkpoint every N updates (0 = only at the end and on a signal)
 * @param workTimeout     a work item unanswered for this long goes to another solver
 * @param maxAttempts     failures of one sample before it is abandoned (≥ 1)
 * @param shutdownTimeout time for the last checkpoint on SIGTERM
 * @param validation      whether to compute validation PSNRs at all (benchmarks switch them off)
 * @param prefetch        work items a solver holds at most (1 = strict pulling; 2 = the next one waits in
 *                        its mailbox while it computes)
 */
public record RuntimeSpec(Mode mode, int solvers, int group, UpperLevelStepper.Staleness staleness, double refineEta,
                          double refineFactor, int maxRefinements, long checkpointEvery, Duration workTimeout,
                          int maxAttempts, Duration shutdownTimeout, boolean validation, int prefetch) {

    /** Runtime mode. */
    public enum Mode {
        SYNC, ASYNC;

        public static Mode parse(String s) {
            return switch (s.strip().toLowerCase(Locale.ROOT)) {
                case "sync" -> SYNC;
                case "async" -> ASYNC;
                default -> throw new IllegalArgumentException("runtime mode must be async or sync, got '" + s + "'");
            };
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public RuntimeSpec {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(staleness, "staleness");
        if (solvers < 1) {
            throw new IllegalArgumentException("runtime.solvers must be >= 1 (0 in the config = one per core), got " + solvers);
        }
        if (group < 1) {
            throw new IllegalArgumentException("runtime.group must be >= 1, got " + group);
        }
        if (!(refineEta >= 0) || !Double.isFinite(refineEta)) {
            throw new IllegalArgumentException("runtime.refine.eta must be >= 0, got " + refineEta);
        }
        if (!(refineFactor > 0 && refineFactor < 1)) {
            throw new IllegalArgumentException("runtime.refine.factor must be in (0, 1), got " + refineFactor);
        }
        if (maxRefinements < 0) {
            throw new IllegalArgumentException("runtime.refine.max must be >= 0, got " + maxRefinements);
        }
        if (checkpointEvery < 0) {
            throw new IllegalArgumentException("runtime.checkpoint-every must be >= 0, got " + checkpointEvery);
        }
        if (workTimeout.isNegative() || workTimeout.isZero()) {
            throw new IllegalArgumentException("runtime.work-timeout must be positive, got " + workTimeout);
        }
        if (prefetch < 1) {
            throw new IllegalArgumentException("runtime.prefetch must be >= 1, got " + prefetch);
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("runtime.max-attempts must be >= 1, got " + maxAttempts);
        }
    }

    public RuntimeSpec withMode(Mode m) {
        return new RuntimeSpec(m, solvers, group, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                workTimeout, maxAttempts, shutdownTimeout, validation, prefetch);
    }

    public RuntimeSpec withSolvers(int n) {
        return new RuntimeSpec(mode, n, group, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                workTimeout, maxAttempts, shutdownTimeout, validation, prefetch);
    }

    public RuntimeSpec withCheckpointEvery(long n) {
        return new RuntimeSpec(mode, solvers, group, staleness, refineEta, refineFactor, maxRefinements, n,
                workTimeout, maxAttempts, shutdownTimeout, validation, prefetch);
    }

    public RuntimeSpec withValidation(boolean v) {
        return new RuntimeSpec(mode, solvers, group, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                workTimeout, maxAttempts, shutdownTimeout, v, prefetch);
    }

    public RuntimeSpec withGroup(int g) {
        return new RuntimeSpec(mode, solvers, g, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                workTimeout, maxAttempts, shutdownTimeout, validation, prefetch);
    }

    public RuntimeSpec withRefine(double eta, double factor, int max) {
        return new RuntimeSpec(mode, solvers, group, staleness, eta, factor, max, checkpointEvery, workTimeout,
                maxAttempts, shutdownTimeout, validation, prefetch);
    }

    public RuntimeSpec withPrefetch(int p) {
        return new RuntimeSpec(mode, solvers, group, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                workTimeout, maxAttempts, shutdownTimeout, validation, p);
    }

    public RuntimeSpec withWorkTimeout(Duration t) {
        return new RuntimeSpec(mode, solvers, group, staleness, refineEta, refineFactor, maxRefinements, checkpointEvery,
                t, maxAttempts, shutdownTimeout, validation, prefetch);
    }
}
