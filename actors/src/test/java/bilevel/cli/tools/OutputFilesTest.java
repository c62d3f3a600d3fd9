package bilevel.cli.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class OutputFilesTest {
    @TempDir
    Path tmp;

    @Test
    void nothingAppearsWithoutACommit() throws IOException {
        Path existing = Files.createDirectories(tmp.resolve("existing"));
        Files.writeString(existing.resolve("keep.txt"), "old");
        Path created = tmp.resolve("new/deeper");
        try (OutputFiles files = new OutputFiles()) {
            Files.writeString(files.stage(existing.resolve("a.png")), "a");
            Files.writeString(files.stage(created.resolve("b.png")), "b");
            files.put(existing.resolve("keep.txt"), "new".getBytes(StandardCharsets.UTF_8));
            // the command fails here: no commit
        }
        assertEquals(List.of("keep.txt"), Tools.listing(existing), "no staged file, no staging folder");
        assertEquals("old", Files.readString(existing.resolve("keep.txt")));
        assertFalse(Files.exists(tmp.resolve("new")), "folders created for the outputs are removed again");
    }

    @Test
    void commitMovesEverythingIntoPlace() throws IOException {
        Path dir = tmp.resolve("out");
        List<Path> written;
        try (OutputFiles files = new OutputFiles()) {
            Files.writeString(files.stage(dir.resolve("a.png")), "a");
            files.put(tmp.resolve("r.csv"), "x,y\n".getBytes(StandardCharsets.UTF_8));
            written = files.commit();
        }
        assertEquals(List.of(dir.resolve("a.png").toAbsolutePath(), tmp.resolve("r.csv").toAbsolutePath()), written);
        assertEquals(List.of("a.png"), Tools.listing(dir));
        assertEquals("a", Files.readString(dir.resolve("a.png")));
        assertEquals("x,y\n", Files.readString(tmp.resolve("r.csv")));
    }
}
