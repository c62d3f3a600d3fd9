package bilevel.cli;

import bilevel.numerics.regularizers.Registry;
import bilevel.numerics.regularizers.Regularizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bilevel bench kernels} end to end on tiny images with test regularizers. No timing assertions. */
class BenchKernelsCommandTest {

    private static final String[] TINY = {"bench", "kernels", "--size", "12x10", "--repeats", "4", "--warmup", "1"};

    private static Registry testRegistry() {
        Map<String, Supplier<Regularizer>> m = new LinkedHashMap<>();
        m.put("quad", () -> new QuadraticTestRegularizer("quad", true));
        m.put("noflops", () -> new QuadraticTestRegularizer("noflops", false));
        return new Registry(m);
    }

    private static String[] tiny(String... more) {
        String[] args = new String[TINY.length + more.length];
        System.arraycopy(TINY, 0, args, 0, TINY.length);
        System.arraycopy(more, 0, args, TINY.length, more.length);
        return args;
    }

    private static JsonNode parse(String json) throws Exception {
        return new ObjectMapper().readTree(json);
    }

    private static void assertNumberOrNull(JsonNode node, String field) {
        assertTrue(node.has(field), "missing field " + field + " in " + node);
        assertTrue(node.get(field).isNumber() || node.get(field).isNull(), field + " = " + node.get(field));
    }

    @Test
    void jsonDocumentHasSettingsMachineAndOneEntryPerKernel() throws Exception {
        Cli.Run run = Cli.run(testRegistry(), tiny("--json", "--dtype", "double", "--seed", "5"));
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        JsonNode root = parse(run.out());
        assertEquals("bilevel bench kernels", root.get("tool").asText());
        assertEquals(VersionProvider.version(), root.get("version").asText());

        JsonNode s = root.get("settings");
        assertEquals(12, s.get("height").asInt());
        assertEquals(10, s.get("width").asInt());
        assertEquals("double", s.get("dtype").asText());
        assertEquals(4, s.get("repeats").asInt());
        assertEquals(1, s.get("warmup").asInt());
        assertEquals(5, s.get("seed").asLong());

        JsonNode m = root.get("machine");
        assertTrue(m.get("cores").asInt() >= 1);
        assertEquals(System.getProperty("java.version"), m.get("javaVersion").asText());
        for (String f : new String[]{"ompNumThreads", "nd4jThreads", "blasThreads", "javaVm", "os", "maxHeapMb",
                "nd4jBackend", "nd4jClassifier", "blasVendor", "nd4jBinaryLevel", "cpuLevel", "residentMemory"}) {
            assertTrue(m.has(f), "machine." + f);
        }

        JsonNode kernels = root.get("kernels");
        assertEquals(2, kernels.size());
        assertEquals("quad", kernels.get(0).get("name").asText());
        assertEquals("noflops", kernels.get(1).get("name").asText());
        for (JsonNode k : kernels) {
            assertEquals(1, k.get("params").asInt());
            for (String f : new String[]{"gradientMsMedian", "gradientMsMin", "hessianVectorMsMedian", "hessianVectorMsMin"}) {
                assertTrue(k.get(f).isNumber() && k.get(f).asDouble() >= 0, f + " = " + k.get(f));
            }
            for (String f : new String[]{"gradientFlops", "gradientGflops", "hessianVectorFlops", "hessianVectorGflops",
                    "residentMbBefore", "residentMbAfter", "residentMbPeak", "offHeapMbBefore", "offHeapMbAfter"}) {
                assertNumberOrNull(k, f);
            }
        }
        JsonNode quad = kernels.get(0);
        assertEquals(120.0, quad.get("gradientFlops").asDouble(), 0.0, "12·10 pixels, one multiplication each");
        assertTrue(quad.get("gradientGflops").isNumber() || quad.get("gradientMsMedian").asDouble() == 0);
        JsonNode noFlops = kernels.get(1);
        assertTrue(noFlops.get("gradientFlops").isNull() && noFlops.get("gradientGflops").isNull());
        assertTrue(noFlops.get("hessianVectorFlops").isNull() && noFlops.get("hessianVectorGflops").isNull());
    }

