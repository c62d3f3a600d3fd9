package bilevel.numerics.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImagesTest {

    @TempDir
    Path dir;

    /** [h, w] DOUBLE array of k/255 values with random k. */
    private static INDArray random8bit(Random r, int h, int w) {
        INDArray a = Nd4j.create(DataType.DOUBLE, h, w);
        for (int i = 0; i < h * w; i++) {
            a.putScalar(i, r.nextInt(256) / 255.0);
        }
        return a;
    }

    /** Same shape and data type, and bit-for-bit equal values (INDArray.equals only compares up to 1e-5). */
    static void assertExactlyEqual(INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape());
        assertEquals(expected.dataType(), actual.dataType());
        for (long i = 0; i < expected.length(); i++) {
            assertEquals(expected.getDouble(i), actual.getDouble(i), 0.0, "entry " + i);
        }
    }

    private static void assertOneLineNaming(ImageException e, Path file) {
        String m = e.getMessage();
        assertNotNull(m);
        assertFalse(m.contains("\n") || m.contains("\r"), "message must be one line: " + m);
        assertTrue(m.contains(file.toString()), "message must name the file: " + m);
    }

    @Test
    void eightBitPngRoundTripIsExactInBothTypes() {
        Random r = new Random(1);
        INDArray img = random8bit(r, 17, 23);
        Path f = dir.resolve("gray.png");
        Images.write(f, img);
        INDArray d = Images.read(f, DataType.DOUBLE);
        assertEquals(DataType.DOUBLE, d.dataType());
        assertArrayEquals(new long[]{17, 23}, d.shape());
        assertExactlyEqual(img, d);
        INDArray fl = Images.read(f, DataType.FLOAT);
        assertEquals(DataType.FLOAT, fl.dataType());
        assertExactlyEqual(img.castTo(DataType.FLOAT), fl);
        // writing the FLOAT copy again gives the same bytes of pixel data
        Path g = dir.resolve("gray2.png");
        Images.write(g, fl);
        assertExactlyEqual(img, Images.read(g, DataType.DOUBLE));
    }

    @Test
    void pngWriteClipsAndRoundsToEightBits() {
        INDArray img = Nd4j.createFromArray(new double[][]{{-0.3, 0.0, 0.5, 1.0, 1.7, 0.2 / 255 + 0.1}});
        Path f = dir.resolve("clip.png");
        Images.write(f, img);
        INDArray back = Images.read(f, DataType.DOUBLE);
        double[] expected = {0, 0, Math.round(0.5 * 255) / 255.0, 1, 1, Math.round((0.2 / 255 + 0.1) * 255) / 255.0};
        assertArrayEquals(expected, back.data().asDouble(), 0.0);
    }

    @Test
    void sixteenBitPngIsScaledBy65535() throws IOException {
        Random r = new Random(2);
        int h = 9;
        int w = 14;
        BufferedImage bi = new BufferedImage(w, h, BufferedImage.TYPE_USHORT_GRAY);
        int[] samples = new int[h * w];
        for (int i = 0; i < samples.length; i++) {
            samples[i] = r.nextInt(65536);
        }
        samples[0] = 65535;
        samples[1] = 0;
        bi.getRaster().setSamples(0, 0, w, h, 0, samples);
        Path f = dir.resolve("g16.png");
        assertTrue(ImageIO.write(bi, "png", f.toFile()));
        INDArray img = Images.read(f, DataType.DOUBLE);
        for (int i = 0; i < samples.length; i++) {
            assertEquals(samples[i] / 65535.0, img.getDouble(i / w, i % w), 0.0);
        }
        assertEquals(1.0, img.getDouble(0, 0), 0.0);
    }

    @Test
    void floatTiffRoundTripIsExact() {
        Random r = new Random(3);
        INDArray img = Nd4j.create(DataType.FLOAT, 12, 19);
        for (int i = 0; i < img.length(); i++) {
            img.putScalar(i, (float) (r.nextGaussian() * 3));  // outside [0, 1] on purpose: TIFF is not clipped
        }
        img.putScalar(0, 1e-30f);
        for (String name : new String[]{"f.tif", "f.TIFF"}) {
            Path f = dir.resolve(name);
            Images.write(f, img);
            assertExactlyEqual(img, Images.read(f, DataType.FLOAT));
            assertExactlyEqual(img.castTo(DataType.DOUBLE), Images.read(f, DataType.DOUBLE));
        }
        // a DOUBLE array is stored rounded to float
        INDArray d = img.castTo(DataType.DOUBLE).addi(1e-12);
        Path g = dir.resolve("d.tiff");
        Images.write(g, d);
        assertExactlyEqual(d.castTo(DataType.FLOAT), Images.read(g, DataType.FLOAT));
    }

    @Test
    void grayJpegRoundTripIsClose() {
        int h = 48;
        int w = 64;
        INDArray img = Nd4j.create(DataType.DOUBLE, h, w);
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                img.putScalar(i, j, 0.5 + 0.4 * Math.sin(i / 7.0) * Math.cos(j / 9.0));
            }
        }
        for (String name : new String[]{"a.jpg", "b.jpeg"}) {
            Path f = dir.resolve(name);
            Images.write(f, img);
            INDArray back = Images.read(f, DataType.DOUBLE);
            assertArrayEquals(img.shape(), back.shape());
            double maxErr = maxAbsDiff(img, back);
            assertTrue(maxErr < 0.03, "JPEG max error " + maxErr);
            assertTrue(Metrics.psnr(back, img) > 40, "JPEG PSNR " + Metrics.psnr(back, img));
        }
    }

    private static double maxAbsDiff(INDArray a, INDArray b) {
        double m = 0;
        for (int i = 0; i < a.length(); i++) {
            m = Math.max(m, Math.abs(a.getDouble(i) - b.getDouble(i)));
        }
        return m;
    }

    @Test
    void rgbPngIsConvertedByLumaOnRasterSamples() throws IOException {
        Random r = new Random(4);
        int h = 7;
        int w = 11;
        for (int type : new int[]{BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_3BYTE_BGR, BufferedImage.TYPE_INT_ARGB}) {
            BufferedImage bi = new BufferedImage(w, h, type);
            int[][] rgb = new int[h * w][3];
            for (int i = 0; i < h * w; i++) {
                for (int c = 0; c < 3; c++) {
                    rgb[i][c] = r.nextInt(256);
                    bi.getRaster().setSample(i % w, i / w, c, rgb[i][c]);
                }
                if (bi.getRaster().getNumBands() == 4) {
                    bi.getRaster().setSample(i % w, i / w, 3, r.nextInt(256));  // alpha, ignored
                }
            }
            Path f = dir.resolve("rgb" + type + ".png");
            assertTrue(ImageIO.write(bi, "png", f.toFile()));
            INDArray img = Images.read(f, DataType.DOUBLE);
            for (int i = 0; i < h * w; i++) {
                double y = 0.299 * rgb[i][0] / 255.0 + 0.587 * rgb[i][1] / 255.0 + 0.114 * rgb[i][2] / 255.0;
                assertEquals(y, img.getDouble(i / w, i % w), 1e-12, "pixel " + i + " of image type " + type);
            }
        }
    }

    @Test
    void grayPaletteAndBinaryPngUseThePaletteValues() throws IOException {
        BufferedImage bi = new BufferedImage(5, 3, BufferedImage.TYPE_BYTE_BINARY);
        bi.getRaster().setSample(1, 2, 0, 1);
        bi.getRaster().setSample(4, 0, 0, 1);
        Path f = dir.resolve("bin.png");
        assertTrue(ImageIO.write(bi, "png", f.toFile()));
        INDArray img = Images.read(f, DataType.DOUBLE);
        assertEquals(2.0, img.sumNumber().doubleValue(), 0.0);
        assertEquals(1.0, img.getDouble(2, 1), 0.0);
        assertEquals(1.0, img.getDouble(0, 4), 0.0);
    }

    @Test
    void truncatedPngThrowsOneLineImageException() throws IOException {
        Random r = new Random(5);
        INDArray img = random8bit(r, 64, 64);  // noise does not compress: the IDAT chunk is large
        Path full = dir.resolve("full.png");
        Images.write(full, img);
        byte[] bytes = Files.readAllBytes(full);
        for (int keep : new int[]{bytes.length / 2, bytes.length - 20, 40}) {
            Path f = dir.resolve("truncated" + keep + ".png");
            Files.write(f, Arrays.copyOf(bytes, keep));
            ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
            assertOneLineNaming(e, f);
        }
    }

    @Test
    void corruptedPngChunkThrowsImageException() throws IOException {
        Path full = dir.resolve("ok.png");
        Images.write(full, random8bit(new Random(9), 32, 32));
        byte[] bytes = Files.readAllBytes(full);
        bytes[bytes.length / 2] ^= 0x10;   // one flipped bit inside the image data
        Path f = dir.resolve("flipped.png");
        Files.write(f, bytes);
        ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
        assertOneLineNaming(e, f);
    }

    @Test
    void truncatedTiffThrowsImageException() throws IOException {
        Path full = dir.resolve("ok.tif");
        Images.write(full, random8bit(new Random(10), 40, 40));
        byte[] bytes = Files.readAllBytes(full);
        for (int keep : new int[]{bytes.length / 2, 100, 6}) {
            Path f = dir.resolve("truncated" + keep + ".tif");
            Files.write(f, Arrays.copyOf(bytes, keep));
            assertOneLineNaming(assertThrows(ImageException.class, () -> Images.read(f, DataType.FLOAT)), f);
        }
    }

    @Test
    void truncatedJpegThrowsImageException() throws IOException {
        Random r = new Random(6);
        Path full = dir.resolve("full.jpg");
        Images.write(full, random8bit(r, 64, 64));
        byte[] bytes = Files.readAllBytes(full);
        Path f = dir.resolve("truncated.jpg");
        Files.write(f, Arrays.copyOf(bytes, bytes.length / 2));
        ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
        assertOneLineNaming(e, f);
    }

    @Test
    void randomBytesAndEmptyFilesThrowImageException() throws IOException {
        Random r = new Random(7);
        byte[] junk = new byte[4096];
        r.nextBytes(junk);
        Path f = dir.resolve("junk.png");
        Files.write(f, junk);
        ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
        assertOneLineNaming(e, f);
        Path empty = dir.resolve("empty.tif");
        Files.write(empty, new byte[0]);
        assertOneLineNaming(assertThrows(ImageException.class, () -> Images.read(empty, DataType.FLOAT)), empty);
        // a PNG signature followed by junk
        byte[] sig = {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
        byte[] fake = Arrays.copyOf(sig, 200);
        System.arraycopy(junk, 0, fake, sig.length, fake.length - sig.length);
        Path g = dir.resolve("fake.png");
        Files.write(g, fake);
        assertOneLineNaming(assertThrows(ImageException.class, () -> Images.read(g, DataType.DOUBLE)), g);
    }

    @Test
    void missingFileThrowsImageException() {
        Path f = dir.resolve("does-not-exist.png");
        ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
        assertOneLineNaming(e, f);
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
        assertOneLineNaming(assertThrows(ImageException.class, () -> Images.read(dir, DataType.DOUBLE)), dir);
    }

    @Test
    void unsupportedFormatsAndNaNAreRejected() throws IOException {
        BufferedImage bi = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
        Path bmp = dir.resolve("x.bmp");
        assertTrue(ImageIO.write(bi, "bmp", bmp.toFile()));
        assertOneLineNaming(assertThrows(ImageException.class, () -> Images.read(bmp, DataType.DOUBLE)), bmp);

        INDArray withNaN = Nd4j.create(DataType.FLOAT, 3, 3);
        withNaN.putScalar(4, Float.NaN);
        assertThrows(IllegalArgumentException.class, () -> Images.write(dir.resolve("n.tif"), withNaN));
        assertFalse(Files.exists(dir.resolve("n.tif")));
        assertThrows(ImageException.class, () -> Images.write(dir.resolve("x.gif"), Nd4j.zeros(DataType.DOUBLE, 2, 2)));
        assertThrows(IllegalArgumentException.class, () -> Images.write(dir.resolve("v.png"), Nd4j.zeros(DataType.DOUBLE, 4)));
    }

    @Test
    void nanInFloatTiffIsAnError() throws IOException {
        // build the TIFF with ImageIO directly, since Images.write refuses NaN
        java.awt.image.ComponentColorModel cm = new java.awt.image.ComponentColorModel(
                java.awt.color.ColorSpace.getInstance(java.awt.color.ColorSpace.CS_GRAY), false, false,
                java.awt.Transparency.OPAQUE, java.awt.image.DataBuffer.TYPE_FLOAT);
        java.awt.image.WritableRaster raster = cm.createCompatibleWritableRaster(4, 3);
        raster.setSample(2, 1, 0, Float.NaN);
        Path f = dir.resolve("nan.tif");
        assertTrue(ImageIO.write(new BufferedImage(cm, raster, false, null), "tiff", f.toFile()));
        ImageException e = assertThrows(ImageException.class, () -> Images.read(f, DataType.DOUBLE));
        assertOneLineNaming(e, f);
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
    }

    @Test
    void writeReplacesAtomicallyAndLeavesNoTemporaryFiles() throws IOException {
        Random r = new Random(8);
        Path f = dir.resolve("out.png");
        INDArray a = random8bit(r, 5, 6);
        INDArray b = random8bit(r, 8, 3);
        Images.write(f, a);
        Images.write(f, b);
        assertExactlyEqual(b, Images.read(f, DataType.DOUBLE));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count(), "only the target file remains");
        }
        // writing into a missing directory fails cleanly
        Path bad = dir.resolve("no-such-dir").resolve("x.png");
        assertOneLineNaming(assertThrows(ImageException.class, () -> Images.write(bad, a)), bad);
    }

    @Test
    void imageIoHasATiffWriter() {
        assertTrue(ImageIO.getImageWritersByFormatName("tiff").hasNext());
        assertTrue(ImageIO.getImageReadersByFormatName("tiff").hasNext());
    }
}
