package bilevel.cli.tools;

import bilevel.cli.CliContext;
import bilevel.cli.Main;
import bilevel.numerics.image.Images;
import bilevel.numerics.train.ModelFile;
import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Running the tools in-process, and small generated inputs for them (images, model files, a tiny run). */
final class Tools {
    private Tools() {
    }

    record Run(int code, String out, String err) {
        String[] errLines() {
            return err.isEmpty() ? new String[0] : err.split("\\R");
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(CliContext.standard(), new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    /** Exit 2, nothing on stdout, one line on stderr containing {@code expected}, no stack trace; returns the line. */
    static String assertUsageError(Run run, String expected) {
        assertEquals(Main.EXIT_USAGE, run.code(), "exit code; stderr: " + run.err() + "\nstdout: " + run.out());
        assertEquals("", run.out(), "stdout");
        String[] lines = run.errLines();
        assertEquals(1, lines.length, "expected one line on stderr, got:\n" + run.err());
        assertTrue(lines[0].contains(expected), "expected '" + expected + "' in: " + lines[0]);
        assertFalse(lines[0].contains("Exception") || lines[0].contains("\tat "), "no exception names: " + lines[0]);
        return lines[0];
    }

    static void assertSuccess(Run run) {
        assertEquals(Main.EXIT_OK, run.code(), "stderr: " + run.err() + "\nstdout: " + run.out());
    }

    /** A clean test picture in [0, 1]: a bright disc and a dark square on a gradient, positions seeded. */
    static INDArray picture(int h, int w, long seed) {
        Random r = new Random(seed);
        double cr = h * (0.3 + 0.4 * r.nextDouble());
        double cc = w * (0.3 + 0.4 * r.nextDouble());
        double rad = Math.min(h, w) * (0.15 + 0.1 * r.nextDouble());
        int sq = r.nextInt(Math.max(1, h / 2));
        double[] x = new double[h * w];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                double v = 0.2 + 0.4 * j / (double) w;
                if ((i - cr) * (i - cr) + (j - cc) * (j - cc) < rad * rad) {
                    v = 0.9;
                } else if (i >= sq && i < sq + h / 4 && j >= w / 8 && j < w / 8 + w / 4) {
                    v = 0.05;
                }
                x[i * w + j] = v;
            }
        }
        return Nd4j.createFromArray(x).reshape('c', h, w).castTo(DataType.DOUBLE);
    }

    /** Writes {@code n} gray PNG pictures img0.png … into {@code dir} (created). */
    static Path images(Path dir, int n, int size, long seed) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < n; i++) {
            Images.write(dir.resolve("img" + i + ".png"), picture(size, size, seed + i));
        }
        return dir;
    }

    static TrainingSpec.ProblemSpec denoise() {
        return new TrainingSpec.ProblemSpec("denoise", 25, 1e-4, 3, 1.0, 0.3);
    }

    /** A TV model file (λ = 0.08, γ = 0.01) for denoising at σ = 25. */
    static Path tvModel(Path file) {
        return model(file, "tv", new double[]{Math.log(0.08), Math.log(0.01)}, denoise());
    }

    /** A quadratic (Tikhonov) model file. */
    static Path quadraticModel(Path file) {
        return model(file, "quadratic", new double[]{Math.log(0.4), Math.log(0.4)}, denoise());
    }

    static Path model(Path file, String type, double[] theta, TrainingSpec.ProblemSpec problem) {
        ModelFile.of(type, Map.of(), theta, problem, "sha256:test", 1, Map.of("steps", 0), null).write(file);
        return file;
    }

    /** A tiny spec on embedded data (2 training and 2 validation images of 16×16), 3 Adam steps. */
    static TrainingSpec tinySpec(String type, long seed) {
        return tinySpec(type, Map.of(), seed);
    }

    static TrainingSpec tinySpec(String type, Map<String, Object> options, long seed) {
        return new TrainingSpec(seed, "double",
                new TrainingSpec.RegularizerSpec(type, options, ""),
                new TrainingSpec.ProblemSpec("denoise", 25, 1e-3, 3, 1.0, 0.3),
                new TrainingSpec.DataSpec("embedded", "embedded", 2, 2, 16, 16, 1, 0, 0),
                new TrainingSpec.TrainSpec("adam", 2, 0, 3, "poly:0.05:0.5", "poly:1e-2:0.25", "tied:1.0", 3000, 500, 1,
                        1e-3, new TrainingSpec.MaidSpec(0.5, 0.5, 1e-4, 0.5, 1.05, 1.1, 8, 0.05, 1e-2)));
    }

    /** Trains the tiny spec into {@code dir} (metrics.jsonl, model.json) with the reference trainer. */
    static Path tinyRun(Path dir, String type) {
        return tinyRun(dir, type, Map.of());
    }

    static Path tinyRun(Path dir, String type, Map<String, Object> options) {
        TrainingSpec spec = tinySpec(type, options, 3);
        ReferenceTrainer t = new ReferenceTrainer(spec, m -> { });
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), t.dataType())) {
            t.run(data, dir);
        }
        return dir;
    }

    /** Every path under {@code dir} (relative, sorted), hidden ones included. */
    static List<String> listing(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !p.equals(dir)).map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }
}
