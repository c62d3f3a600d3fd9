package bilevel.cli.tools;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import java.util.List;

/** Pictures for reports: gray images and filter banks as PNG bytes and data URIs. */
final class Pictures {
    /** Background of the filter mosaic (between tiles). */
    static final int GAP_GRAY = 255;

    private Pictures() {
    }

    /** 8-bit gray image of an [H, W] array with values clipped to [0, 1] (k = round(255·v)). */
    static BufferedImage gray(INDArray image) {
        int h = (int) image.size(0);
        int w = (int) image.size(1);
        double[] v = image.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        int[] samples = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            samples[i] = (int) Math.round(255 * Math.min(1, Math.max(0, v[i])));
        }
        img.getRaster().setSamples(0, 0, w, h, 0, samples);
        return img;
    }

    /**
     * A mosaic of square filters k (each s×s, {@code k[row][column]}), ⌈√n⌉ per row, each tap drawn as a
     * {@code scale}×{@code scale} block, tiles separated by {@code gap} white pixels. Each filter is shown
     * with its own symmetric scale: gray = 0.5 + 0.5·k/max|k| (mid-gray = 0, white = the largest positive tap,
     * black = its negative), so the sign pattern of every filter is visible whatever its norm.
     */
    static BufferedImage filterMosaic(List<double[][]> filters, int scale, int gap) {
        if (filters.isEmpty()) {
            throw new IllegalArgumentException("no filters");
        }
        int size = 0;
        for (double[][] k : filters) {
            size = Math.max(size, k.length);
        }
        int n = filters.size();
        int cols = (int) Math.ceil(Math.sqrt(n));
        int rows = (n + cols - 1) / cols;
        int tile = size * scale;
        int width = cols * tile + (cols + 1) * gap;
        int height = rows * tile + (rows + 1) * gap;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        var raster = img.getRaster();
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                raster.setSample(x, y, 0, GAP_GRAY);
            }
        }
        for (int f = 0; f < n; f++) {
            double[][] k = filters.get(f);
            double max = 0;
            for (double[] row : k) {
                for (double v : row) {
                    max = Math.max(max, Math.abs(v));
                }
            }
            int x0 = gap + (f % cols) * (tile + gap);
            int y0 = gap + (f / cols) * (tile + gap);
            for (int r = 0; r < k.length; r++) {
                for (int c = 0; c < k[r].length; c++) {
                    double g = max == 0 ? 0.5 : 0.5 + 0.5 * k[r][c] / max;
                    int sample = (int) Math.round(255 * Math.min(1, Math.max(0, g)));
                    for (int dy = 0; dy < scale; dy++) {
                        for (int dx = 0; dx < scale; dx++) {
                            raster.setSample(x0 + c * scale + dx, y0 + r * scale + dy, 0, sample);
                        }
                    }
                }
            }
        }
        return img;
    }

    static byte[] png(BufferedImage img) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, "png", out)) {
                throw new IllegalStateException("no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode PNG: " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    static String dataUri(byte[] png) {
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png);
    }
}
