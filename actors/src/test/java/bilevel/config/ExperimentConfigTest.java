package bilevel.config;

import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExperimentConfigTest {

    @TempDir
    Path dir;

    private Path write(String text) throws IOException {
        Path f = dir.resolve("exp.conf");
        Files.writeString(f, text);
        return f;
    }

    @Test
    void defaultsMakeAValidSpec() {
        TrainingSpec s = ExperimentConfig.toSpec(ExperimentConfig.load(null, Map.of()));
        assertEquals("embedded", s.data().train());
        assertTrue(s.train().budget() > 0);
    }

    @Test
    void fileOverridesDefaultsAndCommandLineOverridesFile() throws IOException {
        Path f = write("bilevel { train { batch = 4, budget = 500 }, regularizer { type = tv } }");
        TrainingSpec s = ExperimentConfig.toSpec(ExperimentConfig.load(f, Map.of("train.budget", "900")));
        assertEquals(4, s.train().batch());
        assertEquals(900, s.train().budget());
        assertEquals("tv", s.regularizer().type());
    }

    @Test
    void regularizerOptionsAreFreeForm() throws IOException {
        Path f = write("bilevel.regularizer { type = crr, options { channels = [1, 4, 8], size = 3 } }");
        TrainingSpec s = ExperimentConfig.toSpec(ExperimentConfig.load(f, Map.of()));
        assertEquals(List.of(1, 4, 8), s.regularizer().options().get("channels"));
        assertEquals(3, s.regularizer().options().get("size"));
    }

    @Test
    void relativeDataFoldersAreRelativeToTheConfigFile() throws IOException {
        Path f = write("bilevel.data { train = \"images/train\", validation = embedded }");
        TrainingSpec s = ExperimentConfig.toSpec(ExperimentConfig.load(f, Map.of()));
        assertEquals(dir.resolve("images/train").toAbsolutePath().normalize().toString(), s.data().train());
        assertEquals("embedded", s.data().validation());
    }

    @Test
    void unknownKeyIsOneLineErrorWithLineAndSuggestion() throws IOException {
        Path f = write("bilevel {\n  train {\n    bacth = 4\n  }\n}\n");
        var e = assertThrows(ExperimentConfig.ConfigError.class, () -> ExperimentConfig.load(f, Map.of()));
        assertTrue(e.getMessage().contains("bilevel.train.bacth"), e.getMessage());
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
        assertTrue(e.getMessage().contains("bilevel.train.batch"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void unknownTopLevelSectionIsRejected() throws IOException {
        Path f = write("training { batch = 4 }");
        var e = assertThrows(ExperimentConfig.ConfigError.class, () -> ExperimentConfig.load(f, Map.of()));
        assertTrue(e.getMessage().contains("training"));
    }

    @Test
    void missingFileAndSyntaxErrorAndWrongType() throws IOException {
        assertThrows(ExperimentConfig.ConfigError.class, () -> ExperimentConfig.load(dir.resolve("nope.conf"), Map.of()));
        Path bad = write("bilevel { train { batch = ");
        assertThrows(ExperimentConfig.ConfigError.class, () -> ExperimentConfig.load(bad, Map.of()));
        Path wrong = write("bilevel.train.batch = many");
        var e = assertThrows(ExperimentConfig.ConfigError.class,
                () -> ExperimentConfig.toSpec(ExperimentConfig.load(wrong, Map.of())));
        assertFalse(e.getMessage().contains("\n"));
        Path negative = write("bilevel.train.batch = 0");
        assertThrows(ExperimentConfig.ConfigError.class,
                () -> ExperimentConfig.toSpec(ExperimentConfig.load(negative, Map.of())));
        assertThrows(ExperimentConfig.ConfigError.class, () -> ExperimentConfig.load(null, Map.of("train.nonsense", "1")));
    }
}
