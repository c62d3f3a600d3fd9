package bilevel.actors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checkpoint files: exact round trip, two kept, truncated or corrupted ones skipped for the previous one. */
class CheckpointStoreTest {

    @TempDir
    Path dir;

    /** A warm-start-like file: content followed by its SHA-256 (the trailer the store verifies). */
    private static String fakeWarmStart(Path f, byte seed) throws Exception {
        byte[] content = new byte[1000];
        Arrays.fill(content, seed);
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(content);
        byte[] all = Arrays.copyOf(content, content.length + 32);
        System.arraycopy(digest, 0, all, content.length, 32);
        Files.write(f, all);
        return "sha256:" + HexFormat.of().formatHex(digest);
    }

    private static Checkpoint checkpoint(CheckpointStore store, long n) throws Exception {
        String digest = fakeWarmStart(store.warmStartFile(n, 0), (byte) n);
        return new Checkpoint(Checkpoint.FORMAT, Checkpoint.FORMAT_VERSION, n, "sync", 1, "sha256:data", 10 * n, 10 * n,
                new double[]{0.1 * n, Math.PI, -1e-300, Double.MIN_VALUE}, "adam", 10 * n, new double[]{1, 2, 3, 4},
                new double[]{5, 6, 7, 8}, 2, 3, 77, 0, 40 * n, new int[]{4, 1}, 1234 * n, 9 * n, 1.5 * n,
                n == 1 ? null : 27.5, List.of(new Checkpoint.WarmStartFile(store.warmStartFile(n, 0).getFileName().toString(),
                digest)), Map.of("reissued", n));
    }

    @Test
    void roundTripIsExactAndOnlyTheNewestTwoAreKept() throws Exception {
        CheckpointStore store = new CheckpointStore(dir);
        Files.createDirectories(dir);
        for (long n = 1; n <= 3; n++) {
            store.write(checkpoint(store, n));
        }
        assertEquals(List.of(2L, 3L), store.sequences());
        assertTrue(Files.notExists(store.warmStartFile(1, 0)), "the oldest warm starts are deleted with it");
        CheckpointStore.Loaded loaded = store.latestValid().orElseThrow();
        assertEquals(checkpoint(store, 3), loaded.checkpoint());
        assertEquals(List.of(), loaded.skipped());
        assertEquals(store.warmStartFile(3, 0).toString(), loaded.warmStartPaths().get(0));
        assertTrue(Files.readString(store.file(3)).startsWith("{\"payload\":{"), "plain JSON");
    }

    @Test
    void truncatedOrCorruptedCheckpointFallsBackToThePreviousGoodOne() throws Exception {
        CheckpointStore store = new CheckpointStore(dir);
        Files.createDirectories(dir);
        store.write(checkpoint(store, 1));
        store.write(checkpoint(store, 2));
        byte[] good = Files.readAllBytes(store.file(2));

        Files.write(store.file(2), Arrays.copyOf(good, good.length - 20));   // torn write
        CheckpointStore.Loaded loaded = store.latestValid().orElseThrow();
        assertEquals(1, loaded.checkpoint().sequence());
        assertTrue(loaded.skipped().get(0).contains("truncated"), loaded.skipped().toString());

        byte[] flipped = good.clone();
        int at = new String(good).indexOf("3.141592653589793");
        flipped[at + 3] = (byte) '2';   // a changed digit of θ
        Files.write(store.file(2), flipped);
        loaded = store.latestValid().orElseThrow();
        assertEquals(1, loaded.checkpoint().sequence());
        assertTrue(loaded.skipped().get(0).contains("SHA-256"), loaded.skipped().toString());

        Files.write(store.file(2), good);
        byte[] ws = Files.readAllBytes(store.warmStartFile(2, 0));
        ws[10] ^= 0x40;
        Files.write(store.warmStartFile(2, 0), ws);
        loaded = store.latestValid().orElseThrow();
        assertEquals(1, loaded.checkpoint().sequence(), "a corrupt warm-start file invalidates its checkpoint");
        assertTrue(loaded.skipped().get(0).contains("warm-start"), loaded.skipped().toString());

        Files.delete(store.warmStartFile(1, 0));
        assertTrue(store.latestValid().isEmpty(), "no valid checkpoint left");
        assertThrows(CheckpointStore.CorruptCheckpoint.class, () -> CheckpointStore.read(dir.resolve("nothing.json")));
    }

    @Test
    void metricsAreCutBackToTheCheckpoint() throws IOException {
        Path metrics = dir.resolve("metrics.jsonl");
        Files.writeString(metrics, "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"st");
        TrainingRuntime.truncateMetrics(metrics, 2);
        assertEquals(List.of("{\"step\":0}", "{\"step\":1}"), Files.readAllLines(metrics));
    }
}
