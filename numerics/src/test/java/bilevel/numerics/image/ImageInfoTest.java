package bilevel.numerics.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageInfoTest {
    @TempDir
    Path dir;

    private Path write(BufferedImage img, String name) throws IOException {
        Path f = dir.resolve(name);
        assertTrue(ImageIO.write(img, name.substring(name.lastIndexOf('.') + 1), f.toFile()));
        return f;
    }

    @Test
    void describesHowEachKindOfFileIsConverted() throws IOException {
        Path gray = dir.resolve("g.png");
        Images.write(gray, Nd4j.rand(DataType.DOUBLE, 12, 13));
        ImageInfo g = ImageInfo.of(gray);
        assertEquals(new ImageInfo("PNG", 13, 12, 1, false, false, false, 8, false), g);
        assertTrue(g.plainGray8());
        assertEquals("", g.conversion());

        ImageInfo rgb = ImageInfo.of(write(new BufferedImage(12, 12, BufferedImage.TYPE_INT_RGB), "c.png"));
        assertEquals(3, rgb.colorBands());
        assertTrue(rgb.conversion().contains("luma"), rgb.conversion());

        ImageInfo rgba = ImageInfo.of(write(new BufferedImage(12, 12, BufferedImage.TYPE_INT_ARGB), "a.png"));
        assertTrue(rgba.alpha());
        assertTrue(rgba.conversion().contains("alpha channel ignored"), rgba.conversion());

        ImageInfo deep = ImageInfo.of(write(new BufferedImage(12, 12, BufferedImage.TYPE_USHORT_GRAY), "d.png"));
        assertEquals(16, deep.bitsPerSample());
        assertTrue(deep.conversion().contains("16-bit samples scaled to [0, 1] by 1/65535"), deep.conversion());

        byte[] v = {0, (byte) 128, (byte) 255};
        ImageInfo grayPalette = ImageInfo.of(write(new BufferedImage(12, 12, BufferedImage.TYPE_BYTE_INDEXED,
                new IndexColorModel(8, 3, v, v, v)), "p.png"));
        assertTrue(grayPalette.palette() && grayPalette.grayPalette());
        byte[] red = {(byte) 255, 0, 0};
        ImageInfo colourPalette = ImageInfo.of(write(new BufferedImage(12, 12, BufferedImage.TYPE_BYTE_INDEXED,
                new IndexColorModel(8, 3, red, v, v)), "q.png"));
        assertFalse(colourPalette.grayPalette());
        assertTrue(colourPalette.conversion().contains("palette colours converted"), colourPalette.conversion());

        Path tif = dir.resolve("f.tif");
        Images.write(tif, Nd4j.rand(DataType.DOUBLE, 12, 12));
        ImageInfo f = ImageInfo.of(tif);
        assertTrue(f.floating());
        assertEquals("TIFF", f.format());
        assertTrue(f.conversion().contains("floating-point"), f.conversion());
    }

    @Test
    void unreadableFilesAreOneLineErrors() throws IOException {
        Path junk = dir.resolve("junk.png");
        Files.writeString(junk, "not an image");
        ImageException e = assertThrows(ImageException.class, () -> ImageInfo.of(junk));
        assertTrue(e.getMessage().contains("junk.png"));
        assertFalse(e.getMessage().contains("\n"));
    }
}
