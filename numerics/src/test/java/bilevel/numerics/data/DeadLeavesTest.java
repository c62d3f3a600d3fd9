package bilevel.numerics.data;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeadLeavesTest {

    @Test
    void sameSeedSameImageDifferentSeedDifferentImage() {
        DeadLeaves g = new DeadLeaves();
        double[] a = g.generate(96, 96, 42);
        double[] b = new DeadLeaves().generate(96, 96, 42);
        double[] c = g.generate(96, 96, 43);
        assertArrayEquals(a, b, 0.0);
        assertFalse(Arrays.equals(a, c));
    }

    @Test
    void valuesAreInTheUnitIntervalForAnySize() {
        DeadLeaves g = new DeadLeaves(1, 20);
        int[][] sizes = {{1, 1}, {1, 37}, {3, 200}, {64, 48}, {96, 96}};
        for (int[] hw : sizes) {
            double[] img = g.generate(hw[0], hw[1], 7);
            assertEquals(hw[0] * hw[1], img.length);
            for (double v : img) {
                assertTrue(v >= 0 && v <= 1, "value " + v);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> g.generate(0, 5, 1));
    }

    @Test
    void imagesArePiecewiseConstant() {
        double[] img = new DeadLeaves().generate(96, 96, 5);
        Set<Double> levels = new HashSet<>();
        for (double v : img) {
            levels.add(v);
        }
        // many leaves are visible, but far fewer gray levels than pixels
        assertTrue(levels.size() > 20, "only " + levels.size() + " levels");
        assertTrue(levels.size() < img.length / 10, levels.size() + " levels");
        // most horizontal neighbours lie on the same leaf
        int equal = 0;
        for (int i = 0; i < 96; i++) {
            for (int j = 0; j + 1 < 96; j++) {
                if (img[i * 96 + j] == img[i * 96 + j + 1]) {
                    equal++;
                }
            }
        }
        assertTrue(equal > 0.7 * 96 * 95, equal + " equal neighbours");
    }

    /** The first disc (drawn in the documented order u, c_y, c_x, gray) lies on top: fully visible. */
    @Test
    void firstDiscIsOnTopAndMatchesTheDocumentedDraws() {
        DeadLeaves g = new DeadLeaves(2, 48);
        int h = 96;
        int w = 80;
        for (long seed = 0; seed < 20; seed++) {
            double[] img = g.generate(h, w, seed);
            SplittableRandom r = new SplittableRandom(seed);
            double radius = g.radius(r.nextDouble());
            double cy = -48 + (h - 1 + 96) * r.nextDouble();
            double cx = -48 + (w - 1 + 96) * r.nextDouble();
            double gray = r.nextDouble();
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    if ((i - cy) * (i - cy) + (j - cx) * (j - cx) <= radius * radius) {
                        assertEquals(gray, img[i * w + j], 0.0, "seed " + seed + " pixel " + i + "," + j);
                    }
                }
            }
        }
    }

    /** Inverse-CDF sampling: F(radius(u)) = u with F(r) = (r_min⁻² − r⁻²)/(r_min⁻² − r_max⁻²), i.e. p(r) ∝ r⁻³. */
    @Test
    void radiusIsTheInverseCdfOfTheInverseCubeLaw() {
        double rMin = 1.5;
        double rMax = 40;
        DeadLeaves g = new DeadLeaves(rMin, rMax);
        assertEquals(rMin, g.radius(0), 1e-14);
        assertEquals(rMax, g.radius(1), 1e-12);
        double previous = 0;
        for (int i = 0; i <= 100; i++) {
            double u = i / 100.0;
            double r = g.radius(u);
            double cdf = (1 / (rMin * rMin) - 1 / (r * r)) / (1 / (rMin * rMin) - 1 / (rMax * rMax));
            assertEquals(u, cdf, 1e-12);
            assertTrue(r >= previous);
            previous = r;
        }
        // density check by finite differences of F: p(r) = F'(r) ∝ r⁻³
        double norm = 2 / (1 / (rMin * rMin) - 1 / (rMax * rMax));
        for (double r : new double[]{2, 5, 10, 30}) {
            double hh = 1e-4;
            double fPlus = (1 / (rMin * rMin) - 1 / ((r + hh) * (r + hh))) * norm / 2;
            double fMinus = (1 / (rMin * rMin) - 1 / ((r - hh) * (r - hh))) * norm / 2;
            assertEquals(norm * Math.pow(r, -3), (fPlus - fMinus) / (2 * hh), 1e-8 * norm * Math.pow(r, -3) + 1e-12);
        }
    }

    @Test
    void ndarrayFactoryGivesTheSameImageInEitherPrecision() {
        DeadLeaves g = new DeadLeaves();
        double[] ref = g.generate(30, 20, 9);
        try (INDArray d = g.generate(30, 20, 9, DataType.DOUBLE);
             INDArray f = g.generate(30, 20, 9, DataType.FLOAT)) {
            assertArrayEquals(new long[]{30, 20}, d.shape());
            assertEquals('c', d.ordering());
            assertEquals(DataType.DOUBLE, d.dataType());
            assertEquals(DataType.FLOAT, f.dataType());
            for (int i = 0; i < 30; i++) {
                for (int j = 0; j < 20; j++) {
                    assertEquals(ref[i * 20 + j], d.getDouble(i, j), 0.0);
                    assertEquals((float) ref[i * 20 + j], f.getFloat(i, j), 0.0f);
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> g.generate(3, 3, 1, DataType.INT32));
    }

    @Test
    void invalidParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new DeadLeaves(0, 10));
        assertThrows(IllegalArgumentException.class, () -> new DeadLeaves(5, 4));
        assertThrows(IllegalArgumentException.class, () -> new DeadLeaves(1, Double.POSITIVE_INFINITY));
        assertThrows(IllegalArgumentException.class, () -> new DeadLeaves(1, 10, 0));
    }

    @Test
    void discCapFillsTheRestWithOneBackgroundLevel() {
        double[] img = new DeadLeaves(1, 1, 1).generate(40, 40, 3); // one tiny disc at most
        Set<Double> levels = new HashSet<>();
        for (double v : img) {
            levels.add(v);
        }
        assertTrue(levels.size() <= 2, levels.toString());
    }
}
