package bilevel.actors;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import bilevel.numerics.train.StepMetrics;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every message of the runtime goes through the jackson-cbor serializer and back unchanged. */
class SerializationTest {
    private static ActorTestKit kit;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("serialization-test", Fixtures.akka());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    /** One instance of every message type (and of the records they carry). */
    static List<Object> everyMessage() {
        TestProbe<Optimizer.Command> o = kit.createTestProbe(Optimizer.Command.class);
        TestProbe<Solver.Command> s = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.ShutdownComplete> r = kit.createTestProbe(Optimizer.ShutdownComplete.class);
        ActorRef<Optimizer.Command> opt = o.ref();
        double[] theta = {0.1, -2.5e-7, Math.PI, Double.MAX_VALUE};
        Solver.Task task = new Solver.Task(42, 1, 2, 7, 3, 11, 13, -8754321987654L, 5, 2, 8, theta, 9, 1e-3, 2e-3);
        StepMetrics metrics = new StepMetrics(3, 1000, 1.5, 0.25, 1e-3, 1e-3, 0.01, 2.0, 0.1, true, true, 27.5, 0, 1, 0.5, 0.75);
        Checkpoint checkpoint = new Checkpoint(Checkpoint.FORMAT, Checkpoint.FORMAT_VERSION, 4, "async", 2, "sha256:ab",
                12, 12, theta, "adam", 12, new double[4], new double[]{1, 2, 3, 4}, 1, 6, 5, 3, 99, new int[]{3, 1}, 5000,
                96, 12.5, null, List.of(new Checkpoint.WarmStartFile("ckpt-000004-solver-0.bin", "sha256:cd")),
                Map.of("stale", 2L));
        return List.of(
                task,
                new Solver.Compute(task, opt),
                new Solver.Refine(task.refined(1e-4, 1e-4), opt),
                new Solver.Validate(43, 2, 1, theta, 9, 1e-3, opt),
                new Solver.SaveWarmStarts(4, "/tmp/x.bin", opt),
                new Solver.Ping(),
                new Solver.IdleCheck(),
                new Solver.WorkFrom(kit.createTestProbe(Sampler.Command.class).ref()),
                new Solver.WarmStarts(List.of("a.bin", "b.bin"), List.of("sha256:1", "sha256:2")),
                new Sampler.RequestWork(1, s.ref(), 41),
                new Sampler.RequestWork(1, s.ref(), 41, 123_456_789L),
                Sampler.RequestWork.hello(1, s.ref()),
                new Sampler.IssueBatch(5, theta, 9, 1e-3, 1e-3, opt),
                new Sampler.UpdateTheta(5, theta, 9, 1e-3, 1e-3, opt),
                new Sampler.IssueValidation(2, theta, 9, 1e-3, 4, opt),
                new Sampler.Settled(42),
                new Sampler.Reissue(42, true, "non-finite"),
                new Sampler.Refine(42, 1e-4, 2e-4),
                new Sampler.SolverFailed(1, 42),
                new Sampler.Snapshot(4, opt),
                new Sampler.StopIssuing(),
                new Sampler.Tick(),
                new Sampler.SolverStopped(1, s.ref()),
                new Optimizer.Computed(42, 1, 7, 5, 2, 8, 9, 1e-3, 1e-3, new double[]{1, Double.NaN, -0.0}, 0.5, 0.01,
                        false, 77, true, false, 123456, 1),
                new Optimizer.Validated(43, 2, 1, 28.25, 300, 9999, 0),
                new Optimizer.WorkAbandoned(42, 7, 5, "timed out"),
                new Optimizer.SamplerState(4, 1, 6, 5, 3, 99, new long[]{40, -1}, new int[]{3, 1}, 2, 1, 0),
                new Optimizer.WarmStartsSaved(4, 1, "/tmp/x.bin", "sha256:cd", null),
                new Optimizer.CheckpointWritten(4, "/tmp/c.json", null),
                new Optimizer.Finished("disk full"),
                new Optimizer.Shutdown(r.ref()),
                new Optimizer.ShutdownComplete(12, true),
                new Optimizer.CheckpointTimeout(4),
                new Optimizer.NoSolvers(),
                new Optimizer.Replicated(7, null),
                new Optimizer.Replicated(8, "UpdateTimeout (3000 ms)"),
                new StateReplicator.Write(8, checkpoint, opt),
                new StateReplicator.Done(8, opt, "UpdateTimeout (3000 ms)"),
                new Monitor.Started(0, 0, 0.0, false, 2, "async"),
                new Monitor.Step(metrics, 96),
                new Monitor.WriteCheckpoint(checkpoint, opt),
                new Monitor.Finish(theta, 12, 5000, 12.5, 27.5, 0.01, 96, "async", 2, opt));
    }

    @Test
    void everyMessageRoundTripsThroughCbor() {
        List<Object> messages = everyMessage();
        List<String> types = new ArrayList<>();
        for (Object m : messages) {
            assertTrue(m instanceof CborSerializable, m.getClass() + " is bound to jackson-cbor");
            Object back = kit.serializationTestKit().verifySerialization(m, true);
            assertEquals(m, back);
            types.add(m.getClass().getName());
        }
        // every record type nested in the actor protocols is covered
        for (Class<?> actor : new Class<?>[]{Solver.class, Sampler.class, Optimizer.class, Monitor.class,
                StateReplicator.class}) {
            for (Class<?> nested : actor.getDeclaredClasses()) {
                if (nested.isRecord() && CborSerializable.class.isAssignableFrom(nested)) {
                    assertTrue(types.contains(nested.getName()), "no round trip for " + nested.getName());
                }
            }
        }
    }

    @Test
    void aRunWithEveryMessageSerializedStillWorks() {
        TrainingSpec spec = Fixtures.spec("adam", 6, 0, 4);
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2).withRefine(1e-3, 0.5, 1).withCheckpointEvery(2);
        try (TrainingData data = TrainingData.load(spec.data(), spec.seed(), DataType.DOUBLE)) {
            TrainingRuntime.Result r = TrainingRuntime.train(spec, rt, data, dir.resolve("run"),
                    TrainingRuntime.Options.quiet().withAkka(ConfigFactory.parseString(
                            "akka.actor.serialize-messages = on\nakka.actor.serialize-creators = off")));
            assertEquals(4, r.steps());
            assertTrue(r.refinements() > 0, "the refine path was exercised");
            assertTrue(r.checkpoints() >= 2, "checkpoint messages were exercised");
            assertTrue(Double.isFinite(r.validationPsnr()));
        }
    }
}
