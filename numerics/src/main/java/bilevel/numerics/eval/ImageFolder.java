package bilevel.numerics.eval;

import bilevel.numerics.image.ImageException;
import bilevel.numerics.image.ImageInfo;
import bilevel.numerics.image.Images;
import bilevel.numerics.image.Metrics;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Clean images for evaluation: every file of a folder with extension png, jpg, jpeg, tif or tiff
 * (case-insensitive; the rule of the training data), in name order, read as DOUBLE [H, W] arrays by
 * {@link Images#read} (colour converted by luma, samples scaled to [0, 1]; see there).
 *
 * <p>Clean images must hold values in [0, 1] (a floating-point TIFF is not rescaled, so one holding 0–255
 * values is refused) and be at least {@value Metrics#SSIM_WINDOW}×{@value Metrics#SSIM_WINDOW} pixels
 * (SSIM's window). Every problem is an {@link EvaluationException} with a one-line message, raised
 * before any image is processed.
 */
public final class ImageFolder {

    /**
     * @param name       file name
     * @param file       the file
     * @param image      the gray image (owned by the caller)
     * @param conversion how the file was converted ({@link ImageInfo#conversion()}; "" for 8-bit gray)
     */
    public record Entry(String name, Path file, INDArray image, String conversion) {
    }

    private ImageFolder() {
    }

    /** Whether the file name has an image extension. */
    public static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".tif") || n.endsWith(".tiff");
    }

    /** The image files of {@code folder} in name order. {@code what} names the folder in messages. */
    public static List<Path> list(Path folder, String what) {
        if (!Files.exists(folder)) {
            throw new EvaluationException(what + " folder not found: " + folder);
        }
        if (!Files.isDirectory(folder)) {
            throw new EvaluationException(what + " path is not a folder: " + folder);
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(folder)) {
            files = s.filter(p -> !Files.isDirectory(p)).filter(ImageFolder::isImage).sorted().toList();
        } catch (IOException e) {
            throw new EvaluationException("cannot list " + what + " folder " + folder + ": " + e.getMessage());
        }
        if (files.isEmpty()) {
            throw new EvaluationException(what + " folder " + folder + " contains no images (png, jpg, jpeg, tif, tiff)");
        }
        return files;
    }

    /** Lists and reads the clean images of {@code folder} (see the class comment); the caller closes the images. */
    public static List<Entry> load(Path folder, String what) {
        List<Entry> out = new ArrayList<>();
        try {
            for (Path f : list(folder, what)) {
                out.add(readClean(f));
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(en -> en.image().close());
            throw e;
        }
    }

    /** Reads one clean image and checks its range and size. */
    public static Entry readClean(Path f) {
        INDArray image;
        try {
            image = Images.read(f, DataType.DOUBLE);
        } catch (ImageException e) {
            throw new EvaluationException(e.getMessage(), e);
        }
        try {
            long h = image.size(0);
            long w = image.size(1);
            if (h < Metrics.SSIM_WINDOW || w < Metrics.SSIM_WINDOW) {
                throw new EvaluationException("image " + f + " is " + h + "x" + w + " pixels; evaluation needs at least "
                        + Metrics.SSIM_WINDOW + "x" + Metrics.SSIM_WINDOW + " (the SSIM window)");
            }
            double min = image.minNumber().doubleValue();
            double max = image.maxNumber().doubleValue();
            if (min < 0 || max > 1) {
                throw new EvaluationException(String.format(Locale.ROOT, "clean image %s has values in [%g, %g], outside "
                        + "[0, 1] (floating-point TIFF samples are not rescaled: store them in [0, 1])", f, min, max));
            }
            return new Entry(f.getFileName().toString(), f, image, conversion(f));
        } catch (RuntimeException e) {
            image.close();
            throw e;
        }
    }

    /** {@link ImageInfo#conversion()} of a file that {@link Images#read} accepted ("" if the header cannot be read). */
    public static String conversion(Path f) {
        try {
            return ImageInfo.of(f).conversion();
        } catch (ImageException e) {
            return "";
        }
    }
}
