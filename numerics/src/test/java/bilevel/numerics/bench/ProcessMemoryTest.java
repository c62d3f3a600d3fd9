package bilevel.numerics.bench;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcessMemoryTest {

    private static final List<String> STATUS = List.of(
            "Name:\tjava",
            "VmPeak:\t 9000000 kB",
            "VmHWM:\t  409600 kB",
            "VmRSS:\t  204800 kB",
            "Threads:\t42");

    @Test
    void parsesKibibytesIntoMebibytes() {
        assertEquals(200.0, ProcessMemory.parseField(STATUS, "VmRSS"), 0.0);
        assertEquals(400.0, ProcessMemory.parseField(STATUS, "VmHWM"), 0.0);
    }

    @Test
    void missingOrMalformedFieldsAreNaN() {
        assertTrue(Double.isNaN(ProcessMemory.parseField(STATUS, "VmSwap")));
        assertTrue(Double.isNaN(ProcessMemory.parseField(STATUS, "Threads")), "no unit: not a memory field");
        assertTrue(Double.isNaN(ProcessMemory.parseField(List.of("VmRSS:\t  lots kB"), "VmRSS")));
        assertTrue(Double.isNaN(ProcessMemory.parseField(List.of(), "VmRSS")));
    }

    @Test
    void readsThisProcessWhereProcIsAvailable() {
        double rss = ProcessMemory.residentMegabytes();
        if (Files.isReadable(Path.of("/proc/self/status"))) {
            assertTrue(rss > 0, "VmRSS of a running JVM is positive, got " + rss);
            assertTrue(ProcessMemory.peakResidentMegabytes() >= rss);
            assertTrue(ProcessMemory.residentSource().startsWith("VmRSS"));
        } else {
            assertTrue(Double.isNaN(rss));
            assertEquals("n/a", ProcessMemory.residentSource());
        }
    }
}
