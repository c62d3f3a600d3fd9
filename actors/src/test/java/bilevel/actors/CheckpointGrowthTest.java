package bilevel.actors;

import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.TotalVariation;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link Checkpoint#grown}: θ embedded, Adam's moments follow their parameters, new ones start at m = 0, v = median. */
class CheckpointGrowthTest {

    private static Checkpoint checkpoint(double[] theta, double[] m, double[] v) {
        return new Checkpoint(Checkpoint.FORMAT, Checkpoint.FORMAT_VERSION, 7, "async", 2, "sha256:d", 40, 41, theta,
                "adam", 40, m, v, 3, 5, 11, 2, 333, new int[]{4}, 12345, 320, 99.5, 28.5,
                List.of(new Checkpoint.WarmStartFile("ckpt-000007-solver-0.bin", "sha256:w")), Map.of("stale", 3L));
    }

    @Test
    void momentsFollowTheirParametersAndNewOnesStartAtTheMedian() {
        FieldsOfExperts small = new FieldsOfExperts(2, 3);
        FieldsOfExperts large = new FieldsOfExperts(3, 5);
        double[] theta = small.project(small.initialTheta(3));
        int n = small.numParams();
        double[] m = new double[n];
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            m[i] = 0.01 * (i - 10);
            v[i] = 1e-6 * (i + 1);     // 1e-6 … 21e-6: median 11e-6
        }
        Checkpoint c = checkpoint(theta, m, v);
        Checkpoint g = c.grown(small, large, 9);
        int[] map = large.embedding(small).orElseThrow();
        assertArrayEquals(large.embed(small, theta, 9).orElseThrow(), g.theta(), 0.0);
        java.util.Set<Integer> copied = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            assertEquals(m[i], g.adamM()[map[i]], 0.0);
            assertEquals(v[i], g.adamV()[map[i]], 0.0);
            copied.add(map[i]);
        }
        for (int j = 0; j < large.numParams(); j++) {
            if (!copied.contains(j)) {
                assertEquals(0.0, g.adamM()[j], 0.0, "new parameter " + j);
                assertEquals(11e-6, g.adamV()[j], 1e-18, "new parameter " + j);
            }
        }
        // everything else is the checkpoint's
        assertEquals(c.steps(), g.steps());
        assertEquals(c.optimizerK(), g.optimizerK());
        assertEquals(c.samplerPosition(), g.samplerPosition());
        assertArrayEquals(c.pendingSamples(), g.pendingSamples());
        assertEquals(c.warmStarts(), g.warmStarts());
        assertEquals(c.computations(), g.computations());
        assertEquals(c.counters(), g.counters());
    }

    @Test
    void onlyAModelThatCanHoldTheOldOneIsAccepted() {
        FieldsOfExperts small = new FieldsOfExperts(2, 3);
        Checkpoint c = checkpoint(small.initialTheta(1), new double[small.numParams()], new double[small.numParams()]);
        assertThrows(IllegalArgumentException.class, () -> c.grown(small, new FieldsOfExperts(1, 5), 1));
        assertThrows(IllegalArgumentException.class, () -> c.grown(small, new TotalVariation(), 1));
        assertThrows(IllegalArgumentException.class, () -> c.grown(new FieldsOfExperts(3, 3), new FieldsOfExperts(3, 5), 1));
    }
}
