package bilevel.actors;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import bilevel.numerics.data.CropPlan;
import bilevel.numerics.data.MinibatchSampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Sampler's in-process trace (bench cluster): one call per answered item, with the solver's solve time. */
class SamplerTraceTest {
    private static ActorTestKit kit;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("sampler-trace-test", Fixtures.akka());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @Test
    void everyAnsweredItemIsTracedOnceWithItsRoundTripAndSolveTime() {
        List<CropPlan.ImageSize> sizes = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            sizes.add(new CropPlan.ImageSize(i, 24, 24));
        }
        MinibatchSampler mb = new MinibatchSampler(CropPlan.create(sizes, 16, 2, 5), 3);
        List<Sampler.Answer> calls = new CopyOnWriteArrayList<>();
        ActorRef<Sampler.Command> sampler = kit.spawn(Sampler.create(Fixtures.runtime(RuntimeSpec.Mode.ASYNC, 1)
                .withPrefetch(1), mb, Sampler.Start.fresh(5), a -> calls.add(a)));
        TestProbe<Solver.Command> solver = kit.createTestProbe(Solver.Command.class);
        TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
        long before = System.nanoTime();
        sampler.tell(new Sampler.RequestWork(0, solver.ref(), -1));
        sampler.tell(new Sampler.UpdateTheta(0, new double[]{0.5}, 0, 1e-2, 1e-2, optimizer.ref()));
        List<Long> ids = new ArrayList<>();
        long settledBefore = 0;
        for (int i = 0; i < 3; i++) {
            Solver.Task t = ((Solver.Compute) solver.receiveMessage(Duration.ofSeconds(3))).task();
            ids.add(t.workId());
            if (i == 1) {
                // the Optimizer settles the item before the solver's request arrives: the answer counts from then
                sampler.tell(new Sampler.Settled(t.workId()));
                sampler.tell(new Sampler.Snapshot(0, optimizer.ref()));
                optimizer.expectMessageClass(Optimizer.SamplerState.class);
                settledBefore = System.nanoTime();
                assertEquals(1, calls.size(), "no call before the solve time is known");
            }
            sampler.tell(new Sampler.RequestWork(0, solver.ref(), t.workId(), 1000L + i, 2000L + i, 3000L + i));
        }
        // a repeated answer of the same item (e.g. after a ping) is not traced twice
        sampler.tell(new Sampler.RequestWork(0, solver.ref(), ids.get(2), 7L));
        solver.receiveMessage(Duration.ofSeconds(3));
        sampler.tell(new Sampler.Snapshot(1, optimizer.ref()));
        optimizer.expectMessageClass(Optimizer.SamplerState.class);   // every request above has been handled
        assertEquals(3, calls.size(), calls.toString());
        for (int i = 0; i < 3; i++) {
            Sampler.Answer c = calls.get(i);
            assertEquals(ids.get(i), c.workId());
            assertEquals(1000L + i, c.solveNanos());
            assertEquals(0, c.solverId());
            assertEquals(2000L + i, c.receivedNanos(), "the solver's timestamps are passed through");
            assertEquals(3000L + i, c.repliedNanos());
            assertTrue(c.handedOutNanos() >= before && c.answeredNanos() >= c.handedOutNanos(), c.toString());
        }
        assertTrue(calls.get(1).answeredNanos() < settledBefore, "answered when settled, not at the later request");
    }
}
