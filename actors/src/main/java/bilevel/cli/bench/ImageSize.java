package bilevel.cli.bench;

import picocli.CommandLine;

import java.util.Locale;

/**
 * An image size H×W given on the command line as "N" (square) or "HxW".
 *
 * @param height rows, ≥ 1
 * @param width  columns, ≥ 1
 */
public record ImageSize(int height, int width) {
    public ImageSize {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + height + "x" + width);
        }
    }

    /** Parses "N" or "HxW" (also "H×W"). */
    public static ImageSize parse(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT).replace('×', 'x');
        int x = t.indexOf('x');
        try {
            if (x < 0) {
                int n = Integer.parseInt(t);
                return new ImageSize(n, n);
            }
            return new ImageSize(Integer.parseInt(t.substring(0, x)), Integer.parseInt(t.substring(x + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not N or HxW with positive integers");
        }
    }

    @Override
    public String toString() {
        return height + "x" + width;
    }

    /** picocli converter; its exceptions become one-line usage errors. */
    public static final class Converter implements CommandLine.ITypeConverter<ImageSize> {
        @Override
        public ImageSize convert(String value) {
            try {
                return parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }
}
