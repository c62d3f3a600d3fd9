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

    private static final java.util.Map<String, Object> SMALL_FILTERS = java.util.Map.of("filters", 2, "size", 3);

    private static SampleSolver solver(TrainingData data, TrainingSpec spec, DataType dt, Regularizer reg) {
        return new SampleSolver(data, spec.problem(), spec.train(), dt, spec.seed(), 64,
                RegularizerFactory.hypergradientMethod(reg, spec.train()));
    }

    /** Runs two hypergradient rounds on every sample; the second from a cache restored from disk or not. */
    private static double[][] twoRounds(TrainingSpec spec, DataType dt, Path file, boolean restore) {
        return twoRounds(spec, RegularizerFactory.create("tv", java.util.Map.of()), dt, file, restore);
    }

    private static double[][] twoRounds(TrainingSpec spec, Regularizer reg, DataType dt, Path file, boolean restore) {
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), dt)) {
            int n = data.plan().size();
            double[] theta = reg.project(reg.initialTheta(1));
            double[][] second = new double[n][];
            try (SampleSolver a = solver(data, spec, dt, reg);
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
            try (SampleSolver b = solver(data, spec, dt, reg);
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
    void restoredPrimalDualWarmStartsContinueBitForBit() {
        TrainingSpec spec = TrainingFixtures.spec("pd-filters", "adam", 3, 0, 1);
        Regularizer reg = RegularizerFactory.create("pd-filters", SMALL_FILTERS);
        for (DataType dt : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            double[][] uninterrupted = twoRounds(spec, reg, dt, null, false);
            double[][] restored = twoRounds(spec, reg, dt, dir.resolve("pd-" + dt + ".bin"), true);
            for (int i = 0; i < uninterrupted.length; i++) {
                assertArrayEquals(uninterrupted[i], restored[i], 0.0, dt + " sample " + i);
            }
        }
    }

    @Test
    void warmStartsOfAnotherMethodAreRefusedAsAWhole() {
        TrainingSpec spec = TrainingFixtures.spec("pd-filters", "adam", 3, 0, 1);
        Regularizer pd = RegularizerFactory.create("pd-filters", SMALL_FILTERS);
        Regularizer tv = RegularizerFactory.create("tv", java.util.Map.of());
        DataType dt = DataType.DOUBLE;
        Path file = dir.resolve("pd.bin");
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), dt);
             SampleSolver a = solver(data, spec, dt, pd);
             Regularizer.Instance inst = pd.bind(pd.project(pd.initialTheta(1)), dt)) {
            for (int i = 0; i < 3; i++) {
                a.hypergradient(inst, i, 1e-2, 1e-2);
            }
            a.saveWarmStarts(file);
            try (SampleSolver implicit = solver(data, spec, dt, tv)) {
                var e = assertThrows(TrainingException.class, () -> implicit.loadWarmStarts(file, i -> true, i -> true, null));
                assertTrue(e.getMessage().contains("implicit"), e.getMessage());
                assertEquals(0, implicit.cachedSamples());
            }
            // and a model of other structure (4 channels) refuses the 2-channel duals
            Regularizer wider = RegularizerFactory.create("pd-filters", java.util.Map.of("filters", 4, "size", 3));
            try (SampleSolver other = solver(data, spec, dt, wider)) {
                assertThrows(TrainingException.class, () -> other.loadWarmStarts(file, i -> true, i -> true, null));
                assertEquals(0, other.cachedSamples());
            }
        }
    }

    /** Files of format version 1 (before the piggyback method: x, q per entry) are still read, exactly. */
    @Test
    void versionOneFilesAreStillRead() throws IOException {
        TrainingSpec spec = TrainingFixtures.spec("tv", "adam", 3, 0, 1);
        Regularizer reg = RegularizerFactory.create("tv", java.util.Map.of());
        DataType dt = DataType.DOUBLE;
        Path v2 = dir.resolve("v2.bin");
        Path v1 = dir.resolve("v1.bin");
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), dt);
             Regularizer.Instance inst = reg.bind(reg.project(reg.initialTheta(1)), dt)) {
            try (SampleSolver a = solver(data, spec, dt, reg)) {
                for (int i = 0; i < 4; i++) {
                    a.hypergradient(inst, i, 1e-2, 1e-2);
                }
                a.saveWarmStarts(v2);
            }
            Files.write(v1, toVersionOne(Files.readAllBytes(v2)));
            try (SampleSolver b = solver(data, spec, dt, reg); SampleSolver c = solver(data, spec, dt, reg)) {
                assertEquals(4, b.loadWarmStarts(v2, i -> true, i -> true, null));
                assertEquals(4, c.loadWarmStarts(v1, i -> true, i -> true, null));
                for (int i = 0; i < 4; i++) {
                    assertArrayEquals(b.hypergradient(inst, i, 1e-4, 1e-4).z(), c.hypergradient(inst, i, 1e-4, 1e-4).z(), 0.0);
                }
            }
        }
    }

    /** Re-encodes a version-2 file of double (x, q) entries in the version-1 layout, with its digest. */
    private static byte[] toVersionOne(byte[] v2) throws IOException {
        var in = new java.io.DataInputStream(new java.io.ByteArrayInputStream(v2, 0, v2.length - 32));
        var bytes = new java.io.ByteArrayOutputStream();
        var out = new java.io.DataOutputStream(bytes);
        out.write(in.readNBytes(4));
        assertEquals(2, in.readInt());
        out.writeInt(1);
        byte type = in.readByte();
        assertEquals(1, type, "double");
        out.writeByte(type);
        int count = in.readInt();
        out.writeInt(count);
        for (int e = 0; e < count; e++) {
            out.writeByte(in.readByte());
            out.writeInt(in.readInt());
            assertEquals(2, in.readInt(), "x, q");
            for (int j = 0; j < 2; j++) {
                int rank = in.readInt();
                long length = 1;
                long[] shape = new long[rank];
                for (int d = 0; d < rank; d++) {
                    shape[d] = in.readLong();
                    length *= shape[d];
                }
                if (j == 0) {
                    out.writeInt(rank);
                    for (long d : shape) {
                        out.writeLong(d);
                    }
                }
                out.write(in.readNBytes((int) (8 * length)));
            }
        }
        out.flush();
        byte[] body = bytes.toByteArray();
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(body);
            byte[] all = Arrays.copyOf(body, body.length + 32);
            System.arraycopy(digest, 0, all, body.length, 32);
            return all;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
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
