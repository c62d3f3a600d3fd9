package bilevel.numerics.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MinibatchSamplerTest {

    /** 23 samples: 1 image × 23 crops. */
    private static final CropPlan PLAN = CropPlan.create(List.of(new CropPlan.ImageSize(4, 64, 64)), 16, 23, 9);

    @Test
    void everySampleExactlyOncePerEpoch() {
        MinibatchSampler sampler = new MinibatchSampler(PLAN, 5);
        assertEquals(5, sampler.batchesPerEpoch());
        MinibatchSampler.Position pos = sampler.start(31);
        for (long epoch = 0; epoch < 4; epoch++) {
            int[] seen = new int[PLAN.size()];
            List<Integer> sizes = new ArrayList<>();
            for (int b = 0; b < sampler.batchesPerEpoch(); b++) {
                MinibatchSampler.Batch batch = sampler.next(pos);
                assertEquals(epoch, batch.epoch());
                sizes.add(batch.indices().length);
                for (int i = 0; i < batch.indices().length; i++) {
                    seen[batch.indices()[i]]++;
                    assertEquals(PLAN.sample(batch.indices()[i]), batch.samples().get(i));
                }
                pos = batch.next();
            }
            assertEquals(List.of(5, 5, 5, 5, 3), sizes);
            int[] ones = new int[PLAN.size()];
            Arrays.fill(ones, 1);
            assertArrayEquals(ones, seen);
            assertEquals(new MinibatchSampler.Position(epoch + 1, 0, 31), pos);
        }
    }

    @Test
    void epochsAndSeedsGiveDifferentOrders() {
        MinibatchSampler sampler = new MinibatchSampler(PLAN, 4);
        int[] e0 = sampler.order(1, 0);
        int[] e1 = sampler.order(1, 1);
        int[] other = sampler.order(2, 0);
        assertFalse(Arrays.equals(e0, e1));
        assertFalse(Arrays.equals(e0, other));
        int[] sorted = e0.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; i++) {
            assertEquals(i, sorted[i]);
        }
        assertArrayEquals(e0, new MinibatchSampler(PLAN, 7).order(1, 0), "the order does not depend on B");
    }

    @Test
    void deterministicAcrossInstances() {
        List<MinibatchSampler.Batch> a = take(new MinibatchSampler(PLAN, 6), new MinibatchSampler(PLAN, 6).start(5), 20);
        List<MinibatchSampler.Batch> b = take(new MinibatchSampler(PLAN, 6), new MinibatchSampler.Position(0, 0, 5), 20);
        assertEquals(a, b);
    }

    @Test
    void resumingFromAPositionEqualsContinuing() {
        MinibatchSampler sampler = new MinibatchSampler(PLAN, 6);
        List<MinibatchSampler.Batch> straight = take(sampler, sampler.start(77), 17);
        for (int cut : new int[]{1, 3, 4, 6, 11}) {
            MinibatchSampler.Position saved = straight.get(cut - 1).next();
            // rebuild from the serialised fields, in a fresh sampler
            MinibatchSampler.Position restored = new MinibatchSampler.Position(saved.epoch(), saved.index(), saved.seed());
            List<MinibatchSampler.Batch> resumed = take(new MinibatchSampler(PLAN, 6), restored, 17 - cut);
            assertEquals(straight.subList(cut, 17), resumed, "cut after batch " + cut);
        }
    }

    @Test
    void endOfEpochPositionIsTheStartOfTheNext() {
        MinibatchSampler sampler = new MinibatchSampler(PLAN, 6);
        MinibatchSampler.Batch a = sampler.next(new MinibatchSampler.Position(2, PLAN.size(), 8));
        MinibatchSampler.Batch b = sampler.next(new MinibatchSampler.Position(3, 0, 8));
        assertEquals(b, a);
        assertThrows(IllegalArgumentException.class,
                () -> sampler.next(new MinibatchSampler.Position(0, PLAN.size() + 1, 8)));
        assertThrows(IllegalArgumentException.class, () -> new MinibatchSampler.Position(-1, 0, 8));
        assertThrows(IllegalArgumentException.class, () -> new MinibatchSampler(PLAN, 0));
    }

    @Test
    void batchLargerThanThePlanIsOneBatchPerEpoch() {
        MinibatchSampler sampler = new MinibatchSampler(PLAN, 100);
        MinibatchSampler.Batch batch = sampler.next(sampler.start(1));
        assertEquals(PLAN.size(), batch.indices().length);
        assertEquals(new MinibatchSampler.Position(1, 0, 1), batch.next());
    }

    private static List<MinibatchSampler.Batch> take(MinibatchSampler sampler, MinibatchSampler.Position start, int n) {
        List<MinibatchSampler.Batch> out = new ArrayList<>();
        MinibatchSampler.Position pos = start;
        for (int i = 0; i < n; i++) {
            MinibatchSampler.Batch b = sampler.next(pos);
            out.add(b);
            pos = b.next();
        }
        return out;
    }
}
