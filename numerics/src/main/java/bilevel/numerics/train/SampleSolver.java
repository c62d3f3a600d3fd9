package bilevel.numerics.train;

import bilevel.numerics.data.CropPlan;
import bilevel.numerics.data.Seeds;
import bilevel.numerics.hypergradient.Hypergradient;
import bilevel.numerics.hypergradient.HypergradientMethod;
import bilevel.numerics.hypergradient.ImplicitMethod;
import bilevel.numerics.hypergradient.SolveStatistics;
import bilevel.numerics.hypergradient.WarmStart;
import bilevel.numerics.image.Noise;
import bilevel.numerics.operators.Blur;
import bilevel.numerics.operators.Identity;
import bilevel.numerics.operators.Inpainting;
import bilevel.numerics.operators.LinearOperator;
import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Computes per-sample hypergradients (and validation reconstructions) for one worker thread, with a
 * bounded warm-start cache of lower-level iterates and adjoints per sample. The numerics are those of its
 * {@link HypergradientMethod} (the implicit method for smooth regularizers, the piggyback method for
 * primal–dual models; see {@link RegularizerFactory#hypergradientMethod}): this class only builds the
 * samples and keeps their warm starts.
 *
 * <p>A training sample is a crop of a training image; its measurement is y = A x* + n with n Gaussian
 * (σ/255, seeded by the sample's noise seed, no clipping) and, for inpainting, a mask seeded by a seed
 * derived from the same noise seed. Nothing here depends on the order in which samples are requested,
 * except the warm starts (which change iteration counts, never the certified accuracy).
 *
 * <p>Not thread-safe: use one per worker. {@link #close()} releases the cached states.
 */
public final class SampleSolver implements AutoCloseable {
    /** Seed stream tag of inpainting masks (derived from a sample's noise seed). */
    public static final long TAG_MASK = 201;
    /** Seed stream tag of the noise of validation image i (derived from the run seed). */
    public static final long TAG_VALIDATION_NOISE = 202;

    private final TrainingData data;
    private final TrainingSpec.ProblemSpec problem;
    private final TrainingSpec.TrainSpec train;
    private final DataType dataType;
    private final long seed;
    private final HypergradientMethod method;
    private final Map<Integer, WarmStart> trainCache;
    private final Map<Integer, WarmStart> validationCache;
    private final Identity identity = new Identity();
    private final Blur blur;

    /**
     * With the implicit method (FISTA + CG, capped by {@code train}).
     *
     * @param cacheCapacity maximum number of training samples whose warm starts are kept (LRU)
     */
    public SampleSolver(TrainingData data, TrainingSpec.ProblemSpec problem, TrainingSpec.TrainSpec train,
                        DataType dataType, long seed, int cacheCapacity) {
        this(data, problem, train, dataType, seed, cacheCapacity,
                new ImplicitMethod(train.maxLowerIterations(), train.maxCgIterations(), train.errorBoundMode()));
    }

    /**
     * @param cacheCapacity maximum number of training samples whose warm starts are kept (LRU)
     * @param method        how hypergradients are computed (every model passed in must be {@link HypergradientMethod#accepts accepted})
     */
    public SampleSolver(TrainingData data, TrainingSpec.ProblemSpec problem, TrainingSpec.TrainSpec train,
                        DataType dataType, long seed, int cacheCapacity, HypergradientMethod method) {
        this.method = java.util.Objects.requireNonNull(method, "method");
        this.data = data;
        this.problem = problem;
        this.train = train;
        this.dataType = dataType;
        this.seed = seed;
        this.trainCache = lru(cacheCapacity);
        this.validationCache = lru(Math.max(1, data.validation().size()));
        this.blur = problem.operator().equals("blur") ? Blur.gaussian(problem.blurSize(), problem.blurSigma()) : null;
        if (!problem.operator().equals("denoise") && !problem.operator().equals("blur") && !problem.operator().equals("inpaint")) {
            throw new TrainingException("unknown operator '" + problem.operator() + "' (denoise, blur, inpaint)");
        }
    }

    /** The hypergradient method. */
    public HypergradientMethod method() {
        return method;
    }

    private static Map<Integer, WarmStart> lru(int capacity) {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Integer, WarmStart> eldest) {
                if (size() > capacity) {
                    eldest.getValue().close();
                    return true;
                }
                return false;
            }
        };
    }

    /** The forward operator for an image of the given size and sample seed. */
    LinearOperator operator(long h, long w, long noiseSeed) {
        return switch (problem.operator()) {
            case "denoise" -> identity;
            case "blur" -> blur;
            case "inpaint" -> Inpainting.random(h, w, problem.inpaintMissing(), Seeds.derive(noiseSeed, TAG_MASK));
            default -> throw new IllegalStateException(problem.operator());
        };
    }

    /** y = A x + n(σ, seed). Returns a new array. */
    INDArray measure(LinearOperator a, INDArray clean, long noiseSeed) {
        try (INDArray ax = Nd4j.create(dataType, a.rangeShape(clean.shape()))) {
            a.apply(clean, ax);
            return Noise.addGaussian(ax, problem.sigma(), noiseSeed);
        }
    }

    /** The clean crop of training sample {@code index} (a new array). */
    public INDArray cleanCrop(int index) {
        CropPlan.Sample s = data.plan().sample(index);
        int c = data.plan().cropSize();
        return data.train().get(s.imageId()).get(NDArrayIndex.interval(s.row(), s.row() + c),
                NDArrayIndex.interval(s.col(), s.col() + c)).dup('c');
    }

    /**
     * The hypergradient of training sample {@code index} at the model's θ, warm-started from this worker's cache
     * and refined in place (a later call with tighter tolerances continues from it).
     */
    public Hypergradient hypergradient(Regularizer.Instance regularizer, int index, double epsilon, double delta) {
        check(regularizer);
        CropPlan.Sample s = data.plan().sample(index);
        try (INDArray clean = cleanCrop(index)) {
            LinearOperator a = operator(clean.size(0), clean.size(1), s.noiseSeed());
            try (INDArray y = measure(a, clean, s.noiseSeed())) {
                WarmStart state = cached(trainCache, index, clean.shape());
                return method.compute(regularizer, new HypergradientMethod.Sample(clean, y, a, problem.mu()), epsilon,
                        delta, state).hypergradient();
            }
        }
    }

    private void check(Regularizer.Instance model) {
        if (!method.accepts(model)) {
            throw new IllegalArgumentException("the " + method.name() + " method cannot differentiate a "
                    + model.getClass().getSimpleName());
        }
    }

    private WarmStart cached(Map<Integer, WarmStart> cache, int index, long[] shape) {
        WarmStart state = cache.get(index);
        if (state == null) {
            state = method.newWarmStart(shape, dataType);
            cache.put(index, state);
        }
        return state;
    }

    /** Result of a lower-level solve only (MAID's line-search trial points). */
    public record LowerSolve(double loss, long iterations, boolean capped) {
    }

    /**
     * Solves the lower level of training sample {@code index} to accuracy ε (warm-started from the cache,
     * which is updated) and returns ℓ(x_ε) = ‖x_ε − x*‖².
     */
    public LowerSolve lowerLevel(Regularizer.Instance regularizer, int index, double epsilon) {
        check(regularizer);
        CropPlan.Sample s = data.plan().sample(index);
        try (INDArray clean = cleanCrop(index)) {
            LinearOperator a = operator(clean.size(0), clean.size(1), s.noiseSeed());
            try (INDArray y = measure(a, clean, s.noiseSeed())) {
                WarmStart state = cached(trainCache, index, clean.shape());
                SolveStatistics r = method.solveLowerLevel(regularizer, a, y, problem.mu(), state, epsilon,
                        train.maxLowerIterations());
                double d = state.primal().distance2(clean);
                return new LowerSolve(d * d, r.iterations(), r.reachedIterationCap());
            }
        }
    }

    /** Result of reconstructing one validation image. */
    public record Reconstruction(double psnr, long iterations, boolean certified) {
    }

    /**
     * Reconstructs validation image {@code i} (noise seeded by the run seed and i) to accuracy ε and returns
     * its PSNR against the clean image (peak 1, no clipping). If {@code output} is non-null it receives x̂.
     */
    public Reconstruction reconstructValidation(Regularizer.Instance regularizer, int i, double epsilon, INDArray output) {
        check(regularizer);
        INDArray clean = data.validation().get(i);
        long noiseSeed = Seeds.derive(seed, TAG_VALIDATION_NOISE, i);
        LinearOperator a = operator(clean.size(0), clean.size(1), noiseSeed);
        try (INDArray y = measure(a, clean, noiseSeed)) {
            WarmStart state = cached(validationCache, i, clean.shape());
            SolveStatistics r = method.solveLowerLevel(regularizer, a, y, problem.mu(), state, epsilon,
                    train.maxLowerIterations());
            INDArray x = state.primal();
            if (output != null) {
                output.assign(x);
            }
            return new Reconstruction(bilevel.numerics.image.Metrics.psnr(x, clean), r.iterations(), r.certified() && r.converged());
        }
    }

    /**
     * Drops training sample {@code index}'s warm start (e.g. after a non-finite result), so that its next
     * hypergradient starts cold.
     */
    public void forget(int index) {
        WarmStart state = trainCache.remove(index);
        if (state != null) {
            state.close();
        }
    }

    /** Number of training samples with a cached warm start. */
    public int cachedSamples() {
        return trainCache.size();
    }

    /**
     * Writes the warm starts of all cached training samples and validation images to {@code file}
     * (atomically, see {@link WarmStartFile}); returns the file's digest "sha256:&lt;hex&gt;".
     */
    public String saveWarmStarts(java.nio.file.Path file) {
        return WarmStartFile.save(file, dataType, trainCache, validationCache);
    }

    /**
     * Adds the warm starts of {@code file} whose training-sample index (validation-image index) passes the
     * filter to the caches, replacing entries of the same index, in the file's LRU order. The file is
     * checked as a whole first: nothing is added from a corrupt file.
     *
     * @param expectedDigest the digest the file must have (from a checkpoint), or null
     * @return the number of entries added
     * @throws TrainingException if the file is missing, corrupt, truncated, of another data type or holds warm
     *                           starts of another hypergradient method
     */
    public int loadWarmStarts(java.nio.file.Path file, java.util.function.IntPredicate trainSamples,
                              java.util.function.IntPredicate validationImages, String expectedDigest) {
        java.util.List<WarmStartFile.Entry> entries = WarmStartFile.load(file, dataType, trainSamples, validationImages,
                expectedDigest);
        List<WarmStart> states = new ArrayList<>();
        try {
            for (WarmStartFile.Entry e : entries) {
                states.add(method.restoreWarmStart(e.arrays()));
            }
        } catch (IllegalArgumentException ex) {
            states.forEach(WarmStart::close);
            entries.subList(states.size(), entries.size()).forEach(WarmStartFile.Entry::close);
            throw new TrainingException("warm-start file " + file + " does not hold warm starts of the " + method.name()
                    + " method (" + ex.getMessage() + ")");
        }
        for (int j = 0; j < entries.size(); j++) {
            WarmStartFile.Entry e = entries.get(j);
            Map<Integer, WarmStart> cache = e.kind() == WarmStartFile.TRAIN ? trainCache : validationCache;
            WarmStart old = cache.put(e.index(), states.get(j));
            if (old != null) {
                old.close();
            }
        }
        return entries.size();
    }

    @Override
    public void close() {
        trainCache.values().forEach(WarmStart::close);
        trainCache.clear();
        validationCache.values().forEach(WarmStart::close);
        validationCache.clear();
    }
}
