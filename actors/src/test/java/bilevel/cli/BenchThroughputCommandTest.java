package bilevel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bilevel bench throughput: one JSON document with a run per solver count (no timing asserted). */
class BenchThroughputCommandTest {

    @Test
    void jsonReportHasARunPerSolverCountAndTheSpeedup() throws Exception {
        Cli.Run run = Cli.run("bench", "throughput", "--config", TrainCommandTest.tinyConfig().toString(),
                "--hypergradients", "6", "--solvers", "1,2", "--json");
        assertEquals(Main.EXIT_OK, run.code(), run.err());
        JsonNode report = new ObjectMapper().readTree(run.out());
        assertEquals("tv", report.get("regularizer").asText());
        assertEquals(6, report.get("hypergradientsPerRun").asInt());
        assertEquals(2, report.get("runs").size());
        for (int i = 0; i < 2; i++) {
            JsonNode r = report.get("runs").get(i);
            assertEquals(i + 1, r.get("solvers").asInt());
            assertEquals(6, r.get("hypergradients").asInt(), "every run computes the same hypergradients");
            double outside = r.get("outsideNumericsFraction").asDouble();
            assertTrue(outside >= 0 && outside <= 1, r.toString());
            assertTrue(r.get("hypergradientsPerSecond").asDouble() > 0, r.toString());
        }
        assertTrue(report.get("speedup").asDouble() > 0);
        assertTrue(report.get("machine").has("cores"));
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        Cli.Run run = Cli.run("bench", "throughput", "--hypergradients", "1");
        assertEquals(Main.EXIT_USAGE, run.code());
        assertEquals(1, run.errLines().length, run.err());
        assertTrue(run.err().contains("--hypergradients"), run.err());
    }
}
