package bilevel.numerics.image;

/**
 * An image file could not be read or written. The message is a single line naming the file and the
 * reason, suitable for showing to a user as is.
 */
public final class ImageException extends RuntimeException {

    public ImageException(String message) {
        super(oneLine(message));
    }

    public ImageException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** Collapses every run of whitespace (including line breaks) into one space. */
    static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s+", " ");
    }
}
