package bilevel.numerics.eval;

import bilevel.numerics.image.Images;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderTest {
    @TempDir
    Path dir;

    private static String error(Runnable r) {
        EvaluationException e = assertThrows(EvaluationException.class, r::run);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void listsImagesInNameOrderAndIgnoresOtherFiles() throws IOException {
        Images.write(dir.resolve("b.png"), Nd4j.rand(DataType.DOUBLE, 12, 12));
        Images.write(dir.resolve("a.TIF"), Nd4j.rand(DataType.DOUBLE, 12, 14));
        Files.writeString(dir.resolve("notes.txt"), "hello");
        Files.createDirectory(dir.resolve("sub.png"));
        ImageIO.write(new BufferedImage(12, 12, BufferedImage.TYPE_INT_RGB), "png", dir.resolve("c.png").toFile());
        List<ImageFolder.Entry> entries = ImageFolder.load(dir, "test");
        assertEquals(List.of("a.TIF", "b.png", "c.png"), entries.stream().map(ImageFolder.Entry::name).toList());
        assertEquals(14, entries.get(0).image().size(1));
        assertEquals("", entries.get(1).conversion());
        assertTrue(entries.get(2).conversion().contains("luma"));
        entries.forEach(e -> e.image().close());
    }

    @Test
    void badFoldersAndImagesAreOneLineErrors() throws IOException {
        assertTrue(error(() -> ImageFolder.load(dir.resolve("missing"), "test")).contains("test folder not found"));
        assertTrue(error(() -> ImageFolder.load(dir, "test")).contains("contains no images"));
        Files.writeString(dir.resolve("file"), "x");
        assertTrue(error(() -> ImageFolder.load(dir.resolve("file"), "test")).contains("not a folder"));

        Images.write(dir.resolve("small.png"), Nd4j.rand(DataType.DOUBLE, 8, 30));
        assertTrue(error(() -> ImageFolder.load(dir, "test")).contains("at least 11x11"));
        Files.delete(dir.resolve("small.png"));

        Images.write(dir.resolve("wide.tif"), Nd4j.rand(DataType.DOUBLE, 12, 12).muli(255));
        assertTrue(error(() -> ImageFolder.load(dir, "test")).contains("outside [0, 1]"));
        Files.delete(dir.resolve("wide.tif"));

        Files.write(dir.resolve("broken.png"), new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0});
        assertTrue(error(() -> ImageFolder.load(dir, "test")).contains("broken.png"));
    }
}
