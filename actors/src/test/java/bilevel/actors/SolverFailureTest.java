package bilevel.actors;

import bilevel.numerics.train.ReferenceTrainer;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Solvers that throw are restarted by their supervisor and their work is issued again: no sample is
 * lost and none is counted twice.
 */
class SolverFailureTest {

    @TempDir
    Path dir;

    /** Throws on the first computation of each listed sample (before anything is computed). */
    private static Solver.Faults failFirstAttemptOf(int... samples) {
        Set<Integer> pending = ConcurrentHashMap.newKeySet();
        Arrays.stream(samples).forEach(pending::add);
        return (solver, task) -> {
            if (pending.remove(task.sample())) {
                throw new IllegalStateException("injected failure of solver " + solver + " on sample " + task.sample());
            }
        };
    }

    @Test
    void syncRunWithACrashedSolverStillEqualsTheReference() {
        TrainingSpec spec = Fixtures.spec("adam", 21, 0, 4);
        ReferenceTrainer reference = new ReferenceTrainer(spec, m -> { });
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), reference.dataType())) {
            ReferenceTrainer.Result expected = reference.run(data, dir.resolve("reference"));
            // a sample of the first batch: its warm start is still empty, so the retry computes exactly the same
            int first = new bilevel.numerics.data.MinibatchSampler(data.plan(), 3).next(
                    new bilevel.numerics.data.MinibatchSampler.Position(0, 0, spec.seed())).indices()[1];
            TrainingRuntime.Result r = TrainingRuntime.train(spec, Fixtures.runtime(RuntimeSpec.Mode.SYNC, 2), data,
                    dir.resolve("sync"), TrainingRuntime.Options.quiet().withFaults(failFirstAttemptOf(first)));
            assertEquals(1, r.solverFailures());
            assertEquals(1, r.reissued());
            assertArrayEquals(expected.theta(), r.theta(), 0.0, "same θ bit for bit despite the crash");
            assertEquals(expected.computations(), r.computations(), "the failed attempt computed nothing");
            assertEquals(4 * 3, Arrays.stream(r.appliedPerSample()).sum());
        }
    }

    @Test
    void asyncRunLosesNoSampleAndCountsNoneTwice() {
        TrainingSpec spec = Fixtures.spec("adam", 22, 0, 3);
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), org.nd4j.linalg.api.buffer.DataType.DOUBLE)) {
            int[] order = new bilevel.numerics.data.MinibatchSampler(data.plan(), 3).order(spec.seed(), 0);
            TrainingRuntime.Result r = TrainingRuntime.train(spec, Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2), data,
                    dir.resolve("async"), TrainingRuntime.Options.quiet().withFaults(failFirstAttemptOf(order[0], order[2])));
            assertEquals(3, r.steps());
            assertEquals(2, r.solverFailures());
            int[] applied = r.appliedPerSample();
            // 3 updates of 3 hypergradients, drawn from the first 12-sample epoch: each sample at most once
            assertEquals(9, Arrays.stream(applied).sum());
            assertTrue(Arrays.stream(applied).allMatch(c -> c <= 1), Arrays.toString(applied));
            assertEquals(1, applied[order[0]], "the failed samples were computed again and used once");
            assertEquals(1, applied[order[2]]);
        }
    }
}