    @Test
    void selectedRegularizersRunOnceEachInTheGivenOrder() throws Exception {
        Cli.Run run = Cli.run(testRegistry(), tiny("--json", "-r", "noflops,quad", "--regularizer", "noflops"));
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        JsonNode kernels = parse(run.out()).get("kernels");
        assertEquals(List.of("noflops", "quad"), List.of(kernels.get(0).get("name").asText(), kernels.get(1).get("name").asText()));
        assertEquals(2, kernels.size());
    }

    @Test
    void tableNamesEveryKernel() {
        Cli.Run run = Cli.run(testRegistry(), tiny());
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        assertTrue(run.out().contains("grad GFLOP/s") && run.out().contains("RSS MiB after"), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("quad ")), run.out());
        assertTrue(run.out().lines().anyMatch(l -> l.startsWith("noflops ") && l.contains("n/a")), run.out());
    }

    @Test
    void unknownRegularizerIsAOneLineUsageErrorListingTheKnownOnes() {
        Cli.Run run = Cli.run(testRegistry(), tiny("-r", "quad,tv"));
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals("", run.out());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("unknown regularizer 'tv'; known: quad, noflops"), run.err());
    }

    /** -o builds the families through the model/config factory: the FoE potential reaches the benchmark. */
    @Test
    void optionsBuildTheFamilyLikeAModelFile() throws Exception {
        Cli.Run run = Cli.run(Registry.standard(), tiny("--json", "-r", "foe", "-o", "filters=2", "-o", "size=3",
                "--option", "potential=logcosh"));
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        JsonNode kernels = parse(run.out()).get("kernels");
        assertEquals(1, kernels.size());
        assertEquals("foe{filters=2, size=3, potential=logcosh}", kernels.get(0).get("name").asText());
        assertEquals(2 * 9 + 2 + 1, kernels.get(0).get("params").asInt());
        double n = 12 * 10;
        assertEquals(4 * 2 * 9 * n + 6 * 2 * n, kernels.get(0).get("gradientFlops").asDouble(), 0.0,
                "the log-cosh flop model");

        Cli.Run bad = Cli.run(Registry.standard(), tiny("-r", "foe", "-o", "potential=huber"));
        assertEquals(Main.EXIT_USAGE, bad.code());
        assertEquals("", bad.out());
        assertEquals(1, bad.errLines().length, bad.err());
        assertTrue(bad.err().contains("option 'potential' of regularizer 'foe' must be one of charbonnier, logcosh, got 'huber'"),
                bad.err());
    }

    @Test
    void emptyRegistryGivesAnEmptyReportAndANote() throws Exception {
        Cli.Run run = Cli.run(new Registry(Map.of()), tiny("--json"));
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        assertEquals(0, parse(run.out()).get("kernels").size());
        assertTrue(run.err().contains("no regularizer is registered"), run.err());
    }

    @Test
    void failingKernelIsAnInternalError() {
        Map<String, Supplier<Regularizer>> m = new LinkedHashMap<>();
        m.put("broken", () -> new QuadraticTestRegularizer("broken", true) {
            @Override
            public Instance bind(double[] theta, DataType dataType) {
                Instance healthy = super.bind(theta, dataType);
                return (Instance) java.lang.reflect.Proxy.newProxyInstance(Instance.class.getClassLoader(),
                        new Class<?>[]{Instance.class}, (proxy, method, args) -> {
                            Object result = method.invoke(healthy, args);
                            if (method.getName().equals("hessianVector")) {
                                ((INDArray) args[2]).assign(Double.NaN);
                            }
                            return result;
                        });
            }
        });
        Cli.Run run = Cli.run(new Registry(m), tiny("--json"));
        assertEquals(Main.EXIT_INTERNAL, run.code());
        assertEquals("", run.out());
        assertTrue(run.err().contains("internal error") && run.err().contains("broken"), run.err());
    }
}
