package bilevel.cli;

import bilevel.cli.bench.BenchClusterCommand;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bilevel bench cluster with a tiny workload: solver nodes in separate JVMs; one JSON document whose
 * fields are present and sane (no timing asserted).
 */
class BenchClusterCommandTest {

    @Test
    @Tag("cluster")
    void jsonReportHasTheThreeLayoutsTheRatioAndTheOverhead(@TempDir Path tmp) throws Exception {
        Path traces = tmp.resolve("traces");
        Cli.Run run = Cli.run("bench", "cluster", "--config", TrainCommandTest.tinyConfig().toString(),
                "--samples", "6", "--size", "16", "--repeats", "1", "--trace", traces.toString(), "--json", "--node-java-option=-Xmx384m", "--node-java-option=-XX:TieredStopAtLevel=1",
                "--timeout", "5m");
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        JsonNode report = new ObjectMapper().readTree(run.out());
        assertEquals("tv", report.get("regularizer").asText());
        assertEquals(16, report.get("crop").asInt());
        assertEquals(6, report.get("hypergradientsPerRun").asInt());
        JsonNode runs = report.get("runs");
        assertEquals(3, runs.size());
        int[] nodes = {1, 2, 2};
        int[] perNode = {2, 1, 1};
        int[] prefetch = {2, 2, 1};
        for (int i = 0; i < 3; i++) {
            JsonNode r = runs.get(i);
            assertEquals(i + 1, r.get("order").asInt(), r.toString());
            assertEquals(nodes[i], r.get("nodes").asInt(), r.toString());
            assertEquals(perNode[i], r.get("solversPerNode").asInt(), r.toString());
            assertEquals(prefetch[i], r.get("prefetch").asInt(), r.toString());
            assertEquals(6, r.get("hypergradients").asInt(), "every run applies the same hypergradients");
            assertTrue(r.get("tracedItems").asInt() >= 6, "every answered item is traced: " + r);
            assertTrue(r.get("hypergradientsPerSecond").asDouble() > 0, r.toString());
            double outside = r.get("outsideNumericsFraction").asDouble();
            assertTrue(outside >= 0 && outside <= 1, r.toString());
            assertTrue(r.get("meanSolveMilliseconds").asDouble() > 0, r.toString());
            assertTrue(r.get("meanRoundTripMilliseconds").asDouble() >= r.get("meanSolveMilliseconds").asDouble(),
                    "a round trip contains the solve: " + r);
            for (String part : new String[]{"meanOutboundMilliseconds", "meanSolverSideMilliseconds", "meanInboundMilliseconds",
                    "meanSolverLostMilliseconds", "solverLostFraction"}) {
                assertTrue(r.get(part).asDouble() >= 0, part + " (one host, one clock): " + r);
            }
        }
        assertTrue(report.get("throughputRatio").asDouble() > 0, report.toString());
        assertEquals(1, report.get("repeats").asInt());
        assertEquals(1, report.get("pairThroughputRatios").size(), report.toString());
        assertEquals(report.get("throughputRatio").asDouble(), report.get("pairThroughputRatios").get(0).asDouble(), 1e-12,
                "one pair: its ratio is the ratio");
        assertTrue(report.get("wholeRunThroughputRatio").asDouble() > 0, report.toString());
        assertTrue(report.get("roundTripOverheadFraction").asDouble() >= 0, report.toString());
        assertTrue(report.get("meanRoundTripOverheadMilliseconds").asDouble() >= 0, report.toString());
        assertTrue(report.get("solverLostFraction").asDouble() >= 0, report.toString());
        assertTrue(report.get("messagingFloorMilliseconds").asDouble() > 0, report.toString());
        assertEquals(0.9, report.get("targetThroughputRatio").asDouble());
        assertEquals(0.02, report.get("targetRoundTripOverheadFraction").asDouble());
        assertTrue(report.get("machine").has("cores"));
        // --trace: one file per run, a line per traced item with the same split
        for (int i = 0; i < 3; i++) {
            JsonNode r = runs.get(i);
            Path file = traces.resolve("run-" + (i + 1) + "-" + r.get("nodes").asInt() + "x" + r.get("solversPerNode").asInt()
                    + "-p" + r.get("prefetch").asInt() + ".tsv");
            List<String> lines = Files.readAllLines(file);
            assertEquals("work_id\tsolver\tout_ms\taround_ms\tback_ms\tsolve_ms", lines.get(0));
            assertEquals(r.get("tracedItems").asInt(), lines.size() - 1, file.toString());
            double out = 0;
            int n = 0;
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.split("\t");
                assertEquals(6, f.length, line);
                if (Double.parseDouble(f[2]) >= 0) {
                    out += Double.parseDouble(f[2]);
                    n++;
                }
            }
            assertTrue(n > 0, file.toString());
            assertEquals(r.get("meanOutboundMilliseconds").asDouble(), out / n, 0.01, "the file's split is the report's");
        }
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        Cli.Run run = Cli.run("bench", "cluster", "--samples", "2");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--hypergradients must be at least 4"), run.err());
        run = Cli.run("bench", "cluster", "--repeats", "0");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--repeats must be at least 1"), run.err());
        run = Cli.run("bench", "cluster", "--timeout", "soon");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--timeout"), run.err());
    }

    @Test
    void pairsAlternateTheirOrderAndStrictPullingComesLast() {
        assertEquals(List.of(BenchClusterCommand.ONE_NODE, BenchClusterCommand.TWO_NODES, BenchClusterCommand.STRICT),
                BenchClusterCommand.plan(1));
        assertEquals(List.of(BenchClusterCommand.ONE_NODE, BenchClusterCommand.TWO_NODES,
                        BenchClusterCommand.TWO_NODES, BenchClusterCommand.ONE_NODE,
                        BenchClusterCommand.ONE_NODE, BenchClusterCommand.TWO_NODES, BenchClusterCommand.STRICT),
                BenchClusterCommand.plan(3));
        assertEquals(2.0, BenchClusterCommand.mean(List.of(1.0, 3.0)), 0);
        assertTrue(Double.isNaN(BenchClusterCommand.mean(List.of())));
    }

    @Test
    void steadyRateLeavesOutTheFirstQuarter() {
        // 8 answers, 1 s apart after a slow start: the first two (k = 2) are left out, 5 intervals of 1 s remain
        long s = 1_000_000_000L;
        long[] t = {0, 10 * s, 11 * s, 12 * s, 13 * s, 14 * s, 15 * s, 16 * s};
        assertEquals(5.0 / 5.0, BenchClusterCommand.steadyRate(t), 1e-12);
        assertTrue(Double.isNaN(BenchClusterCommand.steadyRate(new long[]{0, s})));
    }
}
