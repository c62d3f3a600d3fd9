package bilevel.numerics.image;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;

/**
 * Reading and writing gray images as [H, W] ND4J arrays with values scaled to [0, 1].
 *
 * <h2>Reading</h2>
 * PNG, JPEG and TIFF files are decoded with {@link ImageIO} and their <em>raster samples</em> are used
 * directly (never {@code BufferedImage.getRGB}, whose colour-space conversion changes gray values):
 * <ul>
 *   <li>integer samples of b bits (8-bit, 16-bit, and 1/2/4-bit packed) are divided by 2^b − 1, so
 *       8-bit values become k/255 and 16-bit values k/65535;</li>
 *   <li>32-bit (and 64-bit) floating-point TIFF samples are taken as they are (not rescaled, not
 *       clipped); a NaN or infinite sample is an error;</li>
 *   <li>colour images (3 colour bands, with or without a 4th alpha band) become gray by ITU-R BT.601
 *       luma, Y = 0.299 R + 0.587 G + 0.114 B, applied to the scaled raster samples; the alpha band
 *       (also of gray + alpha images) is ignored;</li>
 *   <li>palette images use the palette's 8-bit R, G, B entries: a gray entry (R = G = B) gives R/255,
 *       a colour entry its luma.</li>
 * </ul>
 * Only the first image of a multi-image file is read. PNG files are also checked structurally (chunk
 * list complete up to IEND, every CRC-32 correct), which ImageIO does not do. Every failure — missing or unreadable file,
 * unrecognised, corrupt or truncated data (including data the decoder merely warns about, such as a
 * JPEG that ends prematurely), unsupported sample type or colour space, an empty image, or more than
 * {@value #MAX_PIXELS} pixels — throws an {@link ImageException} whose message is one line naming
 * the file and the reason.
 *
 * <h2>Writing</h2>
 * The format follows the file extension: {@code .png}, {@code .jpg}/{@code .jpeg}, {@code .tif}/{@code .tiff}
 * (case-insensitive). PNG and JPEG files are 8-bit gray: values are clipped to [0, 1] and rounded to
 * the nearest k/255 (JPEG is additionally lossy; it is written at quality {@value #JPEG_QUALITY}).
 * TIFF files hold one 32-bit IEEE float sample per pixel, uncompressed: FLOAT arrays are stored
 * exactly, DOUBLE arrays are rounded to float; values are not clipped. A file is written to a
 * temporary file in the target directory, forced to disk and then moved over the target with
 * {@link StandardCopyOption#ATOMIC_MOVE}, so the target is never left half-written.
 */
public final class Images {

    /** Largest number of pixels a file may declare (guards against corrupt headers). */
    public static final long MAX_PIXELS = 1L << 27;

    /** JPEG quality used by {@link #write}. */
    public static final float JPEG_QUALITY = 0.95f;

    private static final double LUMA_R = 0.299;
    private static final double LUMA_G = 0.587;
    private static final double LUMA_B = 0.114;

    private Images() {
    }

    // ------------------------------------------------------------------------------------------ read

