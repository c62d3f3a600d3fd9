package bilevel.numerics.bench;

import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Objects;
import java.util.Random;

/**
 * Micro-benchmark of the two kernels every solver spends its time in: the regularizer gradient
 * x ↦ ∇ₓR_θ(x) and the Hessian-vector product v ↦ ∇²ₓₓR_θ(x) v, on one H×W image.
 *
 * <p>Protocol for one regularizer family: bind its default parameters θ = project(initialTheta(seed))
 * in the requested data type; build a seeded test image x ∈ [0, 1]^{H×W} ({@link #testImage}) and a
 * seeded Gaussian direction v; run {@code warmup} untimed gradient + HVP pairs (at least one, whose
 * outputs are checked to be finite); read the resident memory; run {@code repeats} pairs, timing each
 * call separately with {@link System#nanoTime()}; read the resident memory again. Output buffers are
 * allocated once, so a growing resident set between the two readings means the kernel allocates
 * (and leaks, or leaves to the garbage collector) off-heap memory on every call.
 *
 * <p>GFLOP/s = (operation count from {@link Regularizer#gradientFlops}/{@link Regularizer#hessianVectorFlops})
 * / (median time); NaN when the regularizer has no FLOP model. ND4J's CPU backend executes
 * synchronously, so wall-clock time around a call is the time of its work.
 *
 * <p>Pure: no command line, no output; see {@code bilevel bench kernels} for the report.
 */
public final class KernelBench {

    private KernelBench() {
    }

