package bilevel.actors;

import bilevel.numerics.util.AtomicFiles;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoints of a run in {@code <run>/checkpoints/}: {@code ckpt-NNNNNN.json} plus the solvers'
 * warm-start files {@code ckpt-NNNNNN-solver-I.bin}.
 *
 * <p><b>File format.</b> A checkpoint file is the JSON object
 * <pre>{"payload":&lt;the Checkpoint as JSON&gt;,"sha256":"&lt;hex SHA-256 of the payload's bytes&gt;"}</pre>
 * so it is plain JSON and its integrity is checked against the exact bytes written. Warm-start files
 * carry their own SHA-256 trailer, and the checkpoint records their digests.
 *
 * <p><b>Crash safety.</b> Every file is written atomically (temporary file, fsync, rename, fsync of the
 * folder); warm-start files first, the checkpoint file last, so a checkpoint file never refers to
 * missing data. After a checkpoint is written, all but the newest {@value #KEEP} are deleted — the
 * previous good one stays. {@link #latestValid()} returns the newest checkpoint whose file and warm-start
 * files all verify, skipping (and reporting) truncated or corrupted ones.
 */
public final class CheckpointStore {
    /** Checkpoints kept on disk. */
    public static final int KEEP = 2;

    private static final Pattern NAME = Pattern.compile("ckpt-(\\d{6,})\\.json");
    private static final byte[] PREFIX = "{\"payload\":".getBytes(StandardCharsets.US_ASCII);
    private static final String SUFFIX_START = ",\"sha256\":\"";
    private static final int SUFFIX_LENGTH = SUFFIX_START.length() + 64 + 3;   // ...hex"}\n
    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final Path dir;

    /** The store in {@code dir} (usually {@code <run>/checkpoints}). */
    public CheckpointStore(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** The checkpoint file of sequence number {@code n}. */
    public Path file(long n) {
        return dir.resolve(String.format(Locale.ROOT, "ckpt-%06d.json", n));
    }

    /** The warm-start file of solver {@code solver} for checkpoint {@code n}. */
    public Path warmStartFile(long n, int solver) {
        return dir.resolve(String.format(Locale.ROOT, "ckpt-%06d-solver-%d.bin", n, solver));
    }

    /** Writes {@code c} atomically (its warm-start files must already be written) and prunes old checkpoints. */
    public Path write(Checkpoint c) {
        byte[] payload;
        try {
            payload = JSON.writeValueAsBytes(c);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode checkpoint: " + e.getMessage(), e);
        }
        String hex = HexFormat.of().formatHex(sha256().digest(payload));
        Path f = file(c.sequence());
        AtomicFiles.write(f, out -> {
            out.write(PREFIX);
            out.write(payload);
            out.write((SUFFIX_START + hex + "\"}\n").getBytes(StandardCharsets.US_ASCII));
        });
        prune(c.sequence());
        return f;
    }

    /** A checkpoint read back, and the problems with newer ones that were skipped. */
    public record Loaded(Checkpoint checkpoint, Path file, List<String> skipped) {
        public Loaded {
            skipped = List.copyOf(skipped);
        }

        /** Absolute paths of the warm-start files. */
        public List<String> warmStartPaths() {
            return checkpoint.warmStarts().stream().map(w -> file.resolveSibling(w.file()).toString()).toList();
        }

        public List<String> warmStartDigests() {
            return checkpoint.warmStarts().stream().map(Checkpoint.WarmStartFile::digest).toList();
        }
    }

    /** The newest checkpoint that verifies completely, or empty if there is none. */
    public Optional<Loaded> latestValid() {
        List<String> skipped = new ArrayList<>();
        List<Long> newestFirst = new ArrayList<>(sequences());
        java.util.Collections.reverse(newestFirst);
        for (long n : newestFirst) {
            try {
                Checkpoint c = read(file(n));
                for (Checkpoint.WarmStartFile w : c.warmStarts()) {
                    verifyWarmStart(dir.resolve(w.file()), w.digest());
                }
                return Optional.of(new Loaded(c, file(n), skipped));
            } catch (CorruptCheckpoint e) {
                skipped.add(e.getMessage());
            }
        }
        return Optional.empty();
    }

    /** A checkpoint that cannot be used; the message is one line. */
    public static final class CorruptCheckpoint extends RuntimeException {
        CorruptCheckpoint(String message) {
            super(message);
        }
    }

    /** Reads and verifies one checkpoint file (not its warm-start files). */
    public static Checkpoint read(Path f) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(f);
        } catch (IOException e) {
            throw new CorruptCheckpoint("cannot read checkpoint " + f + ": " + e.getMessage());
        }
        int end = bytes.length - SUFFIX_LENGTH;
        if (end <= PREFIX.length || !Arrays.equals(bytes, 0, PREFIX.length, PREFIX, 0, PREFIX.length)) {
            throw new CorruptCheckpoint("checkpoint " + f + " is truncated or not a checkpoint");
        }
        String suffix = new String(bytes, end, SUFFIX_LENGTH, StandardCharsets.US_ASCII);
        if (!suffix.startsWith(SUFFIX_START) || !suffix.endsWith("\"}\n")) {
            throw new CorruptCheckpoint("checkpoint " + f + " is truncated (no checksum at its end)");
        }
        String hex = suffix.substring(SUFFIX_START.length(), SUFFIX_START.length() + 64);
        MessageDigest md = sha256();
        md.update(bytes, PREFIX.length, end - PREFIX.length);
        if (!HexFormat.of().formatHex(md.digest()).equals(hex)) {
            throw new CorruptCheckpoint("checkpoint " + f + " is corrupt (SHA-256 mismatch)");
        }
        Checkpoint c;
        try {
            c = JSON.readValue(bytes, PREFIX.length, end - PREFIX.length, Checkpoint.class);
        } catch (IOException e) {
            throw new CorruptCheckpoint("checkpoint " + f + " cannot be decoded: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (!Checkpoint.FORMAT.equals(c.format()) || c.formatVersion() != Checkpoint.FORMAT_VERSION) {
            throw new CorruptCheckpoint("checkpoint " + f + " has format " + c.format() + " version " + c.formatVersion()
                    + "; this bilevel reads " + Checkpoint.FORMAT + " version " + Checkpoint.FORMAT_VERSION);
        }
        return c;
    }

    /** Checks a warm-start file's trailer and its digest against the checkpoint's record. */
    static void verifyWarmStart(Path f, String digest) {
        MessageDigest md = sha256();
        long size;
        try {
            size = Files.size(f);
            if (size < 32) {
                throw new CorruptCheckpoint("warm-start file " + f + " is truncated");
            }
            byte[] trailer;
            try (InputStream in = Files.newInputStream(f)) {
                byte[] buffer = new byte[1 << 16];
                long remaining = size - 32;
                while (remaining > 0) {
                    int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
                    if (n < 0) {
                        throw new CorruptCheckpoint("warm-start file " + f + " is truncated");
                    }
                    md.update(buffer, 0, n);
                    remaining -= n;
                }
                trailer = in.readNBytes(32);
            }
            byte[] d = md.digest();
            if (!Arrays.equals(d, trailer) || !("sha256:" + HexFormat.of().formatHex(d)).equals(digest)) {
                throw new CorruptCheckpoint("warm-start file " + f + " is corrupt (SHA-256 mismatch)");
            }
        } catch (IOException e) {
            throw new CorruptCheckpoint("cannot read warm-start file " + f + ": " + e.getMessage());
        }
    }

    /** Sequence numbers of the checkpoint files present, ascending. */
    public List<Long> sequences() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> NAME.matcher(p.getFileName().toString())).filter(Matcher::matches)
                    .map(m -> Long.parseLong(m.group(1))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deletes checkpoints (and their warm-start files) older than the newest {@value #KEEP} up to {@code newest}. */
    private void prune(long newest) {
        List<Long> all = sequences();
        List<Long> old = all.stream().filter(n -> n <= newest).toList();
        for (int i = 0; i < old.size() - KEEP; i++) {
            long n = old.get(i);
            String prefix = String.format(Locale.ROOT, "ckpt-%06d", n);
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.filter(p -> {
                    String name = p.getFileName().toString();
                    return name.equals(prefix + ".json") || name.startsWith(prefix + "-solver-");
                }).toList()) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException e) {
                // a leftover old checkpoint is harmless
            }
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
