package bilevel.actors;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.javadsl.Behaviors;
import bilevel.numerics.data.CropPlan;
import bilevel.numerics.data.MinibatchSampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Sampler's protocol with probes as solvers and optimizer: work pulling, home routing in sync mode,
 * and re-issue after a solver failure, a stopped solver or a timeout — no item lost.
 */
class SamplerTest {
    private static ActorTestKit kit;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("sampler-test", Fixtures.akka());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    /** 12 samples, batches of 3, no pixels needed. */
    private static MinibatchSampler minibatches() {
        List<CropPlan.ImageSize> sizes = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            sizes.add(new CropPlan.ImageSize(i, 24, 24));
        }
        return new MinibatchSampler(CropPlan.create(sizes, 16, 2, 5), 3);
    }

    private static final double[] THETA = {0.25, -1.5};

    /** Waits (polling snapshots; a hang guard, not a speed check) until the Sampler has re-issued {@code n} items. */
    private static void awaitReissued(ActorRef<Sampler.Command> sampler, TestProbe<Optimizer.Command> optimizer, int n,
                                      String what) {
        optimizer.awaitAssert(Duration.ofSeconds(10), Duration.ofMillis(50), () -> {
            sampler.tell(new Sampler.Snapshot(0, optimizer.ref()));
            assertEquals(n, optimizer.expectMessageClass(Optimizer.SamplerState.class).reissued(), what);
            return null;
        });
    }

    /** A solver stand-in that forwards to a probe and can be stopped. */
    private static ActorRef<Solver.Command> forwarder(TestProbe<Solver.Command> probe) {
        return kit.spawn(Behaviors.receive((ctx, msg) -> {
            probe.ref().tell(msg);
            return Behaviors.same();
        }));
    }

    @Test
    void syncBatchGoesToHomeSolversAndFailedWorkIsIssuedAgain() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.SYNC, 2).withPrefetch(1);
        MinibatchSampler mb = minibatches();
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, mb, Sampler.Start.fresh(5)));
        TestProbe<Solver.Command> s0 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Solver.Command> s1 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        sampler.tell(new Sampler.RequestWork(0, s0.ref(), -1));
        sampler.tell(new Sampler.RequestWork(1, s1.ref(), -1));
        sampler.tell(new Sampler.IssueBatch(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        int[] batch = mb.next(mb.start(5)).indices();

        // every sample reaches its home solver i mod 2, one item at a time per solver (work pulling)
        List<Solver.Task> seen = new ArrayList<>();
        Set<Long> settled = new HashSet<>();
        boolean failed = false;
        for (int s = 0; s < 2; s++) {
            TestProbe<Solver.Command> probe = s == 0 ? s0 : s1;
            int home = s;
            long count = java.util.Arrays.stream(batch).filter(i -> i % 2 == home).count();
            for (int j = 0; j < count; j++) {
                Solver.Task t = ((Solver.Compute) probe.receiveMessage(Duration.ofSeconds(3))).task();
                assertEquals(s, t.sample() % 2, "sample " + t.sample() + " must go to its home solver");
                assertArrayEquals(THETA, t.theta(), 0.0);
                assertEquals(t.sample(), batch[t.slot()], "slots are in batch order");
                if (!failed) {
                    // the solver "crashes" on its first item and restarts: the item comes back to it
                    failed = true;
                    sampler.tell(new Sampler.SolverFailed(s, t.workId()));
                    sampler.tell(new Sampler.RequestWork(s, probe.ref(), -1));
                    Solver.Task again = ((Solver.Compute) probe.receiveMessage(Duration.ofSeconds(3))).task();
                    assertEquals(t.workId(), again.workId());
                    assertEquals(1, again.attempt());
                    t = again;
                }
                if (j + 1 < count) {
                    probe.expectNoMessage(Duration.ofMillis(100));   // nothing more until it asks
                }
                seen.add(t);
                sampler.tell(new Sampler.RequestWork(s, probe.ref(), t.workId()));
            }
            probe.expectNoMessage(Duration.ofMillis(100));
        }
        assertEquals(batch.length, seen.stream().map(Solver.Task::workId).distinct().count(), "no item lost or doubled");
        for (Solver.Task t : seen) {
            sampler.tell(new Sampler.Settled(t.workId()));
            settled.add(t.workId());
        }
        sampler.tell(new Sampler.Snapshot(1, optimizer.ref()));
        Optimizer.SamplerState state = optimizer.expectMessageClass(Optimizer.SamplerState.class);
        assertEquals(0, state.pendingSamples().length, "every item settled");
        assertEquals(1, state.solverFailures());
        assertEquals(1, state.reissued());
        assertEquals(mb.next(mb.start(5)).next().index(), state.index(), "position after the batch");
    }

    @Test
    void aHelloIsAnsweredWithTheSamplersOwnReferenceBeforeAnyItem() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 1).withPrefetch(1);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(), Sampler.Start.fresh(5)));
        TestProbe<Solver.Command> p0 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        sampler.tell(Sampler.RequestWork.hello(0, p0.ref()));
        assertEquals(new Solver.WorkFrom(sampler), p0.receiveMessage(Duration.ofSeconds(3)));
        Solver.Task a = ((Solver.Compute) p0.receiveMessage(Duration.ofSeconds(3))).task();
        // ordinary requests are not answered with the reference
        sampler.tell(new Sampler.RequestWork(0, p0.ref(), a.workId()));
        assertTrue(p0.receiveMessage(Duration.ofSeconds(3)) instanceof Solver.Compute);
    }

    @Test
    void prefetchKeepsTheNextItemWaitingAtTheSolver() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 1).withPrefetch(2);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(), Sampler.Start.fresh(5)));
        TestProbe<Solver.Command> p0 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        sampler.tell(new Sampler.RequestWork(0, p0.ref(), -1));
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        Solver.Task a = ((Solver.Compute) p0.receiveMessage(Duration.ofSeconds(3))).task();
        Solver.Task b = ((Solver.Compute) p0.receiveMessage(Duration.ofSeconds(3))).task();
        p0.expectNoMessage(Duration.ofMillis(100));   // two at most
        sampler.tell(new Sampler.RequestWork(0, p0.ref(), a.workId()));
        Solver.Task c = ((Solver.Compute) p0.receiveMessage(Duration.ofSeconds(3))).task();
        p0.expectNoMessage(Duration.ofMillis(100));
        int[] order = minibatches().order(5, 0);
        assertArrayEquals(new int[]{order[0], order[1], order[2]}, new int[]{a.sample(), b.sample(), c.sample()},
                "epoch order");
    }

    @Test
    void workOfAStoppedOrSilentSolverGoesToAnother() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 2).withWorkTimeout(Duration.ofMillis(400)).withPrefetch(1);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(), Sampler.Start.fresh(5)));
        TestProbe<Solver.Command> p0 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Solver.Command> p1 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        ActorRef<Solver.Command> doomed = forwarder(p0);
        sampler.tell(new Sampler.RequestWork(0, doomed, -1));
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        Solver.Task lost = ((Solver.Compute) p0.receiveMessage(Duration.ofSeconds(3))).task();
        kit.stop(doomed);
        awaitReissued(sampler, optimizer, 1, "watched: re-queued");
        // the other solver arrives and gets the orphaned item first (owed work before new samples)
        sampler.tell(new Sampler.RequestWork(1, p1.ref(), -1));
        Solver.Task taken = ((Solver.Compute) p1.receiveMessage(Duration.ofSeconds(3))).task();
        assertEquals(lost.workId(), taken.workId());
        assertEquals(lost.sample(), taken.sample());
        // solvers 1 and 2 keep silent: after the work timeout their items are issued again (to whoever asks)
        TestProbe<Solver.Command> p2 = kit.createTestProbe(Solver.Command.class);
        sampler.tell(new Sampler.RequestWork(2, p2.ref(), -1));
        Solver.Task fresh = ((Solver.Compute) p2.receiveMessage(Duration.ofSeconds(3))).task();
        assertTrue(fresh.workId() != lost.workId(), "a free solver first gets a new sample");
        Optimizer.SamplerState st = optimizer.awaitAssert(Duration.ofSeconds(10), Duration.ofMillis(100), () -> {
            sampler.tell(new Sampler.Snapshot(1, optimizer.ref()));
            Optimizer.SamplerState x = optimizer.expectMessageClass(Optimizer.SamplerState.class);
            assertEquals(2, x.timeouts(), "the items of the two silent solvers timed out");
            return x;
        });
        // owed: the two unsettled items and the untaken rest of the batches drawn (solver 2 holds no warm
        // starts, so the draw looked one batch ahead before taking the oldest): the first two batches, once each
        int[] order = minibatches().order(5, 0);
        int[] pending = st.pendingSamples().clone();
        java.util.Arrays.sort(pending);
        int[] firstTwoBatches = java.util.Arrays.copyOf(order, 6);
        java.util.Arrays.sort(firstTwoBatches);
        assertArrayEquals(firstTwoBatches, pending);
        sampler.tell(new Sampler.RequestWork(2, p2.ref(), fresh.workId()));
        Solver.Task retried = ((Solver.Compute) p2.receiveMessage(Duration.ofSeconds(5))).task();
        assertEquals(lost.workId(), retried.workId(), "timed-out item re-issued before new samples");
        assertEquals(2, retried.attempt());
    }

    /**
     * In a cluster a solver's id comes from its node's host:port, so a node restarted at the same address
     * brings solvers with the ids of the lost ones (new actor references). They must get work — whether the
     * old incarnation's stop was noticed before their hello or only after it — and the old one's unanswered
     * item must be issued again, not left waiting for a reply that cannot come.
     */
    @Test
    void aSolverRestartedWithTheSameIdGetsWorkWhicheverComesFirstItsHelloOrTheOldOnesStop() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 1).withPrefetch(1);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(), Sampler.Start.fresh(5)));
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));

        // (1) the stop is noticed first, then the new incarnation says hello
        TestProbe<Solver.Command> first = kit.createTestProbe(Solver.Command.class);
        ActorRef<Solver.Command> old = forwarder(first);
        sampler.tell(new Sampler.RequestWork(7, old, -1));
        Solver.Task a = ((Solver.Compute) first.receiveMessage(Duration.ofSeconds(3))).task();
        kit.stop(old);
        awaitReissued(sampler, optimizer, 1, "the stop was noticed");
        TestProbe<Solver.Command> second = kit.createTestProbe(Solver.Command.class);
        ActorRef<Solver.Command> restarted = forwarder(second);
        sampler.tell(new Sampler.RequestWork(7, restarted, -1));
        Solver.Task b = ((Solver.Compute) second.receiveMessage(Duration.ofSeconds(3))).task();
        assertEquals(a.workId(), b.workId(), "the orphaned item first");
        sampler.tell(new Sampler.RequestWork(7, restarted, b.workId()));
        Solver.Task c = ((Solver.Compute) second.receiveMessage(Duration.ofSeconds(3))).task();
        assertTrue(c.workId() != b.workId(), "and more work after it");

        // (2) the next incarnation says hello while the previous one's stop has not been noticed yet
        TestProbe<Solver.Command> third = kit.createTestProbe(Solver.Command.class);
        ActorRef<Solver.Command> again = forwarder(third);
        sampler.tell(new Sampler.RequestWork(7, again, -1));
        Solver.Task d = ((Solver.Compute) third.receiveMessage(Duration.ofSeconds(3))).task();
        assertEquals(c.workId(), d.workId(), "the replaced incarnation's unanswered item goes to the new one");
        kit.stop(restarted);   // its stop notice arrives now, about an incarnation already replaced
        sampler.tell(new Sampler.RequestWork(7, again, d.workId()));
        Solver.Task e = ((Solver.Compute) third.receiveMessage(Duration.ofSeconds(3))).task();
        assertTrue(e.workId() != d.workId());
        third.expectNoMessage(Duration.ofMillis(300));   // still one item at a time (prefetch 1)
        sampler.tell(new Sampler.RequestWork(7, again, e.workId()));
        third.expectMessageClass(Solver.Compute.class, Duration.ofSeconds(3));
        second.expectNoMessage(Duration.ofMillis(100));
    }

    /**
     * Akka tells a watcher at once that an actor stopped when its node is still joining at the address of a
     * removed node; a solver reported stopped that asks for work (its idle hello) is alive and gets work.
     */
    @Test
    void aSolverReportedStoppedThatAsksForWorkIsAliveAndGetsWork() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 1).withPrefetch(1);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(), Sampler.Start.fresh(5)));
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        TestProbe<Solver.Command> probe = kit.createTestProbe(Solver.Command.class);
        ActorRef<Solver.Command> solver = forwarder(probe);
        sampler.tell(Sampler.RequestWork.hello(3, solver));
        assertTrue(probe.receiveMessage(Duration.ofSeconds(3)) instanceof Solver.WorkFrom);
        sampler.tell(new Sampler.SolverStopped(3, solver));   // a spurious stop notice
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        probe.expectNoMessage(Duration.ofMillis(200));   // nothing goes to a stopped solver
        sampler.tell(Sampler.RequestWork.hello(3, solver));
        assertTrue(probe.receiveMessage(Duration.ofSeconds(3)) instanceof Solver.WorkFrom);
        Solver.Task t = ((Solver.Compute) probe.receiveMessage(Duration.ofSeconds(3))).task();
        sampler.tell(new Sampler.RequestWork(3, solver, t.workId()));
        assertTrue(probe.receiveMessage(Duration.ofSeconds(3)) instanceof Solver.Compute, "and it keeps getting work");
        // the new watch holds: a real stop is still noticed
        kit.stop(solver);
        awaitReissued(sampler, optimizer, 1, "its item re-queued");
    }

    @Test
    void withMinSolversNothingIsHandedOutBeforeThatManySolversHaveAsked() {
        RuntimeSpec rt = Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 3).withPrefetch(1);
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(rt, minibatches(),
                Sampler.Start.fresh(5).withMinSolvers(3)));
        TestProbe<Solver.Command> p0 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Solver.Command> p1 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Solver.Command> p2 = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        sampler.tell(new Sampler.IssueValidation(1, THETA, 0, 1e-2, 2, optimizer.ref()));
        sampler.tell(new Sampler.UpdateTheta(0, THETA, 0, 1e-2, 1e-2, optimizer.ref()));
        sampler.tell(new Sampler.RequestWork(0, p0.ref(), -1));
        sampler.tell(new Sampler.RequestWork(1, p1.ref(), -1));
        sampler.tell(new Sampler.RequestWork(1, p1.ref(), -1));   // asking twice does not count twice
        p0.expectNoMessage(Duration.ofMillis(200));
        p1.expectNoMessage(Duration.ZERO);
        // the third solver: everyone gets an item (validation first)
        sampler.tell(new Sampler.RequestWork(2, p2.ref(), -1));
        List<Solver.Command> got = List.of(p0.receiveMessage(Duration.ofSeconds(3)), p1.receiveMessage(Duration.ofSeconds(3)),
                p2.receiveMessage(Duration.ofSeconds(3)));
        assertEquals(2, got.stream().filter(m -> m instanceof Solver.Validate).count());
        assertEquals(1, got.stream().filter(m -> m instanceof Solver.Compute).count());
    }
}
