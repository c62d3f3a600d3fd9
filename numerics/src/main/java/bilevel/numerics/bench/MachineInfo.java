package bilevel.numerics.bench;

import org.bytedeco.javacpp.Loader;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

import java.nio.file.Path;
import java.util.Properties;

/**
 * The machine a benchmark ran on. String fields are {@code null} when the information cannot be
 * obtained (reported as "n/a").
 *
 * @param cores           processors available to the JVM
 * @param ompNumThreads   the {@code OMP_NUM_THREADS} environment variable as set, or null
 * @param nd4jThreads     threads ND4J uses for its own parallel loops (after reading OMP_NUM_THREADS)
 * @param blasThreads     threads of the BLAS library ND4J calls (GEMM)
 * @param javaVersion     {@code java.version}
 * @param javaVm          JVM name and version
 * @param os              operating system name, version and architecture
 * @param maxHeapMb       maximum Java heap in MiB (-Xmx)
 * @param nd4jBackend     ND4J backend ("CPU")
 * @param nd4jClassifier  native flavour actually loaded, e.g. "linux-x86_64-onednn-avx2"
 * @param blasVendor      BLAS library, e.g. "OPENBLAS"
 * @param nd4jBinaryLevel instruction set the native library was built for (libnd4j binaryLevel: generic, x86-64, avx2, avx512)
 * @param cpuLevel        best instruction set the CPU supports, on the same scale (libnd4j optimalLevel)
 * @param residentMemory  where resident-memory readings come from, or "n/a"
 */
public record MachineInfo(int cores, String ompNumThreads, int nd4jThreads, int blasThreads,
                          String javaVersion, String javaVm, String os, long maxHeapMb,
                          String nd4jBackend, String nd4jClassifier, String blasVendor,
                          String nd4jBinaryLevel, String cpuLevel, String residentMemory) {

    /** Reads the current machine (initialises ND4J if it is not yet). Never throws for missing details. */
    public static MachineInfo current() {
        Properties env = new Properties();
        try {
            env = Nd4j.getExecutioner().getEnvironmentInformation();
        } catch (RuntimeException e) {
            // leave the ND4J fields n/a
        }
        int nd4jThreads = -1;
        try {
            nd4jThreads = Nd4j.getEnvironment().maxThreads();
        } catch (RuntimeException e) {
            // n/a
        }
        String binaryLevel = null;
        String cpuLevel = null;
        try {
            var ops = NativeOpsHolder.getInstance().getDeviceNativeOps();
            binaryLevel = instructionSet(ops.binaryLevel(), "generic");
            // optimalLevel is 0 only when libnd4j was built without CPU feature detection
            cpuLevel = instructionSet(ops.optimalLevel(), null);
        } catch (RuntimeException | LinkageError e) {
            // n/a
        }
        return new MachineInfo(
                Runtime.getRuntime().availableProcessors(),
                System.getenv("OMP_NUM_THREADS"),
                nd4jThreads,
                parseInt(env.get("blas.threads")),
                System.getProperty("java.version"),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
                Runtime.getRuntime().maxMemory() / (1024 * 1024),
                string(env.get("backend")),
                nativeClassifier(),
                string(env.get("blas.vendor")),
                binaryLevel,
                cpuLevel,
                ProcessMemory.residentSource());
    }

    /**
     * The JavaCPP platform directory the ND4J native library was loaded from — its Maven classifier,
     * e.g. "linux-x86_64-onednn-avx2" — or null if it cannot be determined.
     */
    static String nativeClassifier() {
        try {
            String path = Loader.getLoadedLibraries().get("jnind4jcpu");
            if (path == null) {
                return null;
            }
            Path parent = Path.of(path).getParent();
            return parent == null ? null : parent.getFileName().toString();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    private static String instructionSet(int level, String zero) {
        return switch (level) {
            case 0 -> zero;
            case 1 -> "x86-64";
            case 2 -> "avx2";
            case 3 -> "avx512";
            default -> "level " + level;
        };
    }

    private static String string(Object o) {
        return o == null ? null : o.toString();
    }

    private static int parseInt(Object o) {
        try {
            return o == null ? -1 : Integer.parseInt(o.toString().trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
