package bilevel.numerics.data;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A fixed, deterministic list of training samples: square crops of a set of images, each with its own
 * noise seed, so that a sample's loss is comparable across outer iterations.
 *
 * <p><b>Construction.</b> For every image (in increasing id order) and crop index c = 0..C−1, with M the
 * master seed and S the crop size:
 * <pre>
 *   g     = SplittableRandom(Seeds.derive(M, TAG_POSITION, id, c))
 *   row   = g.nextInt(H − S + 1),  col = g.nextInt(W − S + 1)     (top-left corner, crop in bounds)
 *   noise = Seeds.derive(M, TAG_NOISE, id, c)
 * </pre>
 * A sample depends only on (M, id, c, H, W, S): adding or removing other images does not move it.
 * The sample list is ordered by (id, c); its indices are what {@link MinibatchSampler} shuffles.
 */
public final class CropPlan {
    /** Stream tag for crop positions in {@link Seeds#derive}. */
    public static final long TAG_POSITION = 1;
    /** Stream tag for noise seeds in {@link Seeds#derive}. */
    public static final long TAG_NOISE = 2;

    /** Size of image {@code id}. */
    public record ImageSize(int id, int height, int width) {
        public ImageSize {
            if (height < 1 || width < 1) {
                throw new IllegalArgumentException("image " + id + " has invalid size " + height + "x" + width);
            }
        }
    }

    /**
     * One training sample: the crop [row, row+S) × [col, col+S) of image {@code imageId} and the seed of
     * its noise realisation.
     */
    public record Sample(int imageId, int row, int col, long noiseSeed) {
        public Sample {
            if (row < 0 || col < 0) {
                throw new IllegalArgumentException("crop corner must be non-negative");
            }
        }
    }

    private final List<ImageSize> images;
    private final int cropSize;
    private final int cropsPerImage;
    private final long masterSeed;
    private final List<Sample> samples;

    private CropPlan(List<ImageSize> images, int cropSize, int cropsPerImage, long masterSeed, List<Sample> samples) {
        this.images = images;
        this.cropSize = cropSize;
        this.cropsPerImage = cropsPerImage;
        this.masterSeed = masterSeed;
        this.samples = samples;
    }

    /**
     * Builds the plan.
     *
     * @param images        image sizes with distinct ids (any order)
     * @param cropSize      S ≥ 1, at most every image's height and width
     * @param cropsPerImage C ≥ 1
     * @param masterSeed    M
     * @throws IllegalArgumentException on duplicate ids, an empty list, or a crop larger than an image
     */
    public static CropPlan create(List<ImageSize> images, int cropSize, int cropsPerImage, long masterSeed) {
        Objects.requireNonNull(images, "images");
        if (images.isEmpty()) {
            throw new IllegalArgumentException("no images");
        }
        if (cropSize < 1 || cropsPerImage < 1) {
            throw new IllegalArgumentException("cropSize and cropsPerImage must be >= 1");
        }
        List<ImageSize> sorted = new ArrayList<>(images);
        sorted.sort(Comparator.comparingInt(ImageSize::id));
        Set<Integer> ids = new HashSet<>();
        List<Sample> samples = new ArrayList<>(Math.multiplyExact(sorted.size(), cropsPerImage));
        for (ImageSize image : sorted) {
            if (!ids.add(image.id())) {
                throw new IllegalArgumentException("duplicate image id " + image.id());
            }
            if (cropSize > image.height() || cropSize > image.width()) {
                throw new IllegalArgumentException("crop size " + cropSize + " exceeds image " + image.id() + " of size "
                        + image.height() + "x" + image.width());
            }
            for (int c = 0; c < cropsPerImage; c++) {
                SplittableRandom g = new SplittableRandom(Seeds.derive(masterSeed, TAG_POSITION, image.id(), c));
                int row = g.nextInt(image.height() - cropSize + 1);
                int col = g.nextInt(image.width() - cropSize + 1);
                samples.add(new Sample(image.id(), row, col, Seeds.derive(masterSeed, TAG_NOISE, image.id(), c)));
            }
        }
        return new CropPlan(List.copyOf(sorted), cropSize, cropsPerImage, masterSeed, List.copyOf(samples));
    }

    /** The samples, ordered by (image id, crop index); immutable. */
    public List<Sample> samples() {
        return samples;
    }

    public Sample sample(int index) {
        return samples.get(index);
    }

    public int size() {
        return samples.size();
    }

    /** The image sizes, ordered by id; immutable. */
    public List<ImageSize> images() {
        return images;
    }

    public int cropSize() {
        return cropSize;
    }

    public int cropsPerImage() {
        return cropsPerImage;
    }

    public long masterSeed() {
        return masterSeed;
    }
}
