package bilevel.cli.bench;

import bilevel.numerics.bench.KernelBench;
import bilevel.numerics.bench.MachineInfo;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The report of {@code bilevel bench kernels}, as a text table or as one JSON document:
 *
 * <pre>
 * { "tool": "bilevel bench kernels", "version": "…",
 *   "settings": { "height", "width", "dtype", "repeats", "warmup", "seed" },
 *   "machine":  { "cores", "ompNumThreads", "nd4jThreads", "blasThreads", "javaVersion", "javaVm", "os",
 *                 "maxHeapMb", "nd4jBackend", "nd4jClassifier", "blasVendor", "nd4jBinaryLevel",
 *                 "cpuLevel", "residentMemory" },
 *   "kernels": [ { "name", "type", "params",
 *                  "gradientMsMedian", "gradientMsMin", "gradientFlops", "gradientGflops",
 *                  "hessianVectorMsMedian", "hessianVectorMsMin", "hessianVectorFlops", "hessianVectorGflops",
 *                  "residentMbBefore", "residentMbAfter", "residentMbPeak", "offHeapMbBefore", "offHeapMbAfter" } ] }
 * </pre>
 * Times are milliseconds per call, memory MiB; a quantity that is unavailable or not modelled is {@code null}.
 *
 * @param version  bilevel version
 * @param settings what was run
 * @param machine  where it ran
 * @param kernels  one result per regularizer, in run order
 */
public record KernelReport(String version, KernelBench.Settings settings, MachineInfo machine,
                           List<KernelBench.Result> kernels) {

    public KernelReport {
        kernels = List.copyOf(kernels);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The JSON document (pretty-printed, ending with a newline). */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("tool", "bilevel bench kernels");
        root.put("version", version);
        ObjectNode s = root.putObject("settings");
        s.put("height", settings.height());
        s.put("width", settings.width());
        s.put("dtype", settings.dataType().name().toLowerCase(Locale.ROOT));
        s.put("repeats", settings.repeats());
        s.put("warmup", settings.warmup());
        s.put("seed", settings.seed());
        ObjectNode m = root.putObject("machine");
        m.put("cores", machine.cores());
        m.put("ompNumThreads", machine.ompNumThreads());
        putCount(m, "nd4jThreads", machine.nd4jThreads());
        putCount(m, "blasThreads", machine.blasThreads());
        m.put("javaVersion", machine.javaVersion());
        m.put("javaVm", machine.javaVm());
        m.put("os", machine.os());
        m.put("maxHeapMb", machine.maxHeapMb());
        m.put("nd4jBackend", machine.nd4jBackend());
        m.put("nd4jClassifier", machine.nd4jClassifier());
        m.put("blasVendor", machine.blasVendor());
        m.put("nd4jBinaryLevel", machine.nd4jBinaryLevel());
        m.put("cpuLevel", machine.cpuLevel());
        m.put("residentMemory", machine.residentMemory());
        ArrayNode ks = root.putArray("kernels");
        for (KernelBench.Result r : kernels) {
            ObjectNode k = ks.addObject();
            k.put("name", r.name());
            k.put("type", r.type());
            k.put("params", r.numParams());
            putTiming(k, "gradient", r.gradient());
            putTiming(k, "hessianVector", r.hessianVector());
            putNumber(k, "residentMbBefore", r.residentMbBefore());
            putNumber(k, "residentMbAfter", r.residentMbAfter());
            putNumber(k, "residentMbPeak", r.residentMbPeak());
            putNumber(k, "offHeapMbBefore", r.offHeapMbBefore());
            putNumber(k, "offHeapMbAfter", r.offHeapMbAfter());
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + System.lineSeparator();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the benchmark report as JSON", e);
        }
    }

    private static void putTiming(ObjectNode k, String prefix, KernelBench.Timing t) {
        putNumber(k, prefix + "MsMedian", t.msMedian());
        putNumber(k, prefix + "MsMin", t.msMin());
        putNumber(k, prefix + "Flops", t.flops());
        putNumber(k, prefix + "Gflops", t.gflops());
    }

    /** JSON has no NaN or infinity: those become null. */
    private static void putNumber(ObjectNode node, String field, double value) {
        if (Double.isFinite(value)) {
            node.put(field, value);
        } else {
            node.putNull(field);
        }
    }

    private static void putCount(ObjectNode node, String field, int value) {
        if (value >= 0) {
            node.put(field, value);
        } else {
            node.putNull(field);
        }
    }

    /** The human-readable report: a header with settings and machine, then one row per regularizer. */
    public String toTable() {
        String nl = System.lineSeparator();
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "bilevel %s - bench kernels: %dx%d %s, %d timed gradient/HVP pairs (%d warm-up), seed %d%n",
                version, settings.height(), settings.width(), settings.dataType().name().toLowerCase(Locale.ROOT),
                settings.repeats(), settings.warmup(), settings.seed()));
        b.append(String.format(Locale.ROOT, "machine: %d cores, OMP_NUM_THREADS=%s, ND4J %s %s (%s, %s threads; built for %s, CPU has %s), Java %s, heap %d MiB%n",
                machine.cores(), na(machine.ompNumThreads()), na(machine.nd4jBackend()), na(machine.nd4jClassifier()),
                na(machine.blasVendor()), machine.nd4jThreads() >= 0 ? Integer.toString(machine.nd4jThreads()) : "n/a",
                na(machine.nd4jBinaryLevel()), na(machine.cpuLevel()), machine.javaVersion(), machine.maxHeapMb()));
        b.append(nl);
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"regularizer", "P", "grad ms med", "grad ms min", "grad GFLOP/s",
                "HVP ms med", "HVP ms min", "HVP GFLOP/s", "RSS MiB before", "RSS MiB after"});
        for (KernelBench.Result r : kernels) {
            rows.add(new String[]{r.name(), Integer.toString(r.numParams()),
                    num(r.gradient().msMedian()), num(r.gradient().msMin()), num(r.gradient().gflops()),
                    num(r.hessianVector().msMedian()), num(r.hessianVector().msMin()), num(r.hessianVector().gflops()),
                    num(r.residentMbBefore()), num(r.residentMbAfter())});
        }
        int[] widths = new int[rows.get(0).length];
        for (String[] row : rows) {
            for (int c = 0; c < row.length; c++) {
                widths[c] = Math.max(widths[c], row[c].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < row.length; c++) {
                if (c > 0) {
                    line.append("  ");
                }
                String pad = " ".repeat(widths[c] - row[c].length());
                line.append(c == 0 ? row[c] + pad : pad + row[c]);
            }
            b.append(line.toString().stripTrailing()).append(nl);
        }
        if (kernels.isEmpty()) {
            b.append("(no regularizers timed)").append(nl);
        }
        b.append(nl).append("RSS: process resident memory (").append(machine.residentMemory())
                .append(") before and after the timed calls; growth means a kernel allocates per call.").append(nl);
        return b.toString();
    }

    private static String na(String s) {
        return s == null ? "n/a" : s;
    }

    /** A number with about four significant digits, or "n/a". */
    static String num(double x) {
        if (!Double.isFinite(x)) {
            return "n/a";
        }
        double a = Math.abs(x);
        String f = a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : a >= 10 ? "%.2f" : a >= 1 ? "%.3f" : "%.4f";
        return String.format(Locale.ROOT, f, x);
    }
}
