package bilevel.numerics.train;

import bilevel.numerics.util.AtomicFiles;
import bilevel.numerics.util.Version;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * A learned model on disk: a versioned JSON document.
 *
 * <pre>
 * {
 *   "format": "bilevel-model",          // fixed
 *   "formatVersion": 1,                 // this reader accepts exactly 1
 *   "type": "foe",                      // regularizer family (see RegularizerFactory)
 *   "options": { "filters": 48, ... },  // the family's structure
 *   "theta": [ ... ],                   // the parameters θ (finite numbers)
 *   "problem": { "operator": "denoise", "sigma": 25, "mu": ... },  // what it was trained for
 *   "dataFingerprint": "sha256:...",    // of the training and validation data
 *   "seed": 1,
 *   "codeVersion": "0.1.0",
 *   "training": { "steps": ..., "computations": ..., "seconds": ..., "validationPsnr": ... },
 *   "config": { ... }                   // the complete TrainingSpec of the run
 * }
 * </pre>
 * Files are written atomically. Reading checks the format, the version, the finiteness of θ and that
 * every required field is present; any problem is a {@link TrainingException} with a one-line message.
 */
public record ModelFile(String format, int formatVersion, String type, Map<String, Object> options, double[] theta,
                        TrainingSpec.ProblemSpec problem, String dataFingerprint, long seed, String codeVersion,
                        Map<String, Object> training, TrainingSpec config) {

    public static final String FORMAT = "bilevel-model";
    public static final int FORMAT_VERSION = 1;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public ModelFile {
        theta = theta == null ? null : theta.clone();
        options = options == null ? Map.of() : Map.copyOf(options);
        training = training == null ? Map.of() : Map.copyOf(training);
    }

    @Override
    public double[] theta() {
        return theta.clone();
    }

    /** A model of the current format and code version. */
    public static ModelFile of(String type, Map<String, Object> options, double[] theta, TrainingSpec.ProblemSpec problem,
                               String dataFingerprint, long seed, Map<String, Object> training, TrainingSpec config) {
        return new ModelFile(FORMAT, FORMAT_VERSION, type, options, theta, problem, dataFingerprint, seed, Version.get(),
                training, config);
    }

    /** Writes this model atomically as JSON. */
    public void write(Path file) {
        try {
            AtomicFiles.write(file, JSON.writeValueAsBytes(this));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode model: " + e.getMessage(), e);
        }
    }

    /** Reads and checks a model file. */
    public static ModelFile read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TrainingException("model file not found: " + file);
        } catch (IOException e) {
            throw new TrainingException("cannot read model file " + file + ": " + e.getMessage());
        }
        ModelFile m;
        try {
            m = JSON.readValue(bytes, ModelFile.class);
        } catch (IOException e) {
            throw new TrainingException("model file " + file + " is not a valid bilevel model (corrupt or truncated JSON: "
                    + firstLine(e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + ")");
        }
        if (m == null || !FORMAT.equals(m.format)) {
            throw new TrainingException("model file " + file + " is not a bilevel model (format is '"
                    + (m == null ? null : m.format) + "', expected '" + FORMAT + "')");
        }
        if (m.formatVersion != FORMAT_VERSION) {
            throw new TrainingException("model file " + file + " has format version " + m.formatVersion
                    + "; this bilevel (" + Version.get() + ") reads version " + FORMAT_VERSION);
        }
        if (m.type == null || m.theta == null || m.theta.length == 0) {
            throw new TrainingException("model file " + file + " lacks its type or parameters");
        }
        for (int i = 0; i < m.theta.length; i++) {
            if (!Double.isFinite(m.theta[i])) {
                throw new TrainingException("model file " + file + " has a non-finite parameter theta[" + i + "] = " + m.theta[i]);
            }
        }
        return m;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelFile m && formatVersion == m.formatVersion && seed == m.seed
                && Objects.equals(format, m.format) && Objects.equals(type, m.type)
                && java.util.Arrays.equals(theta, m.theta) && Objects.equals(options, m.options)
                && Objects.equals(problem, m.problem) && Objects.equals(dataFingerprint, m.dataFingerprint)
                && Objects.equals(codeVersion, m.codeVersion);
    }

    @Override
    public int hashCode() {
        return Objects.hash(format, formatVersion, type, java.util.Arrays.hashCode(theta), dataFingerprint, seed);
    }
}
