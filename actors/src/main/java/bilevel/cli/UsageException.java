package bilevel.cli;

/**
 * Bad input detected after parsing (a missing file, an invalid configuration value): reported as one
 * line on stderr, without a stack trace, and exit code {@value Main#EXIT_USAGE}. Anything else thrown by a
 * subcommand is an internal error (exit code {@value Main#EXIT_INTERNAL}).
 */
public class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }

    public UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
