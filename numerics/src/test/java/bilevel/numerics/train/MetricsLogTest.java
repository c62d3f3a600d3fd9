package bilevel.numerics.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsLogTest {
    @TempDir
    Path dir;

    @Test
    void readsWhatTheWriterWritesAndNewerFields() throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsWriter w = new MetricsWriter(f)) {
            w.write(new StepMetrics(0, 10, 0.5, 0.2, 1e-2, 1e-2, 0.01, 3.0, 0.1, true, true, null, 0, 0));
            w.write(new StepMetrics(1, 25, 1.0, 0.1, 5e-3, 5e-3, 0.007, 2.0, 0.05, false, true, 27.5, 1, 0));
        }
        Files.writeString(f, "{\"step\":2,\"computations\":40,\"staleness\":[0,1,1]}\n{\"step\":3,\"staleness\":2}\n",
                java.nio.file.StandardOpenOption.APPEND);
        MetricsLog log = MetricsLog.read(f);
        assertEquals(4, log.size());
        assertFalse(log.tornLastLine());
        assertArrayEquals(new double[]{10, 25, 40, Double.NaN}, log.column("computations"));
        double[] psnr = log.column("validationPsnr");
        assertTrue(Double.isNaN(psnr[0]) && psnr[1] == 27.5 && Double.isNaN(psnr[2]));
        assertArrayEquals(new boolean[]{true, false, false, false}, log.flags("certified"));
        assertTrue(log.has("staleness"));
        assertFalse(log.has("nonsense"));
        // the writer records staleness 0 for its two synchronous steps, then the appended lines
        assertEquals(List.of(0.0, 0.0, 0.0, 1.0, 1.0, 2.0), log.values("staleness"));
        assertTrue(log.fields().containsAll(List.of("step", "zNorm", "staleness")));
    }

    @Test
    void tornLastLineIsSkippedButACorruptMiddleLineIsAnError() throws IOException {
        Path f = dir.resolve("m.jsonl");
        Files.writeString(f, "{\"step\":0,\"batchLoss\":1}\n{\"step\":1,\"batchLoss\":0.5}\n{\"step\":2,\"batch");
        MetricsLog log = MetricsLog.read(f);
        assertEquals(2, log.size());
        assertTrue(log.tornLastLine());

        Files.writeString(f, "{\"step\":0}\n{\"step\":1,,}\n{\"step\":2}\n");
        TrainingException e = assertThrows(TrainingException.class, () -> MetricsLog.read(f));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        Files.writeString(f, "{\"step\":0}\n[1,2]\n");
        assertTrue(assertThrows(TrainingException.class, () -> MetricsLog.read(f)).getMessage().contains("not a JSON object"));

        Files.writeString(f, "\n\n");
        assertTrue(MetricsLog.read(f).isEmpty());
        assertTrue(assertThrows(TrainingException.class, () -> MetricsLog.read(dir.resolve("none.jsonl")))
                .getMessage().contains("not found"));
    }
}
