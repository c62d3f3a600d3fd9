package bilevel.numerics.data;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CropPlanTest {

    private static final List<CropPlan.ImageSize> IMAGES = List.of(
            new CropPlan.ImageSize(3, 100, 120), new CropPlan.ImageSize(1, 96, 96), new CropPlan.ImageSize(7, 20, 300));

    @Test
    void deterministicAndOrderedByImageThenCrop() {
        CropPlan a = CropPlan.create(IMAGES, 20, 4, 123);
        CropPlan b = CropPlan.create(List.of(IMAGES.get(2), IMAGES.get(0), IMAGES.get(1)), 20, 4, 123);
        assertEquals(a.samples(), b.samples());
        assertEquals(12, a.size());
        int[] expectedIds = {1, 1, 1, 1, 3, 3, 3, 3, 7, 7, 7, 7};
        for (int i = 0; i < 12; i++) {
            assertEquals(expectedIds[i], a.sample(i).imageId());
        }
    }

    @Test
    void cropsAreInBoundsAndReachBothEdges() {
        List<CropPlan.ImageSize> one = List.of(new CropPlan.ImageSize(0, 20, 25));
        CropPlan plan = CropPlan.create(one, 10, 300, 5);
        int minRow = Integer.MAX_VALUE;
        int maxRow = Integer.MIN_VALUE;
        int minCol = Integer.MAX_VALUE;
        int maxCol = Integer.MIN_VALUE;
        for (CropPlan.Sample s : plan.samples()) {
            assertTrue(s.row() >= 0 && s.row() + 10 <= 20);
            assertTrue(s.col() >= 0 && s.col() + 10 <= 25);
            minRow = Math.min(minRow, s.row());
            maxRow = Math.max(maxRow, s.row());
            minCol = Math.min(minCol, s.col());
            maxCol = Math.max(maxCol, s.col());
        }
        assertEquals(0, minRow);
        assertEquals(10, maxRow);
        assertEquals(0, minCol);
        assertEquals(15, maxCol);
        // a crop as large as the image has a single position
        for (CropPlan.Sample s : CropPlan.create(List.of(new CropPlan.ImageSize(0, 20, 20)), 20, 3, 1).samples()) {
            assertEquals(0, s.row());
            assertEquals(0, s.col());
        }
        for (CropPlan.Sample s : CropPlan.create(IMAGES, 20, 10, 9).samples()) {
            CropPlan.ImageSize im = IMAGES.stream().filter(x -> x.id() == s.imageId()).findFirst().orElseThrow();
            assertTrue(s.row() + 20 <= im.height() && s.col() + 20 <= im.width());
        }
    }

    @Test
    void noiseSeedsAreDistinctAndSeedsMatter() {
        CropPlan a = CropPlan.create(IMAGES, 16, 50, 1);
        Set<Long> noise = new HashSet<>();
        for (CropPlan.Sample s : a.samples()) {
            noise.add(s.noiseSeed());
        }
        assertEquals(a.size(), noise.size());
        CropPlan b = CropPlan.create(IMAGES, 16, 50, 2);
        assertNotEquals(a.samples(), b.samples());
        int samePosition = 0;
        for (int i = 0; i < a.size(); i++) {
            assertNotEquals(a.sample(i).noiseSeed(), b.sample(i).noiseSeed());
            if (a.sample(i).row() == b.sample(i).row() && a.sample(i).col() == b.sample(i).col()) {
                samePosition++;
            }
        }
        assertTrue(samePosition < a.size() / 10, samePosition + " identical crop positions");
    }

    @Test
    void aSampleDoesNotDependOnTheOtherImages() {
        CropPlan all = CropPlan.create(IMAGES, 20, 3, 77);
        CropPlan only3 = CropPlan.create(List.of(new CropPlan.ImageSize(3, 100, 120)), 20, 3, 77);
        assertEquals(only3.samples(), all.samples().subList(3, 6));
    }

    @Test
    void invalidPlansAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> CropPlan.create(List.of(), 8, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> CropPlan.create(IMAGES, 21, 1, 0)); // image 7 is 20 high
        assertThrows(IllegalArgumentException.class, () -> CropPlan.create(IMAGES, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> CropPlan.create(IMAGES, 8, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CropPlan.create(
                List.of(new CropPlan.ImageSize(1, 10, 10), new CropPlan.ImageSize(1, 12, 12)), 8, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new CropPlan.ImageSize(1, 0, 10));
    }
}
