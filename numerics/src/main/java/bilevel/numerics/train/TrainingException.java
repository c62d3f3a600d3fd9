package bilevel.numerics.train;

/** Bad input to a training run (missing or unreadable data, inconsistent sizes, bad model file). One-line message. */
public final class TrainingException extends RuntimeException {
    public TrainingException(String message) {
        super(message);
    }

    public TrainingException(String message, Throwable cause) {
        super(message, cause);
    }
}
