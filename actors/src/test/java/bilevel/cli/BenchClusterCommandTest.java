package bilevel.cli;

import bilevel.cli.bench.BenchClusterCommand;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bilevel bench cluster with a tiny workload: solver nodes in separate JVMs; one JSON document whose
 * fields are present and sane (no timing asserted).
 */
class BenchClusterCommandTest {

    @Test
    @Tag("cluster")
    void jsonReportHasTheThreeLayoutsTheRatioAndTheOverhead() throws Exception {
        Cli.Run run = Cli.run("bench", "cluster", "--config", TrainCommandTest.tinyConfig().toString(),
                "--samples", "6", "--size", "16", "--json", "--node-java-option=-Xmx384m", "--node-java-option=-XX:TieredStopAtLevel=1",
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
        assertTrue(report.get("wholeRunThroughputRatio").asDouble() > 0, report.toString());
        assertTrue(report.get("roundTripOverheadFraction").asDouble() >= 0, report.toString());
        assertTrue(report.get("meanRoundTripOverheadMilliseconds").asDouble() >= 0, report.toString());
        assertTrue(report.get("solverLostFraction").asDouble() >= 0, report.toString());
        assertTrue(report.get("messagingFloorMilliseconds").asDouble() > 0, report.toString());
        assertEquals(0.9, report.get("targetThroughputRatio").asDouble());
        assertEquals(0.02, report.get("targetRoundTripOverheadFraction").asDouble());
        assertTrue(report.get("machine").has("cores"));
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        Cli.Run run = Cli.run("bench", "cluster", "--samples", "2");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--hypergradients must be at least 4"), run.err());
        run = Cli.run("bench", "cluster", "--timeout", "soon");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--timeout"), run.err());
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
