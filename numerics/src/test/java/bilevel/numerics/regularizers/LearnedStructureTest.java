package bilevel.numerics.regularizers;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The drawable structure (filters, profiles) reads the right entries of θ. */
class LearnedStructureTest {

    @Test
    void crrFiltersAreTheFirstLayerAndProfilesAreMonotoneOdd() {
        ConvexRidge crr = new ConvexRidge(new int[]{1, 3, 4}, 3);
        double[] theta = crr.initialTheta(3);
        List<double[][]> filters = crr.filters(theta);
        assertEquals(3, filters.size());
        for (int o = 0; o < 3; o++) {
            for (int a = 0; a < 3; a++) {
                for (int b = 0; b < 3; b++) {
                    String name = crr.paramName((o * 3 + a) * 3 + b);
                    assertEquals("w1[" + o + ",0," + a + "," + b + "]", name);
                    assertEquals(theta[(o * 3 + a) * 3 + b], filters.get(o)[a][b], 0.0);
                }
            }
        }
        List<LearnedStructure.Profile> profiles = crr.profiles(theta);
        assertEquals(4, profiles.size());
        for (LearnedStructure.Profile p : profiles) {
            double[] v = p.value();
            double[] t = p.t();
            for (int i = 1; i < v.length; i++) {
                assertTrue(v[i] >= v[i - 1], "ψ' must be non-decreasing (ψ convex)");
            }
            assertEquals(-v[0], v[v.length - 1], 1e-12);
            assertEquals(-0.5, t[0], 0.0);
        }
    }

    @Test
    void icnnFiltersAreTheFirstLayer() {
        Icnn icnn = new Icnn(2, 3, Icnn.DEFAULT_SHARPNESS);
        double[] theta = icnn.initialTheta(4);
        List<double[][]> filters = icnn.filters(theta);
        assertEquals(2, filters.size());
        for (int o = 0; o < 2; o++) {
            for (int j = 0; j < 9; j++) {
                assertTrue(icnn.paramName(o * 9 + j).startsWith("W1") || icnn.paramName(o * 9 + j).startsWith("w1"),
                        icnn.paramName(o * 9 + j));
                assertEquals(theta[o * 9 + j], filters.get(o)[j / 3][j % 3], 0.0);
            }
        }
    }

    @Test
    void foeFiltersAreTheStoredFilters() {
        FieldsOfExperts foe = new FieldsOfExperts(3, 5);
        double[] theta = foe.initialTheta(2);
        List<double[][]> filters = foe.filters(theta);
        assertEquals(3, filters.size());
        for (int k = 0; k < 3; k++) {
            for (int j = 0; j < 25; j++) {
                assertEquals("filter[" + k + "][" + (j / 5) + "," + (j % 5) + "]", foe.paramName(k * 25 + j));
                assertEquals(theta[k * 25 + j], filters.get(k)[j / 5][j % 5], 0.0);
            }
        }
    }

    /** ‖(J(x) − J(x'))ᵀq‖ ≤ L(ρ)‖x − x'‖‖q‖ for x, x' in the ball of radius ρ, and the ball bound is certified. */
    @Test
    void foeMixedLipschitzOnABallHoldsOnRandomPairs() {
        FieldsOfExperts foe = new FieldsOfExperts(4, 3);
        java.util.Random random = new java.util.Random(5);
        double[] theta = foe.initialTheta(1);
        try (Regularizer.Instance r = foe.bind(theta, org.nd4j.linalg.api.buffer.DataType.DOUBLE)) {
            for (int trial = 0; trial < 20; trial++) {
                var x = bilevel.numerics.TestArrays.uniform(random, 0, 1, 10, 9);
                var d = bilevel.numerics.TestArrays.gaussian(random, 10, 9).muli(Math.pow(10, -random.nextInt(4)));
                var y = x.add(d);
                var q = bilevel.numerics.TestArrays.gaussian(random, 10, 9);
                double radius = Math.max(bilevel.numerics.TestArrays.norm(x), bilevel.numerics.TestArrays.norm(y));
                var bound = r.mixedLipschitz(radius);
                assertTrue(bound.certified());
                double[] jx = r.mixedAdjoint(x, q);
                double[] jy = r.mixedAdjoint(y, q);
                double diff = 0;
                for (int i = 0; i < jx.length; i++) {
                    diff += (jx[i] - jy[i]) * (jx[i] - jy[i]);
                }
                double lhs = Math.sqrt(diff);
                double rhs = bound.value() * bilevel.numerics.TestArrays.norm(d) * bilevel.numerics.TestArrays.norm(q);
                assertTrue(lhs <= rhs, "trial " + trial + ": " + lhs + " > " + rhs);
            }
            assertTrue(!r.mixedLipschitz().certified(), "the global constant is only estimated (box assumption)");
        }
    }
}
