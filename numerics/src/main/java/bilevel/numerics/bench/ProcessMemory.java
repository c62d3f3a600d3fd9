package bilevel.numerics.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Memory of this process as the kernel sees it, read from {@code /proc/self/status} (Linux):
 * {@code VmRSS} (resident set: Java heap actually touched + JVM + native/off-heap buffers such as ND4J's)
 * and {@code VmHWM} (its peak). Where the file or the field is absent (macOS, Windows, restricted
 * containers) the readings are {@code NaN}, reported as "n/a".
 *
 * <p>Also reports JavaCPP's own count of the off-heap bytes it tracks (ND4J arrays live there), which
 * separates a leak of ND4J buffers from ordinary JVM growth.
 */
public final class ProcessMemory {
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final double KIB_PER_MIB = 1024.0;

    private ProcessMemory() {
    }

    /** Resident set size in MiB (VmRSS), or NaN when unavailable. */
    public static double residentMegabytes() {
        return readField("VmRSS");
    }

    /** Peak resident set size in MiB (VmHWM), or NaN when unavailable. */
    public static double peakResidentMegabytes() {
        return readField("VmHWM");
    }

    /** Off-heap bytes currently allocated through JavaCPP (ND4J data buffers), in MiB; NaN if unavailable. */
    public static double javacppMegabytes() {
        try {
            return org.bytedeco.javacpp.Pointer.totalBytes() / (1024.0 * 1024.0);
        } catch (LinkageError e) {
            return Double.NaN;
        }
    }

    /** Where {@link #residentMegabytes()} comes from, for reports: the file, or "n/a". */
    public static String residentSource() {
        return Double.isNaN(residentMegabytes()) ? "n/a" : "VmRSS of " + STATUS;
    }

    private static double readField(String field) {
        try {
            return parseField(Files.readAllLines(STATUS, StandardCharsets.UTF_8), field);
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return Double.NaN;
        }
    }

    /**
     * The value of {@code field} (e.g. "VmRSS") in the lines of a {@code /proc/<pid>/status} file, in MiB;
     * the kernel writes it as {@code "VmRSS:\t  123456 kB"}. NaN when the field is missing or malformed.
     */
    static double parseField(List<String> statusLines, String field) {
        String prefix = field + ":";
        for (String line : statusLines) {
            if (!line.startsWith(prefix)) {
                continue;
            }
            String[] parts = line.substring(prefix.length()).trim().split("\\s+");
            if (parts.length != 2 || !parts[1].equalsIgnoreCase("kB")) {
                return Double.NaN;
            }
            try {
                return Long.parseLong(parts[0]) / KIB_PER_MIB;
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }
        return Double.NaN;
    }
}
