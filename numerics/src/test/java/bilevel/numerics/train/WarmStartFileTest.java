package bilevel.numerics.train;

import bilevel.numerics.regularizers.Regularizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Saving and loading a SampleSolver's warm starts: exact, filtered, and corrupt files rejected. */
class WarmStartFileTest {

    @TempDir
    Path dir;

    /** Runs two hypergradient rounds on every sample; the second from a cache restored from disk or not. */
    private static double[][] twoRounds(TrainingSpec spec, DataType dt, Path file, boolean restore) {
        Regularizer reg = RegularizerFactory.create("tv", java.util.Map.of());
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), dt)) {
            int n = data.plan().size();
            double[] theta = reg.project(reg.initialTheta(1));
            double[][] second = new double[n][];
            try (SampleSolver a = new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64);
                 Regularizer.Instance inst = reg.bind(theta, dt)) {
                for (int i = 0; i < n; i++) {
                    a.hypergradient(inst, i, 1e-2, 1e-2);
                }
                a.reconstructValidation(inst, 0, 1e-2, null);
                if (!restore) {
                    for (int i = 0; i < n; i++) {
                        second[i] = a.hypergradient(inst, i, 1e-3, 1e-3).z();
                    }
                    return second;
                }
                a.saveWarmStarts(file);
            }
            try (SampleSolver b = new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64);
                 Regularizer.Instance inst = reg.bind(theta, dt)) {
                assertEquals(n + 1, b.loadWarmStarts(file, i -> true, i -> true, null));
                assertEquals(n, b.cachedSamples());
                for (int i = 0; i < n; i++) {
                    second[i] = b.hypergradient(inst, i, 1e-3, 1e-3).z();
                }
            }
            return second;
        }
    }

    @Test
    void restoredWarmStartsContinueBitForBit() {
        TrainingSpec spec = TrainingFixtures.spec("tv", "adam", 3, 0, 1);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            double[][] uninterrupted = twoRounds(spec, dt, null, false);
            double[][] restored = twoRounds(spec, dt, dir.resolve("ws-" + dt + ".bin"), true);
            for (int i = 0; i < uninterrupted.length; i++) {
                assertArrayEquals(uninterrupted[i], restored[i], 0.0, dt + " sample " + i);
            }
        }
    }

    @Test
    void filtersSelectEntriesAndCorruptFilesAreRejected() throws IOException {
        TrainingSpec spec = TrainingFixtures.spec("tv", "adam", 3, 0, 1);
        Regularizer reg = RegularizerFactory.create("tv", java.util.Map.of());
        DataType dt = DataType.DOUBLE;
        Path file = dir.resolve("ws.bin");
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), dt);
             SampleSolver a = new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64);
             Regularizer.Instance inst = reg.bind(reg.project(reg.initialTheta(1)), dt)) {
            for (int i = 0; i < 5; i++) {
                a.hypergradient(inst, i, 1e-2, 1e-2);
            }
            String digest = a.saveWarmStarts(file);
            assertTrue(digest.startsWith("sha256:"));
            try (SampleSolver b = new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64)) {
                assertEquals(3, b.loadWarmStarts(file, i -> i % 2 == 0, i -> false, digest), "samples 0, 2, 4");
                assertEquals(3, b.cachedSamples());
                var wrong = assertThrows(TrainingException.class,
                        () -> b.loadWarmStarts(file, i -> true, i -> true, "sha256:00"));
                assertTrue(wrong.getMessage().contains("not the one"), wrong.getMessage());
                var otherType = assertThrows(TrainingException.class, () -> {
                    try (SampleSolver f = new SampleSolver(data, spec.problem(), spec.train(), DataType.FLOAT, 3, 8)) {
                        f.loadWarmStarts(file, i -> true, i -> true, null);
                    }
                });
                assertTrue(otherType.getMessage().contains("float"), otherType.getMessage());
            }
            byte[] bytes = Files.readAllBytes(file);
            Path truncated = dir.resolve("truncated.bin");
            Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 100));
            Path flipped = dir.resolve("flipped.bin");
            byte[] f = bytes.clone();
            f[f.length / 2] ^= 1;
            assertNotEquals(bytes[bytes.length / 2], f[f.length / 2]);
            Files.write(flipped, f);
            for (Path bad : new Path[]{truncated, flipped, dir.resolve("missing.bin")}) {
                try (SampleSolver c = new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64)) {
                    assertThrows(TrainingException.class, () -> c.loadWarmStarts(bad, i -> true, i -> true, null), bad.toString());
                    assertEquals(0, c.cachedSamples(), "nothing is taken from a bad file");
                }
            }
        }
    }
}
