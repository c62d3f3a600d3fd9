package bilevel.numerics.train;

import bilevel.numerics.hypergradient.WarmStart;
import bilevel.numerics.util.AtomicFiles;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * The warm-start caches of a {@link SampleSolver} on disk, so that a resumed run continues every
 * sample's lower-level and adjoint iterates exactly where they were (bit for bit).
 *
 * <p>Binary layout (big-endian, {@link DataOutputStream}), format version 2:
 * <pre>
 *   "BLWS"            4 bytes magic
 *   formatVersion     int (2)
 *   dataType          byte: 0 = float (4-byte IEEE values), 1 = double (8-byte)
 *   count             int, number of entries
 *   count × entry:    kind byte (0 training sample, 1 validation image), index int, arrays int (1–8),
 *                     arrays × (rank int, shape (rank longs), values (∏shape values))
 *   SHA-256           32 bytes: digest of every byte above
 * </pre>
 * An entry's arrays are its {@link WarmStart#arrays()} (implicit method: x, q; piggyback: x, p, u, v). Version 1
 * files (written before the piggyback method existed: every entry x, q of one shape, stored as kind, index,
 * rank, shape, x, q) are still read.
 * Entries are in least- to most-recently-used order, so loading them in file order restores the LRU
 * order. The values are the arrays' own precision, so a save/load round trip is exact. Files are
 * written atomically ({@link AtomicFiles}); a truncated or altered file fails the digest check and
 * is rejected as a whole.
 */
public final class WarmStartFile {
    private static final byte[] MAGIC = {'B', 'L', 'W', 'S'};
    public static final int FORMAT_VERSION = 2;
    /** The first format: two arrays of one shape per entry. */
    static final int FORMAT_VERSION_1 = 1;
    private static final int MAX_ARRAYS = 8;
    static final byte TRAIN = 0;
    static final byte VALIDATION = 1;

    private WarmStartFile() {
    }

    /** One loaded entry (arrays owned by the caller, in {@link WarmStart#arrays()} order). */
    record Entry(byte kind, int index, List<INDArray> arrays) {
        void close() {
            arrays.forEach(INDArray::close);
        }
    }

    /**
     * Writes the two caches atomically; returns "sha256:&lt;hex&gt;" of the file's content before the trailer.
     */
    static String save(Path file, DataType dataType, Map<Integer, ? extends WarmStart> train,
                       Map<Integer, ? extends WarmStart> validation) {
        String[] digestHex = new String[1];
        AtomicFiles.write(file, (OutputStream raw) -> {
            MessageDigest md = sha256();
            DataOutputStream out = new DataOutputStream(new DigestOutputStream(raw, md));
            out.write(MAGIC);
            out.writeInt(FORMAT_VERSION);
            out.writeByte(code(dataType));
            out.writeInt(train.size() + validation.size());
            for (Map.Entry<Integer, ? extends WarmStart> e : train.entrySet()) {
                writeEntry(out, TRAIN, e.getKey(), e.getValue(), dataType);
            }
            for (Map.Entry<Integer, ? extends WarmStart> e : validation.entrySet()) {
                writeEntry(out, VALIDATION, e.getKey(), e.getValue(), dataType);
            }
            out.flush();
            byte[] digest = md.digest();
            raw.write(digest);
            digestHex[0] = "sha256:" + HexFormat.of().formatHex(digest);
        });
        return digestHex[0];
    }

    private static void writeEntry(DataOutputStream out, byte kind, int index, WarmStart s, DataType dataType)
            throws IOException {
        List<INDArray> arrays = s.arrays();
        out.writeByte(kind);
        out.writeInt(index);
        out.writeInt(arrays.size());
        for (INDArray a : arrays) {
            long[] shape = a.shape();
            out.writeInt(shape.length);
            for (long d : shape) {
                out.writeLong(d);
            }
            writeValues(out, a, dataType);
        }
    }

    private static void writeValues(DataOutputStream out, INDArray a, DataType dataType) throws IOException {
        try (INDArray c = a.dup('c')) {
            if (dataType == DataType.DOUBLE) {
                for (double v : c.data().asDouble()) {
                    out.writeDouble(v);
                }
            } else {
                for (float v : c.data().asFloat()) {
                    out.writeFloat(v);
                }
            }
        }
    }

