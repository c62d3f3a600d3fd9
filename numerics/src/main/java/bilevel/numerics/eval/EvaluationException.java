package bilevel.numerics.eval;

/** Bad input to an evaluation (missing or unsuitable images, an unusable model): a one-line message for the user. */
public final class EvaluationException extends RuntimeException {
    public EvaluationException(String message) {
        super(oneLine(message));
    }

    public EvaluationException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s+", " ");
    }
}
