package bilevel.actors;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import bilevel.numerics.upper.Schedule;
import bilevel.numerics.upper.Sgd;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Optimizer's async protocol with probes: refinement, deduplication, rejections, staleness weights, and
 * (with a probe standing in for the {@link StateReplicator}) updates that count only once replicated.
 */
class OptimizerTest {
    private static ActorTestKit kit;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("optimizer-test", Fixtures.akka());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    private static final Schedule STEP = Schedule.parse("constant:0.5");

    private record Probes(ActorRef<Optimizer.Command> optimizer, TestProbe<Sampler.Command> sampler,
                          TestProbe<Monitor.Command> monitor) {
    }

    /** An async Optimizer over θ ∈ R², SGD with α = 0.5, groups of 1, η = 0.5, at most one refinement. */
    private Probes optimizer(int maxStaleness) {
        TrainingSpec spec = Fixtures.spec("isgd", 1, 0, 100);
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2).withGroup(1).withRefine(0.5, 0.25, 1)
                .withValidation(false);
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, maxStaleness));
        Optimizer.Setup setup = new Optimizer.Setup(spec, rt, stepper, (s, c) -> false, stepper.init(new double[]{1, 1}),
                0, 0, 0, 0, Double.NaN, 0, false, 0, 12, new CheckpointStore(dir), "sha256:x", Map.of(),
                new CompletableFuture<>());
        TestProbe<Sampler.Command> sampler = kit.createTestProbe(Sampler.Command.class);
        TestProbe<Monitor.Command> monitor = kit.createTestProbe(Monitor.Command.class);
        ActorRef<Optimizer.Command> optimizer = kit.spawn(Optimizer.create(setup, sampler.ref(), monitor.ref(), List.of()));
        monitor.expectMessageClass(Monitor.Started.class);
        Sampler.UpdateTheta first = sampler.expectMessageClass(Sampler.UpdateTheta.class);
        assertEquals(0, first.version());
        return new Probes(optimizer, sampler, monitor);
    }

    private static Optimizer.Computed result(long id, int refinement, long version, double[] z, double bound) {
        return new Optimizer.Computed(id, refinement, (int) id % 12, 0, 0, 1, version, 1e-2, 1e-2, z, 0.5, bound, true,
                10, false, false, 1000, 0);
    }

    @Test
    void looseHypergradientIsRefinedOnceThenApplied() {
        Probes p = optimizer(8);
        double[] z = {0.2, -0.4};   // ‖z‖ ≈ 0.447: η‖z‖ ≈ 0.22
        p.optimizer().tell(result(0, 0, 0, z, 1.0));
        Sampler.Refine refine = p.sampler().expectMessageClass(Sampler.Refine.class);
        assertEquals(0, refine.workId());
        assertEquals(0.25e-2, refine.epsilon(), 1e-18);
        assertEquals(0.25e-2, refine.delta(), 1e-18);
        p.monitor().expectNoMessage(Duration.ofMillis(100));

        p.optimizer().tell(result(0, 0, 0, z, 1.0));   // a late copy of the unrefined answer: ignored
        p.sampler().expectNoMessage(Duration.ofMillis(100));

        p.optimizer().tell(result(0, 1, 0, z, 0.05));   // refined: accurate enough, applied
        assertEquals(new Sampler.Settled(0), p.sampler().expectMessageClass(Sampler.Settled.class));
        Sampler.UpdateTheta next = p.sampler().expectMessageClass(Sampler.UpdateTheta.class);
        assertEquals(1, next.version());
        assertArrayEquals(new double[]{1 - 0.5 * 0.2, 1 + 0.5 * 0.4}, next.theta(), 1e-15);
        Monitor.Step step = p.monitor().expectMessageClass(Monitor.Step.class);
        assertEquals(0.0, step.metrics().staleness());
        assertEquals(1.0, step.metrics().weight());

        p.optimizer().tell(result(0, 1, 0, z, 0.05));   // duplicate after application: ignored
        p.sampler().expectNoMessage(Duration.ofMillis(100));

        // the cap: a second loose answer after its one refinement is applied anyway
        p.optimizer().tell(result(1, 0, 1, z, 1.0));
        assertEquals(1, p.sampler().expectMessageClass(Sampler.Refine.class).workId());
        p.optimizer().tell(result(1, 1, 1, z, 1.0));
        assertEquals(new Sampler.Settled(1), p.sampler().expectMessageClass(Sampler.Settled.class));
        assertEquals(2, p.sampler().expectMessageClass(Sampler.UpdateTheta.class).version());
    }

    @Test
    void nonFiniteAndTooStaleHypergradientsAreIssuedAgainAndStaleOnesWeighted() {
        Probes p = optimizer(1);
        p.optimizer().tell(result(0, 0, 0, new double[]{Double.NaN, 1}, 0.0));
        Sampler.Reissue nan = p.sampler().expectMessageClass(Sampler.Reissue.class);
        assertEquals(0, nan.workId());
        assertEquals(true, nan.failure());

        p.optimizer().tell(result(1, 0, 0, new double[]{1, 0}, 0.0));   // version 0 → 1
        p.sampler().expectMessageClass(Sampler.Settled.class);
        p.sampler().expectMessageClass(Sampler.UpdateTheta.class);
        p.monitor().expectMessageClass(Monitor.Step.class);
        p.optimizer().tell(result(2, 0, 0, new double[]{0, 2}, 0.0));   // staleness 1: weight 1/2
        p.sampler().expectMessageClass(Sampler.Settled.class);
        Sampler.UpdateTheta u = p.sampler().expectMessageClass(Sampler.UpdateTheta.class);
        assertArrayEquals(new double[]{1 - 0.5, 1 - 0.5 * 0.5 * 2}, u.theta(), 1e-15);
        Monitor.Step step = p.monitor().expectMessageClass(Monitor.Step.class);
        assertEquals(1.0, step.metrics().staleness());
        assertEquals(0.5, step.metrics().weight());

        p.optimizer().tell(result(3, 0, 0, new double[]{5, 5}, 0.0));   // staleness 2 > 1: rejected, re-issued
        Sampler.Reissue stale = p.sampler().expectMessageClass(Sampler.Reissue.class);
        assertEquals(3, stale.workId());
        assertEquals(false, stale.failure());
        p.monitor().expectNoMessage(Duration.ofMillis(100));
    }

    private static Optimizer.SamplerState snapshot(long number, long[] ids, int[] samples) {
        return new Optimizer.SamplerState(number, 0, 3, 5, 0, 7, ids, samples, 0, 0, 0);
    }

    /**
     * With a replicator, θ_{v+1} is computed at once but counts (metrics line, θ handed to the Sampler, items
     * settled, the accepted count in the written state) only after a write of the state after it has been
     * acknowledged; a timed-out write is written again (the same content, or the newest state when more
     * updates were computed meanwhile); one acknowledgement accepts every update up to the state written.
     */
    @Test
    void updatesCountOnlyAfterTheirReplicationIsAcknowledgedAndTimedOutWritesAreRetried() {
        TrainingSpec spec = Fixtures.spec("isgd", 1, 0, 100);
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2).withGroup(1).withRefine(0.5, 0.25, 1)
                .withValidation(false);
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 8));
        Optimizer.Setup setup = new Optimizer.Setup(spec, rt, stepper, (s, c) -> false, stepper.init(new double[]{1, 1}),
                0, 0, 0, 0, Double.NaN, 0, false, 0, 12, new CheckpointStore(dir), "sha256:x", Map.of(),
                new CompletableFuture<>());
        TestProbe<Sampler.Command> sampler = kit.createTestProbe(Sampler.Command.class);
        TestProbe<Monitor.Command> monitor = kit.createTestProbe(Monitor.Command.class);
        TestProbe<StateReplicator.Command> replicator = kit.createTestProbe(StateReplicator.Command.class);
        ActorRef<Optimizer.Command> optimizer = kit.spawn(Optimizer.create(setup, sampler.ref(), monitor.ref(), List.of(),
                replicator.ref()));
        monitor.expectMessageClass(Monitor.Started.class);

        // the starting state is written before any work is issued; a timed-out write is repeated as it was
        Sampler.Snapshot s0 = sampler.expectMessageClass(Sampler.Snapshot.class);
        assertTrue(s0.checkpoint() < 0, "a replication snapshot, not a checkpoint's");
        optimizer.tell(snapshot(s0.checkpoint(), new long[0], new int[0]));
        StateReplicator.Write w0 = replicator.expectMessageClass(StateReplicator.Write.class);
        assertEquals(0, w0.state().steps());
        assertEquals(0, w0.state().version());
        optimizer.tell(new Optimizer.Replicated(w0.sequence(), "UpdateTimeout (3000 ms)"));
        assertEquals(w0, replicator.expectMessageClass(StateReplicator.Write.class));
        sampler.expectNoMessage(Duration.ofMillis(100));
        optimizer.tell(new Optimizer.Replicated(w0.sequence(), null));
        assertEquals(0, sampler.expectMessageClass(Sampler.UpdateTheta.class).version());

        // item 0 arrives: θ1 is computed and written, but nothing of it counts yet
        double[] z = {0.2, -0.4};
        optimizer.tell(result(0, 0, 0, z, 0.0));
        Sampler.Snapshot s1 = sampler.expectMessageClass(Sampler.Snapshot.class);
        optimizer.tell(snapshot(s1.checkpoint(), new long[]{0, 1, -1}, new int[]{0, 1, 9}));
        StateReplicator.Write w1 = replicator.expectMessageClass(StateReplicator.Write.class);
        double[] theta1 = {1 - 0.5 * 0.2, 1 + 0.5 * 0.4};
        assertEquals(1, w1.state().steps());
        assertEquals(1, w1.state().version());
        assertArrayEquals(theta1, w1.state().theta(), 1e-15);
        // item 0 is in θ1; item 1 (issued, unanswered) and sample 9 (drawn, not issued) are owed
        assertArrayEquals(new int[]{1, 9}, w1.state().pendingSamples());
        sampler.expectNoMessage(Duration.ofMillis(100));
        monitor.expectNoMessage(Duration.ZERO);

        // item 1 (computed at version 0) arrives while θ1 is being written: θ2 is computed on top of θ1
        // (staleness 1: weight 1/2), not written yet (one write at a time), and counts no more than θ1
        optimizer.tell(result(1, 0, 0, new double[]{1, 0}, 0.0));
        replicator.expectNoMessage(Duration.ofMillis(100));
        sampler.expectNoMessage(Duration.ZERO);
        monitor.expectNoMessage(Duration.ZERO);

        // θ1's write times out: the newest state, θ2, is written instead (with a snapshot taken now)
        optimizer.tell(new Optimizer.Replicated(w1.sequence(), "UpdateTimeout (3000 ms)"));
        Sampler.Snapshot s2 = sampler.expectMessageClass(Sampler.Snapshot.class);
        optimizer.tell(snapshot(s2.checkpoint(), new long[]{0, 1, -1}, new int[]{0, 1, 9}));
        StateReplicator.Write w2 = replicator.expectMessageClass(StateReplicator.Write.class);
        double[] theta2 = {theta1[0] - 0.5 * 0.5 * 1, theta1[1]};
        assertEquals(2, w2.state().steps());
        assertEquals(2, w2.state().version());
        assertArrayEquals(theta2, w2.state().theta(), 1e-15);
        assertArrayEquals(new int[]{9}, w2.state().pendingSamples());
        sampler.expectNoMessage(Duration.ofMillis(100));
        monitor.expectNoMessage(Duration.ZERO);

        // acknowledged: both updates count now, in order — items settled, θ handed out, metrics lines
        optimizer.tell(new Optimizer.Replicated(w2.sequence(), null));
        assertEquals(new Sampler.Settled(0), sampler.expectMessageClass(Sampler.Settled.class));
        Sampler.UpdateTheta u1 = sampler.expectMessageClass(Sampler.UpdateTheta.class);
        assertEquals(1, u1.version());
        assertArrayEquals(theta1, u1.theta(), 0.0);
        assertEquals(new Sampler.Settled(1), sampler.expectMessageClass(Sampler.Settled.class));
        Sampler.UpdateTheta u2 = sampler.expectMessageClass(Sampler.UpdateTheta.class);
        assertEquals(2, u2.version());
        assertArrayEquals(theta2, u2.theta(), 0.0);
        assertEquals(0, monitor.expectMessageClass(Monitor.Step.class).metrics().step());
        Monitor.Step step = monitor.expectMessageClass(Monitor.Step.class);
        assertEquals(1, step.metrics().step());
        assertEquals(1.0, step.metrics().staleness());
        assertEquals(0.5, step.metrics().weight());
        // nothing left to write
        sampler.expectNoMessage(Duration.ofMillis(100));
        replicator.expectNoMessage(Duration.ZERO);
    }

    /** SIGTERM while an update is being replicated: the stop waits for it, and the last checkpoint holds it. */
    @Test
    void aStopWaitsForTheUpdateBeingReplicatedAndCheckpointsIt() {
        TrainingSpec spec = Fixtures.spec("isgd", 1, 0, 100);
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2).withGroup(1).withValidation(false);
        UpperLevelStepper stepper = new UpperLevelStepper(new Sgd(STEP, t -> t),
                new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 8));
        CompletableFuture<TrainingRuntime.Result> result = new CompletableFuture<>();
        Optimizer.Setup setup = new Optimizer.Setup(spec, rt, stepper, (s, c) -> false, stepper.init(new double[]{1, 1}),
                0, 0, 0, 0, Double.NaN, 0, false, 0, 12, new CheckpointStore(dir), "sha256:x", Map.of(), result);
        TestProbe<Sampler.Command> sampler = kit.createTestProbe(Sampler.Command.class);
        TestProbe<Monitor.Command> monitor = kit.createTestProbe(Monitor.Command.class);
        TestProbe<StateReplicator.Command> replicator = kit.createTestProbe(StateReplicator.Command.class);
        TestProbe<Optimizer.ShutdownComplete> stop = kit.createTestProbe(Optimizer.ShutdownComplete.class);
        ActorRef<Optimizer.Command> optimizer = kit.spawn(Optimizer.create(setup, sampler.ref(), monitor.ref(), List.of(),
                replicator.ref()));
        monitor.expectMessageClass(Monitor.Started.class);
        optimizer.tell(snapshot(sampler.expectMessageClass(Sampler.Snapshot.class).checkpoint(), new long[0], new int[0]));
        optimizer.tell(new Optimizer.Replicated(replicator.expectMessageClass(StateReplicator.Write.class).sequence(), null));
        sampler.expectMessageClass(Sampler.UpdateTheta.class);

        optimizer.tell(result(0, 0, 0, new double[]{0.2, -0.4}, 0.0));
        optimizer.tell(snapshot(sampler.expectMessageClass(Sampler.Snapshot.class).checkpoint(), new long[]{0}, new int[]{0}));
        StateReplicator.Write w = replicator.expectMessageClass(StateReplicator.Write.class);
        optimizer.tell(new Optimizer.Shutdown(stop.ref()));
        sampler.expectNoMessage(Duration.ofMillis(100));   // nothing stops before the pending update is decided
        stop.expectNoMessage(Duration.ZERO);

        optimizer.tell(new Optimizer.Replicated(w.sequence(), null));
        assertEquals(new Sampler.Settled(0), sampler.expectMessageClass(Sampler.Settled.class));
        sampler.expectMessageClass(Sampler.StopIssuing.class);
        assertEquals(0, monitor.expectMessageClass(Monitor.Step.class).metrics().step());
        Sampler.Snapshot forCheckpoint = sampler.expectMessageClass(Sampler.Snapshot.class);
        assertTrue(forCheckpoint.checkpoint() > 0, "the checkpoint's snapshot");
        optimizer.tell(snapshot(forCheckpoint.checkpoint(), new long[]{0}, new int[]{0}));
        Monitor.WriteCheckpoint write = monitor.expectMessageClass(Monitor.WriteCheckpoint.class);
        assertEquals(1, write.checkpoint().steps());
        assertEquals(w.state().theta()[0], write.checkpoint().theta()[0], 0.0);
        assertArrayEquals(new int[0], write.checkpoint().pendingSamples(), "item 0 is in θ, not owed");
        optimizer.tell(new Optimizer.CheckpointWritten(write.checkpoint().sequence(), "ckpt", null));
        Optimizer.ShutdownComplete done = stop.expectMessageClass(Optimizer.ShutdownComplete.class);
        assertEquals(1, done.steps());
        assertTrue(done.checkpointWritten());
    }
}