    /**
     * Reads a gray image as a new [H, W] array of the given type (FLOAT or DOUBLE), scaled as described
     * in the class comment.
     *
     * @throws ImageException           if the file cannot be read as a supported image
     * @throws IllegalArgumentException if {@code dataType} is neither FLOAT nor DOUBLE
     */
    public static INDArray read(Path file, DataType dataType) {
        Arrays2d.requireFloatingType(dataType);
        if (file == null) {
            throw new IllegalArgumentException("file is null");
        }
        double[] gray;
        int height;
        int width;
        if (!Files.exists(file)) {
            throw readError(file, "file not found");
        }
        if (Files.isDirectory(file)) {
            throw readError(file, "is a directory, not an image file");
        }
        if (!Files.isReadable(file)) {
            throw readError(file, "file is not readable (permission denied)");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw readError(file, "cannot open the file");
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw readError(file, "not a PNG, JPEG or TIFF image (unrecognised or empty content)");
            }
            ImageReader reader = readers.next();
            try {
                String format = reader.getFormatName().toLowerCase(Locale.ROOT);
                String shown = format.startsWith("tif") ? "TIFF" : format.toUpperCase(Locale.ROOT);
                if (!(format.equals("png") || format.equals("jpeg") || format.equals("tif") || format.equals("tiff"))) {
                    throw readError(file, "unsupported image format " + reader.getFormatName().toUpperCase(Locale.ROOT)
                            + " (supported: PNG, JPEG, TIFF)");
                }
                if (format.equals("png")) {
                    checkPngChunks(file);
                }
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                reader.setInput(in, true, true);
                BufferedImage image;
                try {
                    width = reader.getWidth(0);
                    height = reader.getHeight(0);
                    if (width <= 0 || height <= 0) {
                        throw readError(file, "empty image (" + width + "×" + height + " pixels)");
                    }
                    if ((long) width * height > MAX_PIXELS) {
                        throw readError(file, "image too large (" + width + "×" + height + " pixels, at most "
                                + MAX_PIXELS + ")");
                    }
                    image = reader.read(0);
                } catch (ImageException e) {
                    throw e;
                } catch (IOException | RuntimeException e) {
                    throw readError(file, "corrupt or truncated " + shown + " data ("
                            + describe(e) + ")", e);
                }
                if (!warnings.isEmpty()) {
                    throw readError(file, "corrupt or truncated " + shown
                            + " data (decoder warning: " + warnings.get(0) + ")");
                }
                if (image == null || image.getWidth() <= 0 || image.getHeight() <= 0) {
                    throw readError(file, "empty image");
                }
                width = image.getWidth();
                height = image.getHeight();
                gray = toGray(file, image);
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            throw readError(file, describe(e), e);
        }
        return Arrays2d.fromDoubles(gray, height, width, dataType);
    }