    /**
     * What to run.
     *
     * @param height   image height H ≥ 1
     * @param width    image width W ≥ 1
     * @param repeats  timed gradient + HVP pairs, ≥ 1
     * @param warmup   untimed pairs before timing, ≥ 0 (one is always run to check the outputs)
     * @param dataType FLOAT or DOUBLE
     * @param seed     seed of θ₀, the image and the direction
     */
    public record Settings(int height, int width, int repeats, int warmup, DataType dataType, long seed) {
        public Settings {
            if (height < 1 || width < 1) {
                throw new IllegalArgumentException("image size must be positive, got " + height + "x" + width);
            }
            if (repeats < 1) {
                throw new IllegalArgumentException("repeats must be at least 1, got " + repeats);
            }
            if (warmup < 0) {
                throw new IllegalArgumentException("warmup must be non-negative, got " + warmup);
            }
            Objects.requireNonNull(dataType, "dataType");
            if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
                throw new IllegalArgumentException("data type must be FLOAT or DOUBLE, got " + dataType);
            }
        }
    }

    /**
     * Timing of one kernel.
     *
     * @param msMedian median wall-clock milliseconds per call
     * @param msMin    fastest call in milliseconds
     * @param flops    modelled floating-point operations per call (NaN if not modelled)
     * @param gflops   flops / median time in GFLOP/s (NaN if not modelled)
     */
    public record Timing(double msMedian, double msMin, double flops, double gflops) {
    }

    /**
     * Benchmark result of one regularizer. Memory figures are MiB and NaN when unavailable (see
     * {@link ProcessMemory}).
     *
     * @param name             the name it was requested by
     * @param type             {@link Regularizer#type()}
     * @param numParams        P
     * @param gradient         timing of {@link Regularizer.Instance#gradient}
     * @param hessianVector    timing of {@link Regularizer.Instance#hessianVector}
     * @param residentMbBefore process resident set before the timed loop
     * @param residentMbAfter  process resident set after the timed loop
     * @param residentMbPeak   peak resident set of the process so far (VmHWM)
     * @param offHeapMbBefore  JavaCPP-tracked off-heap memory before the timed loop
     * @param offHeapMbAfter   JavaCPP-tracked off-heap memory after the timed loop
     */
    public record Result(String name, String type, int numParams, Timing gradient, Timing hessianVector,
                         double residentMbBefore, double residentMbAfter, double residentMbPeak,
                         double offHeapMbBefore, double offHeapMbAfter) {
    }

    /**
     * Runs the protocol above for one regularizer family.
     *
     * @throws IllegalStateException if the kernels return non-finite values on the test image
     */
    public static Result run(String name, Regularizer regularizer, Settings settings) {
        DataType dt = settings.dataType();
        long h = settings.height();
        long w = settings.width();
        int n = settings.repeats();
        double[] theta = regularizer.project(regularizer.initialTheta(settings.seed()));
        long[] gradientNanos = new long[n];
        long[] hvpNanos = new long[n];
        double rssBefore;
        double offHeapBefore;
        double rssAfter;
        double offHeapAfter;
        try (Regularizer.Instance r = regularizer.bind(theta, dt);
             INDArray x = testImage(h, w, settings.seed(), dt);
             INDArray v = direction(h, w, settings.seed() + 1, dt);
             INDArray g = Nd4j.create(dt, h, w);
             INDArray hv = Nd4j.create(dt, h, w)) {
            r.gradient(x, g);
            r.hessianVector(x, v, hv);
            requireFinite(g, name, "gradient");
            requireFinite(hv, name, "Hessian-vector product");
            for (int i = 1; i < settings.warmup(); i++) {
                r.gradient(x, g);
                r.hessianVector(x, v, hv);
            }
            rssBefore = ProcessMemory.residentMegabytes();
            offHeapBefore = ProcessMemory.javacppMegabytes();
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                r.gradient(x, g);
                long t1 = System.nanoTime();
                r.hessianVector(x, v, hv);
                long t2 = System.nanoTime();
                gradientNanos[i] = t1 - t0;
                hvpNanos[i] = t2 - t1;
            }
            // read while the same buffers are alive as at the first reading, so the difference is what
            // the timed calls left behind
            rssAfter = ProcessMemory.residentMegabytes();
            offHeapAfter = ProcessMemory.javacppMegabytes();
        }
        Timing gradient = timing(gradientNanos, regularizer.gradientFlops(h, w));
        Timing hessianVector = timing(hvpNanos, regularizer.hessianVectorFlops(h, w));
        return new Result(name, regularizer.type(), regularizer.numParams(), gradient, hessianVector,
                rssBefore, rssAfter, ProcessMemory.peakResidentMegabytes(), offHeapBefore, offHeapAfter);
    }

    /** Median and minimum of the per-call times, and GFLOP/s at the median. {@code nanos} is sorted in place. */
    static Timing timing(long[] nanos, double flops) {
        Arrays.sort(nanos);
        int n = nanos.length;
        double medianNs = n % 2 == 1 ? nanos[n / 2] : 0.5 * ((double) nanos[n / 2 - 1] + nanos[n / 2]);
        double medianMs = medianNs / 1e6;
        double modelled = Double.isFinite(flops) && flops > 0 ? flops : Double.NaN;
        return new Timing(medianMs, nanos[0] / 1e6, modelled, gflops(modelled, medianMs));
    }

    /** flops / time in GFLOP/s; NaN unless both are finite and positive. */
    static double gflops(double flops, double milliseconds) {
        if (!(Double.isFinite(flops) && flops > 0 && Double.isFinite(milliseconds) && milliseconds > 0)) {
            return Double.NaN;
        }
        return flops / (milliseconds * 1e6);
    }

    /**
     * A deterministic "smooth-ish" test image with values in [0, 1]: a sum of eight random plane waves of
     * 0.5–6 cycles per image (smooth regions), two random rectangles (edges, where TV-like regularizers
     * are non-smooth), and 2 % uniform noise (texture), affinely rescaled to [0, 1]. A new array of shape
     * [H, W] in the given data type.
     */
    public static INDArray testImage(long height, long width, long seed, DataType dataType) {
        Random random = new Random(seed);
        int h = Math.toIntExact(height);
        int w = Math.toIntExact(width);
        double[] pixels = new double[Math.multiplyExact(h, w)];
        for (int k = 0; k < 8; k++) {
            double amplitude = 1.0 / (k + 1);
            double fy = 0.5 + 5.5 * random.nextDouble();
            double fx = 0.5 + 5.5 * random.nextDouble();
            double phase = 2 * Math.PI * random.nextDouble();
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    pixels[i * w + j] += amplitude * Math.cos(2 * Math.PI * (fy * i / h + fx * j / w) + phase);
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            int i0 = random.nextInt(h);
            int j0 = random.nextInt(w);
            int i1 = i0 + 1 + random.nextInt(h - i0);
            int j1 = j0 + 1 + random.nextInt(w - j0);
            double step = random.nextBoolean() ? 1.0 : -1.0;
            for (int i = i0; i < i1; i++) {
                for (int j = j0; j < j1; j++) {
                    pixels[i * w + j] += step;
                }
            }
        }
        for (int p = 0; p < pixels.length; p++) {
            pixels[p] += 0.02 * random.nextDouble();
        }
        double lo = Arrays.stream(pixels).min().orElse(0);
        double hi = Arrays.stream(pixels).max().orElse(1);
        double scale = hi > lo ? 1.0 / (hi - lo) : 0.0;
        for (int p = 0; p < pixels.length; p++) {
            pixels[p] = (pixels[p] - lo) * scale;
        }
        return toArray(pixels, height, width, dataType);
    }

    /** A seeded standard Gaussian [H, W] array: the direction v of the Hessian-vector products. */
    static INDArray direction(long height, long width, long seed, DataType dataType) {
        Random random = new Random(seed);
        double[] values = new double[Math.multiplyExact(Math.toIntExact(height), Math.toIntExact(width))];
        for (int p = 0; p < values.length; p++) {
            values[p] = random.nextGaussian();
        }
        return toArray(values, height, width, dataType);
    }

    private static INDArray toArray(double[] values, long height, long width, DataType dataType) {
        INDArray asDouble = Nd4j.create(values, new long[]{height, width}, DataType.DOUBLE);
        if (dataType == DataType.DOUBLE) {
            return asDouble;
        }
        try (asDouble) {
            return asDouble.castTo(dataType);
        }
    }

    private static void requireFinite(INDArray a, String name, String what) {
        double sum;
        try (INDArray s = a.sum()) {
            sum = s.getDouble(0);
        }
        if (!Double.isFinite(sum)) {
            throw new IllegalStateException(what + " of regularizer '" + name + "' is not finite on the benchmark image");
        }
    }
}