    /**
     * Reads the entries accepted by the filters, after checking the whole file's digest.
     *
     * @param expectedDigest "sha256:&lt;hex&gt;" the file must have, or null to check only its own trailer
     * @throws TrainingException if the file is missing, truncated, corrupt or of another data type
     */
    static List<Entry> load(Path file, DataType dataType, IntPredicate trainFilter, IntPredicate validationFilter,
                            String expectedDigest) {
        List<Entry> entries = new ArrayList<>();
        boolean ok = false;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            MessageDigest md = sha256();
            DataInputStream in = new DataInputStream(new DigestInputStream(raw, md));
            byte[] magic = in.readNBytes(4);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new TrainingException("warm-start file " + file + " is not a bilevel warm-start file");
            }
            int version = in.readInt();
            if (version != FORMAT_VERSION && version != FORMAT_VERSION_1) {
                throw new TrainingException("warm-start file " + file + " has format version " + version
                        + ", this bilevel reads " + FORMAT_VERSION_1 + " and " + FORMAT_VERSION);
            }
            byte type = in.readByte();
            if (type != code(dataType)) {
                throw new TrainingException("warm-start file " + file + " holds " + (type == 1 ? "double" : "float")
                        + " arrays, this run computes in " + dataType.toString().toLowerCase(java.util.Locale.ROOT));
            }
            int count = in.readInt();
            if (count < 0) {
                throw new TrainingException("warm-start file " + file + " is corrupt (negative count)");
            }
            for (int e = 0; e < count; e++) {
                byte kind = in.readByte();
                int index = in.readInt();
                if (kind != TRAIN && kind != VALIDATION) {
                    throw new TrainingException("warm-start file " + file + " is corrupt (entry " + e + ")");
                }
                boolean keep = kind == TRAIN ? trainFilter.test(index) : validationFilter.test(index);
                List<INDArray> arrays = keep ? new ArrayList<>() : null;
                if (keep) {
                    entries.add(new Entry(kind, index, arrays));
                }
                if (version == FORMAT_VERSION_1) {
                    long[] shape = readShape(in, file, e);
                    readArray(in, shape, dataType, arrays);
                    readArray(in, shape, dataType, arrays);
                } else {
                    int n = in.readInt();
                    if (n < 1 || n > MAX_ARRAYS) {
                        throw new TrainingException("warm-start file " + file + " is corrupt (entry " + e + " has " + n + " arrays)");
                    }
                    for (int j = 0; j < n; j++) {
                        readArray(in, readShape(in, file, e), dataType, arrays);
                    }
                }
            }
            byte[] digest = md.digest();
            byte[] trailer = raw.readNBytes(32);
            if (!java.util.Arrays.equals(digest, trailer) || raw.read() != -1) {
                throw new TrainingException("warm-start file " + file + " is corrupt or truncated (SHA-256 mismatch)");
            }
            String hex = "sha256:" + HexFormat.of().formatHex(digest);
            if (expectedDigest != null && !expectedDigest.equals(hex)) {
                throw new TrainingException("warm-start file " + file + " is not the one the checkpoint refers to");
            }
            ok = true;
            return entries;
        } catch (NoSuchFileException e) {
            throw new TrainingException("warm-start file not found: " + file);
        } catch (EOFException e) {
            throw new TrainingException("warm-start file " + file + " is truncated");
        } catch (IOException e) {
            throw new TrainingException("cannot read warm-start file " + file + ": " + e.getMessage());
        } finally {
            if (!ok) {
                entries.forEach(Entry::close);
            }
        }
    }

    private static long[] readShape(DataInputStream in, Path file, int entry) throws IOException {
        int rank = in.readInt();
        if (rank < 1 || rank > 4) {
            throw new TrainingException("warm-start file " + file + " is corrupt (entry " + entry + ")");
        }
        long[] shape = new long[rank];
        long length = 1;
        for (int d = 0; d < rank; d++) {
            shape[d] = in.readLong();
            if (shape[d] < 1 || shape[d] > (1 << 20)) {
                throw new TrainingException("warm-start file " + file + " is corrupt (entry " + entry + " shape)");
            }
            length = Math.multiplyExact(length, shape[d]);
        }
        if (length > Integer.MAX_VALUE - 8) {
            throw new TrainingException("warm-start file " + file + " is corrupt (entry " + entry + " is too large)");
        }
        return shape;
    }

    /**
     * Reads one array of the given shape: into a new array appended to {@code into}, or (into = null) reads and
     * discards its bytes (read, not skipped, so that the digest covers them too).
     */
    private static void readArray(DataInputStream in, long[] shape, DataType dataType, List<INDArray> into)
            throws IOException {
        long length = 1;
        for (long d : shape) {
            length *= d;
        }
        if (into != null) {
            INDArray a = Nd4j.create(dataType, shape);
            into.add(a);
            readValues(in, a, length, dataType);
            return;
        }
        long skip = length * (dataType == DataType.DOUBLE ? 8 : 4);
        byte[] buffer = new byte[1 << 16];
        while (skip > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, skip));
            if (n < 0) {
                throw new EOFException();
            }
            skip -= n;
        }
    }

    private static void readValues(DataInputStream in, INDArray target, long length, DataType dataType) throws IOException {
        if (dataType == DataType.DOUBLE) {
            double[] v = new double[Math.toIntExact(length)];
            for (int i = 0; i < v.length; i++) {
                v[i] = in.readDouble();
            }
            try (INDArray a = Nd4j.createFromArray(v)) {
                target.assign(a.reshape(target.shape()));
            }
        } else {
            float[] v = new float[Math.toIntExact(length)];
            for (int i = 0; i < v.length; i++) {
                v[i] = in.readFloat();
            }
            try (INDArray a = Nd4j.createFromArray(v)) {
                target.assign(a.reshape(target.shape()));
            }
        }
    }

    private static byte code(DataType dataType) {
        if (dataType == DataType.DOUBLE) {
            return 1;
        }
        if (dataType == DataType.FLOAT) {
            return 0;
        }
        throw new IllegalArgumentException("warm starts are float or double, not " + dataType);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