    /**
     * Walks the PNG chunk list (length, type, data, CRC-32) up to IEND and verifies every CRC, since
     * ImageIO's PNG decoder neither requires IEND nor checks CRCs: a file cut inside its last chunks or
     * with damaged bytes would otherwise decode without complaint.
     */
    private static void checkPngChunks(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            long pos = 8;   // after the signature, which the reader has already recognised
            ByteBuffer header = ByteBuffer.allocate(8);
            ByteBuffer block = ByteBuffer.allocate(1 << 16);
            ByteBuffer stored = ByteBuffer.allocate(4);
            CRC32 crc = new CRC32();
            while (true) {
                if (pos + 12 > size) {
                    throw readError(file, "truncated PNG file (it ends before the IEND chunk)");
                }
                header.clear();
                readFully(ch, header, pos);
                long length = Integer.toUnsignedLong(header.getInt(0));
                byte[] typeBytes = new byte[4];
                header.get(4, typeBytes);
                String type = new String(typeBytes, StandardCharsets.ISO_8859_1);
                if (length > size - pos - 12) {
                    throw readError(file, "truncated PNG file (chunk " + printable(type) + " of " + length
                            + " bytes extends past the end of the file)");
                }
                crc.reset();
                crc.update(typeBytes);
                long remaining = length;
                long at = pos + 8;
                while (remaining > 0) {
                    block.clear();
                    block.limit((int) Math.min(block.capacity(), remaining));
                    readFully(ch, block, at);
                    block.flip();
                    crc.update(block);
                    at += block.limit();
                    remaining -= block.limit();
                }
                stored.clear();
                readFully(ch, stored, pos + 8 + length);
                if (Integer.toUnsignedLong(stored.getInt(0)) != crc.getValue()) {
                    throw readError(file, "corrupt PNG data (CRC mismatch in chunk " + printable(type) + ")");
                }
                pos += 12 + length;
                if (type.equals("IEND")) {
                    return;
                }
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, p);
            if (n < 0) {
                throw new java.io.EOFException();
            }
            p += n;
        }
    }

    private static String printable(String chunkType) {
        return chunkType.chars().allMatch(c -> c >= 'A' && c <= 'z') ? chunkType : "with a non-ASCII type";
    }

    /** Gray values (row-major) of a decoded image, from its raster samples. */
    private static double[] toGray(Path file, BufferedImage image) {
        Raster raster = image.getRaster();
        ColorModel cm = image.getColorModel();
        SampleModel sm = raster.getSampleModel();
        int w = raster.getWidth();
        int h = raster.getHeight();
        int x0 = raster.getMinX();
        int y0 = raster.getMinY();
        int n = w * h;
        int dataType = sm.getDataType();

        if (cm instanceof IndexColorModel palette) {
            int size = palette.getMapSize();
            double[] entry = new double[size];
            for (int i = 0; i < size; i++) {
                int r = palette.getRed(i);
                int g = palette.getGreen(i);
                int b = palette.getBlue(i);
                entry[i] = (r == g && g == b) ? r / 255.0 : (LUMA_R * r + LUMA_G * g + LUMA_B * b) / 255.0;
            }
            int[] idx = raster.getSamples(x0, y0, w, h, 0, (int[]) null);
            double[] gray = new double[n];
            for (int i = 0; i < n; i++) {
                int k = idx[i];
                if (k < 0 || k >= size) {
                    throw readError(file, "corrupt palette image (index " + k + " outside the palette)");
                }
                gray[i] = entry[k];
            }
            return gray;
        }

        int colorBands = cm.getNumColorComponents();
        int csType = cm.getColorSpace().getType();
        boolean grayImage = csType == ColorSpace.TYPE_GRAY && colorBands == 1;
        boolean rgbImage = csType == ColorSpace.TYPE_RGB && colorBands == 3;
        if (!grayImage && !rgbImage) {
            throw readError(file, "unsupported colour model (" + colorBands + " colour band(s) in colour space type "
                    + csType + "; supported: gray, RGB)");
        }
        if (raster.getNumBands() < colorBands) {
            throw readError(file, "unsupported raster layout (" + raster.getNumBands() + " bands for "
                    + colorBands + " colour components)");
        }
        boolean floating;
        switch (dataType) {
            case DataBuffer.TYPE_BYTE, DataBuffer.TYPE_USHORT, DataBuffer.TYPE_INT -> floating = false;
            case DataBuffer.TYPE_FLOAT, DataBuffer.TYPE_DOUBLE -> floating = true;
            default -> throw readError(file, "unsupported sample type " + dataTypeName(dataType)
                    + " (supported: 1–16-bit unsigned integer, 32/64-bit float)");
        }
        double[][] band = new double[colorBands][];
        for (int c = 0; c < colorBands; c++) {
            double[] s = raster.getSamples(x0, y0, w, h, c, (double[]) null);
            if (floating) {
                for (int i = 0; i < n; i++) {
                    if (!Double.isFinite(s[i])) {
                        throw readError(file, "sample " + s[i] + " at pixel (row " + (i / w) + ", column " + (i % w)
                                + ") is not a finite number");
                    }
                }
            } else {
                int bits = sm.getSampleSize(c);
                if (bits < 1 || bits > 16) {
                    throw readError(file, "unsupported sample type (" + bits + "-bit unsigned integer; supported: "
                            + "1–16-bit unsigned integer, 32/64-bit float)");
                }
                double max = (1 << bits) - 1;
                for (int i = 0; i < n; i++) {
                    s[i] /= max;
                }
            }
            band[c] = s;
        }
        if (grayImage) {
            return band[0];
        }
        double[] gray = new double[n];
        double[] r = band[0];
        double[] g = band[1];
        double[] b = band[2];
        for (int i = 0; i < n; i++) {
            gray[i] = LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
        }
        return gray;
    }

    // ----------------------------------------------------------------------------------------- write

    /**
     * Writes {@code image} (rank 2, [H, W], finite values) to {@code file} in the format given by its
     * extension, atomically (see the class comment). {@code image} is not modified.
     *
     * @throws IllegalArgumentException if {@code image} is not a non-empty rank-2 array of finite values
     * @throws ImageException           if the extension is not supported or the file cannot be written
     */
    public static void write(Path file, INDArray image) {
        if (file == null) {
            throw new IllegalArgumentException("file is null");
        }
        int[] hw = Arrays2d.shape2d(image, "image");
        int h = hw[0];
        int w = hw[1];
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String ext = dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
        String format = switch (ext) {
            case "png" -> "png";
            case "jpg", "jpeg" -> "jpeg";
            case "tif", "tiff" -> "tiff";
            default -> throw writeError(file, "unsupported file extension '" + (dot < 0 ? "" : name.substring(dot))
                    + "' (use .png, .jpg, .jpeg, .tif or .tiff)");
        };
        double[] values = Arrays2d.toDoubles(image);
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new IllegalArgumentException("cannot write " + file + ": value " + values[i] + " at (row "
                        + (i / w) + ", column " + (i % w) + ") is not finite");
            }
        }
        BufferedImage buffered = format.equals("tiff") ? floatImage(values, h, w) : byteImage(values, h, w);
        byte[] encoded = encode(file, buffered, format);
        writeAtomically(file, encoded);
    }

    /** 8-bit gray image: round(clip(v, 0, 1)·255). */
    private static BufferedImage byteImage(double[] values, int h, int w) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        int[] samples = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            double v = Math.min(1.0, Math.max(0.0, values[i]));
            samples[i] = (int) Math.round(v * 255.0);
        }
        img.getRaster().setSamples(0, 0, w, h, 0, samples);
        return img;
    }

    /** One-band 32-bit float gray image. */
    private static BufferedImage floatImage(double[] values, int h, int w) {
        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), false, false,
                Transparency.OPAQUE, DataBuffer.TYPE_FLOAT);
        WritableRaster raster = cm.createCompatibleWritableRaster(w, h);
        float[] samples = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            samples[i] = (float) values[i];
        }
        raster.setSamples(0, 0, w, h, 0, samples);
        return new BufferedImage(cm, raster, false, null);
    }

    private static byte[] encode(Path file, BufferedImage image, String format) {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName(format);
        if (!writers.hasNext()) {
            throw writeError(file, "this Java runtime has no ImageIO writer for " + format.toUpperCase(Locale.ROOT));
        }
        ImageWriter writer = writers.next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bytes)) {
            writer.setOutput(out);
            ImageWriteParam param = writer.getDefaultWriteParam();
            if (format.equals("jpeg")) {
                param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                param.setCompressionQuality(JPEG_QUALITY);
            }
            writer.write(null, new IIOImage(image, null, null), param);
            out.flush();
        } catch (IOException | RuntimeException e) {
            throw writeError(file, "encoding " + format.toUpperCase(Locale.ROOT) + " failed (" + describe(e) + ")", e);
        } finally {
            writer.dispose();
        }
        return bytes.toByteArray();
    }

    private static void writeAtomically(Path file, byte[] content) {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = null;
        try {
            if (dir != null && !Files.isDirectory(dir)) {
                throw writeError(file, "directory " + dir + " does not exist");
            }
            tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
        } catch (IOException e) {
            throw writeError(file, describe(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary file is hidden and named after the target
                }
            }
        }
    }

    // --------------------------------------------------------------------------------------- helpers

    private static ImageException readError(Path file, String reason) {
        return new ImageException("Cannot read image " + file + ": " + reason);
    }

    private static ImageException readError(Path file, String reason, Throwable cause) {
        return new ImageException("Cannot read image " + file + ": " + reason, cause);
    }

    private static ImageException writeError(Path file, String reason) {
        return new ImageException("Cannot write image " + file + ": " + reason);
    }

    private static ImageException writeError(Path file, String reason, Throwable cause) {
        return new ImageException("Cannot write image " + file + ": " + reason, cause);
    }

    /** "message; cause message" of an exception chain, or its class name when it has no message. */
    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 300; t = t.getCause()) {
            String msg = t.getMessage();
            String part = (msg == null || msg.isBlank()) ? t.getClass().getSimpleName() : msg;
            if (t instanceof java.nio.file.NoSuchFileException) {
                part = "no such file " + msg;
            } else if (t instanceof java.nio.file.AccessDeniedException) {
                part = "access denied " + msg;
            } else if (t instanceof java.io.EOFException) {
                part = "unexpected end of file";
            }
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append(part);
            if (t.getCause() == t) {
                break;
            }
        }
        return sb.toString();
    }

    private static String dataTypeName(int type) {
        return switch (type) {
            case DataBuffer.TYPE_SHORT -> "16-bit signed integer";
            case DataBuffer.TYPE_INT -> "32-bit integer";
            default -> "data buffer type " + type;
        };
    }
}
