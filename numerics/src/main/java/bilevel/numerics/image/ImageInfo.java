package bilevel.numerics.image;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.SampleModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * What an image file holds (format, colour, sample type), read from its header without decoding the
 * pixels, so that tools can tell a user how {@link Images#read} converted it.
 *
 * @param format        "PNG", "JPEG" or "TIFF" (or the decoder's name for other formats)
 * @param width         pixels
 * @param height        pixels
 * @param colorBands    1 for gray, 3 for RGB (palette images: 3)
 * @param alpha         whether the file has an alpha band (ignored by {@link Images#read})
 * @param palette       whether the file is a palette (indexed-colour) image
 * @param grayPalette   for palette images: whether every palette entry is gray (R = G = B)
 * @param bitsPerSample bits of the first band's samples (palette images: 8, the palette's depth)
 * @param floating      whether samples are floating point
 */
public record ImageInfo(String format, int width, int height, int colorBands, boolean alpha, boolean palette,
                        boolean grayPalette, int bitsPerSample, boolean floating) {

    /** Reads the header of {@code file}; an {@link ImageException} (one line) when it cannot. */
    public static ImageInfo of(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new ImageException("Cannot read image " + file + ": cannot open the file");
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new ImageException("Cannot read image " + file + ": not a PNG, JPEG or TIFF image");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                String name = reader.getFormatName().toUpperCase(Locale.ROOT);
                String format = name.startsWith("TIF") ? "TIFF" : name;
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
                ImageTypeSpecifier type = types != null && types.hasNext() ? types.next() : reader.getRawImageType(0);
                if (type == null) {
                    throw new ImageException("Cannot read image " + file + ": unknown image type");
                }
                ColorModel cm = type.getColorModel();
                SampleModel sm = type.getSampleModel();
                boolean floating = sm.getDataType() == DataBuffer.TYPE_FLOAT || sm.getDataType() == DataBuffer.TYPE_DOUBLE;
                if (cm instanceof IndexColorModel p) {
                    boolean gray = true;
                    for (int i = 0; i < p.getMapSize(); i++) {
                        gray &= p.getRed(i) == p.getGreen(i) && p.getGreen(i) == p.getBlue(i);
                    }
                    return new ImageInfo(format, w, h, 3, p.hasAlpha(), true, gray, 8, false);
                }
                return new ImageInfo(format, w, h, cm.getNumColorComponents(), cm.hasAlpha(), false, false, sm.getSampleSize(0), floating);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ImageException ie) {
                throw ie;
            }
            throw new ImageException("Cannot read image " + file + ": " + e.getMessage(), e);
        }
    }

    /** True for a plain 8-bit gray image without alpha (read without any conversion but the scaling k/255). */
    public boolean plainGray8() {
        return !palette && colorBands == 1 && !alpha && !floating && bitsPerSample == 8;
    }

    /**
     * How {@link Images#read} turns this file into gray values in [0, 1], or "" for a plain 8-bit gray
     * image, e.g. "RGB colour converted to gray by luma Y = 0.299 R + 0.587 G + 0.114 B; alpha ignored".
     */
    public String conversion() {
        List<String> parts = new ArrayList<>();
        if (palette) {
            parts.add(grayPalette ? "gray palette image, palette values scaled by 1/255"
                    : "palette colours converted to gray by luma Y = 0.299 R + 0.587 G + 0.114 B");
        } else if (colorBands == 3) {
            parts.add("RGB colour converted to gray by luma Y = 0.299 R + 0.587 G + 0.114 B");
        }
        if (!palette) {
            if (floating) {
                parts.add(bitsPerSample + "-bit floating-point samples used as they are (not rescaled)");
            } else if (bitsPerSample != 8) {
                parts.add(bitsPerSample + "-bit samples scaled to [0, 1] by 1/" + ((1L << bitsPerSample) - 1));
            }
        }
        if (alpha) {
            parts.add("alpha channel ignored");
        }
        return String.join("; ", parts);
    }
}
