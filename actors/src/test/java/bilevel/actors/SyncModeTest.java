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

    /** The same with the piggyback method (primal–dual learned filters): the runtime is method-agnostic. */
    @Test
    void syncModeWithPiggybackEqualsTheReferenceTrainerBitForBit() {
        TrainingSpec spec = Fixtures.spec("pd-filters", java.util.Map.of("filters", 2, "size", 3), "adam", 11, 0, 4);
        ReferenceTrainer reference = new ReferenceTrainer(spec, m -> { });
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), reference.dataType())) {
            ReferenceTrainer.Result expected = reference.run(data, dir.resolve("pd-reference"));
            TrainingRuntime.Result actual = TrainingRuntime.train(spec, Fixtures.runtime(RuntimeSpec.Mode.SYNC, 2),
                    data, dir.resolve("pd-sync-2"), TrainingRuntime.Options.quiet());
            assertArrayEquals(expected.theta(), actual.theta(), 0.0, "piggyback with 2 solvers");
            assertEquals(expected.steps(), actual.steps());
            assertEquals(expected.computations(), actual.computations());
            assertEquals(expected.validationPsnr(), actual.validationPsnr(), 0.0);
            assertEquals(expected.hypergradients(), actual.hypergradients());
            assertEquals(bilevel.numerics.train.ModelFile.read(dir.resolve("pd-reference/model.json")).options(),
                    bilevel.numerics.train.ModelFile.read(dir.resolve("pd-sync-2/model.json")).options());
        }
    }

    /**
     * A piggyback run stopped after 2 steps (final checkpoint with every solver's PDHG and piggyback warm starts)
     * and resumed to 4 steps ends with the θ of an uninterrupted 4-step run, bit for bit.
     */
    @Test
    void aResumedPiggybackRunContinuesItsWarmStartsBitForBit() {
        java.util.Map<String, Object> options = java.util.Map.of("filters", 2, "size", 3);
        TrainingSpec four = Fixtures.spec("pd-filters", options, "adam", 5, 0, 4);
        TrainingSpec two = Fixtures.spec("pd-filters", options, "adam", 5, 0, 2);
        ReferenceTrainer reference = new ReferenceTrainer(four, m -> { });
        try (TrainingData data = TrainingData.load(four.data(), four.seed(), reference.dataType())) {
            RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.SYNC, 2);
            // sync mode equals the reference trainer (tested above): the uninterrupted run
            ReferenceTrainer.Result uninterrupted = reference.run(data, dir.resolve("whole"));
            Path run = dir.resolve("stopped");
            TrainingRuntime.train(two, rt, data, run, TrainingRuntime.Options.quiet());
            CheckpointStore.Loaded checkpoint = new CheckpointStore(run.resolve("checkpoints")).latestValid().orElseThrow();
            assertEquals(2, checkpoint.warmStartPaths().size(), "one warm-start file per solver");
            TrainingRuntime.Result resumed = TrainingRuntime.resume(four, rt, data, run, checkpoint,
                    TrainingRuntime.Options.quiet());
            assertEquals(4, resumed.steps());
            assertArrayEquals(uninterrupted.theta(), resumed.theta(), 0.0);
            assertEquals(uninterrupted.computations(), resumed.computations());
        }
    }
}
