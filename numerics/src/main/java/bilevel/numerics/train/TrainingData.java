package bilevel.numerics.train;

import bilevel.numerics.data.CropPlan;
import bilevel.numerics.data.DeadLeaves;
import bilevel.numerics.data.Seeds;
import bilevel.numerics.image.ImageException;
import bilevel.numerics.image.Images;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Training and validation images of a run, held in memory as [H, W] arrays in [0, 1], with the crop
 * plan of the training set and a fingerprint of the data.
 *
 * <p>"embedded" data are seeded synthetic dead-leaves images (no files needed). Folder data are all
 * files with extension png, jpg, jpeg, tif or tiff, in name order (optionally the first N).
 *
 * <p>The fingerprint is the SHA-256 of the images' names, sizes and pixel values (as IEEE doubles of
 * the [0, 1] values), so two nodes or two runs can check that they train on the same data.
 */
public final class TrainingData implements AutoCloseable {
    /** Seed stream tags for the embedded generator. */
    static final long TAG_EMBEDDED_TRAIN = 101;
    static final long TAG_EMBEDDED_VALIDATION = 102;

    private final List<String> trainNames;
    private final List<INDArray> train;
    private final List<String> validationNames;
    private final List<INDArray> validation;
    private final CropPlan plan;
    private final String fingerprint;

    private TrainingData(List<String> trainNames, List<INDArray> train, List<String> validationNames,
                         List<INDArray> validation, CropPlan plan, String fingerprint) {
        this.trainNames = List.copyOf(trainNames);
        this.train = List.copyOf(train);
        this.validationNames = List.copyOf(validationNames);
        this.validation = List.copyOf(validation);
        this.plan = plan;
        this.fingerprint = fingerprint;
    }

    /** Loads (or generates) the data described by {@code spec}. Throws {@link TrainingException} on bad data. */
    public static TrainingData load(TrainingSpec.DataSpec spec, long seed, DataType dataType) {
        List<String> trainNames = new ArrayList<>();
        List<INDArray> train = new ArrayList<>();
        List<String> valNames = new ArrayList<>();
        List<INDArray> val = new ArrayList<>();
        // read in double precision so the fingerprint does not depend on the run's data type
        DataType d = DataType.DOUBLE;
        if (spec.train().equals("embedded")) {
            generate(spec.embeddedTrainImages(), spec.embeddedSize(), seed, TAG_EMBEDDED_TRAIN, d, "train", trainNames, train);
        } else {
            read(Path.of(spec.train()), spec.maxTrainImages(), d, trainNames, train, "training");
        }
        if (spec.validation().equals("embedded")) {
            generate(spec.embeddedValidationImages(), spec.embeddedSize(), seed, TAG_EMBEDDED_VALIDATION, d,
                    "validation", valNames, val);
        } else {
            read(Path.of(spec.validation()), spec.maxValidationImages(), d, valNames, val, "validation");
        }
        String fingerprint = fingerprint(trainNames, train, valNames, val);
        if (dataType != DataType.DOUBLE) {
            train.replaceAll(a -> a.castTo(dataType));
            val.replaceAll(a -> a.castTo(dataType));
        }
        List<CropPlan.ImageSize> sizes = new ArrayList<>();
        for (int i = 0; i < train.size(); i++) {
            INDArray im = train.get(i);
            int h = (int) im.size(0), w = (int) im.size(1);
            if (h < spec.crop() || w < spec.crop()) {
                throw new TrainingException("training image " + trainNames.get(i) + " is " + h + "x" + w
                        + ", smaller than the crop size " + spec.crop());
            }
            sizes.add(new CropPlan.ImageSize(i, h, w));
        }
        CropPlan plan = CropPlan.create(sizes, spec.crop(), spec.cropsPerImage(), seed);
        return new TrainingData(trainNames, train, valNames, val, plan, fingerprint);
    }

    private static void generate(int count, int size, long seed, long tag, DataType dataType, String prefix,
                                 List<String> names, List<INDArray> images) {
        if (count < 1) {
            throw new TrainingException("the embedded " + prefix + " set needs at least one image, got " + count);
        }
        DeadLeaves generator = new DeadLeaves();
        for (int i = 0; i < count; i++) {
            names.add(String.format(Locale.ROOT, "deadleaves-%s-%03d", prefix, i));
            images.add(generator.generate(size, size, Seeds.derive(seed, tag, i), dataType));
        }
    }

    private static void read(Path folder, int max, DataType dataType, List<String> names, List<INDArray> images, String what) {
        if (!Files.isDirectory(folder)) {
            throw new TrainingException(what + " folder not found: " + folder);
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(folder)) {
            files = s.filter(Files::isRegularFile).filter(TrainingData::isImage).sorted().toList();
        } catch (IOException e) {
            throw new TrainingException("cannot list " + what + " folder " + folder + ": " + e.getMessage());
        }
        if (files.isEmpty()) {
            throw new TrainingException(what + " folder " + folder + " contains no images (png, jpg, jpeg, tif, tiff)");
        }
        if (max > 0 && files.size() > max) {
            files = files.subList(0, max);
        }
        for (Path f : files) {
            try {
                images.add(Images.read(f, dataType));
            } catch (ImageException e) {
                throw new TrainingException(e.getMessage(), e);
            }
            names.add(f.getFileName().toString());
        }
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".tif") || n.endsWith(".tiff");
    }

    private static String fingerprint(List<String> trainNames, List<INDArray> train, List<String> valNames, List<INDArray> val) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            digest(md, "train", trainNames, train);
            digest(md, "validation", valNames, val);
            return "sha256:" + HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void digest(MessageDigest md, String tag, List<String> names, List<INDArray> images) {
        md.update(tag.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (int i = 0; i < images.size(); i++) {
            md.update(names.get(i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            INDArray im = images.get(i);
            double[] px = im.dup('c').data().asDouble();
            ByteBuffer b = ByteBuffer.allocate(16 + 8 * px.length);
            b.putLong(im.size(0)).putLong(im.size(1));
            for (double v : px) {
                b.putDouble(v);
            }
            md.update(b.array());
        }
    }

    public List<String> trainNames() { return trainNames; }

    /** Training images (live arrays: do not modify). */
    public List<INDArray> train() { return train; }

    public List<String> validationNames() { return validationNames; }

    /** Validation images (live arrays: do not modify). */
    public List<INDArray> validation() { return validation; }

    public CropPlan plan() { return plan; }

    public String fingerprint() { return fingerprint; }

    @Override
    public void close() {
        train.forEach(INDArray::close);
        validation.forEach(INDArray::close);
    }
}
