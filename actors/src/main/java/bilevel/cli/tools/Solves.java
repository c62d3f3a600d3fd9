package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.eval.Evaluator;

import java.util.function.Supplier;

/** Turns the ways a reconstruction can fail on user input into one-line usage errors. */
final class Solves {
    private Solves() {
    }

    /**
     * Runs a solve; the lower level's "not strongly convex" rejection (λ_min(AᵀA) + m_R + μ = 0, e.g. TV
     * with inpainting and μ = 0) becomes a usage error suggesting --mu.
     */
    static <T> T guard(Supplier<T> solve) {
        try {
            return solve.get();
        } catch (IllegalArgumentException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("not strongly convex")) {
                throw new UsageException("the reconstruction problem is not strongly convex for this model and operator ("
                        + m + "); give --mu with a positive value, e.g. --mu 1e-4", e);
            }
            throw e;
        }
    }

    /** A reconstruction that is not finite means the model does not fit the problem (e.g. θ far out of range). */
    static void requireFinite(Evaluator.Outcome o, String image, String method) {
        if (!Double.isFinite(o.psnr()) && !(o.psnr() == Double.POSITIVE_INFINITY)) {
            throw new UsageException("the " + method + " reconstruction of " + image
                    + " is not finite (the solver diverged: are the model's parameters in range?)");
        }
        if (Double.isNaN(o.solve().distanceBound()) || o.solve().distanceBound() == Double.POSITIVE_INFINITY) {
            throw new UsageException("the " + method + " reconstruction of " + image
                    + " failed (a non-finite value occurred in the solver: are the model's parameters in range?)");
        }
    }

    /** Same check for a bare solve. */
    static void requireFinite(Evaluator.Solve s, String image) {
        if (Double.isNaN(s.distanceBound()) || s.distanceBound() == Double.POSITIVE_INFINITY) {
            throw new UsageException("the reconstruction of " + image
                    + " failed (a non-finite value occurred in the solver: are the model's parameters in range?)");
        }
    }
}
