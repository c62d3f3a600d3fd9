package bilevel.actors;

import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Sync mode is the reference trainer's algorithm, distributed over solvers: same θ, bit for bit. */
class SyncModeTest {

    @TempDir
    Path dir;

    @Test
    void syncModeEqualsTheReferenceTrainerBitForBit() {
        for (String method : new String[]{"adam", "isgd"}) {
            TrainingSpec spec = Fixtures.spec(method, 11, 0, 6);
            ReferenceTrainer reference = new ReferenceTrainer(spec, m -> { });
            try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), reference.dataType())) {
                ReferenceTrainer.Result expected = reference.run(data, dir.resolve(method + "-reference"));
                for (int solvers : method.equals("adam") ? new int[]{2, 3} : new int[]{2}) {
                    TrainingRuntime.Result actual = TrainingRuntime.train(spec, Fixtures.runtime(RuntimeSpec.Mode.SYNC, solvers),
                            data, dir.resolve(method + "-sync-" + solvers), TrainingRuntime.Options.quiet());
                    assertArrayEquals(expected.theta(), actual.theta(), 0.0, method + " with " + solvers + " solvers");
                    assertEquals(expected.steps(), actual.steps());
                    assertEquals(expected.computations(), actual.computations());
                    assertEquals(expected.validationPsnr(), actual.validationPsnr(), 0.0);
                    assertEquals(expected.hypergradients(), actual.hypergradients());
                }
            }
        }
    }
}
