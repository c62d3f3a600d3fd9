package bilevel.actors;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.DispatcherSelector;
import bilevel.numerics.data.CropPlan;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real Solver actor: work pulling, and Refine continuing from its cached iterates. */
class SolverTest {
    private static ActorTestKit kit;
    private static TrainingData data;
    private static TrainingSpec spec;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("solver-test", Fixtures.akka());
        spec = Fixtures.spec("adam", 4, 0, 1);
        data = TrainingData.load(spec.data(), spec.seed(), DataType.DOUBLE);
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
        data.close();
    }

    private static Solver.Task task(long id, int sample, double[] theta, double eps) {
        CropPlan.Sample s = data.plan().sample(sample);
        return new Solver.Task(id, 0, 0, sample, s.imageId(), s.row(), s.col(), s.noiseSeed(), 0, 0, 1, theta, 0, eps, eps);
    }

    @Test
    void refineContinuesFromTheCachedStateOfTheSample() {
        Regularizer reg = RegularizerFactory.create("tv", Map.of());
        double[] theta = reg.project(reg.initialTheta(4));
        try (SolverEnvironment env = new SolverEnvironment(data, spec, DataType.DOUBLE, 2)) {
            TestProbe<Sampler.Command> sampler = kit.createTestProbe(Sampler.Command.class);
            TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
            ActorRef<Solver.Command> solver = kit.spawn(Solver.create(0, env, sampler.ref(), Solver.WarmStarts.none(),
                    Solver.Faults.NONE), "solver-0", DispatcherSelector.fromConfig("bilevel-solver-dispatcher"));
            ActorRef<Solver.Command> cold = kit.spawn(Solver.create(1, env, sampler.ref(), Solver.WarmStarts.none(),
                    Solver.Faults.NONE), "solver-1", DispatcherSelector.fromConfig("bilevel-solver-dispatcher"));
            assertEquals(-1, sampler.expectMessageClass(Sampler.RequestWork.class).finished());
            assertEquals(-1, sampler.expectMessageClass(Sampler.RequestWork.class).finished());

            Solver.Task loose = task(7, 5, theta, 1e-1);
            solver.tell(new Solver.Compute(loose, optimizer.ref()));
            Optimizer.Computed first = optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            Sampler.RequestWork more = sampler.expectMessageClass(Sampler.RequestWork.class);
            assertEquals(7, more.finished(), "asks for more work after a pulled item");
            assertEquals(first.numericsNanos(), more.solveNanos(), "reports its solve time");
            assertTrue(more.receivedNanos() > 0 && more.repliedNanos() - more.receivedNanos() >= more.solveNanos(),
                    "its timestamps enclose the solve: " + more);

            Solver.Task tight = loose.refined(1e-6, 1e-6);
            solver.tell(new Solver.Refine(tight, optimizer.ref()));
            Optimizer.Computed refined = optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            assertEquals(1, refined.refinement());
            assertEquals(7, refined.workId());
            assertTrue(refined.errorBound() < first.errorBound(), refined.errorBound() + " vs " + first.errorBound());
            sampler.expectMessageClass(Sampler.RequestWork.class);   // reports the refinement answered

            // the same tight request from a cold start costs more than the continuation
            cold.tell(new Solver.Compute(task(8, 5, theta, 1e-6), optimizer.ref()));
            Optimizer.Computed fromScratch = optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            assertTrue(refined.computations() < fromScratch.computations(),
                    "refinement " + refined.computations() + " vs cold " + fromScratch.computations());
            kit.stop(solver);
            kit.stop(cold);
        }
    }

    @Test
    void requestsGoStraightToTheSamplerThatAnsweredTheHelloUntilAPing() {
        Regularizer reg = RegularizerFactory.create("tv", Map.of());
        double[] theta = reg.project(reg.initialTheta(4));
        try (SolverEnvironment env = new SolverEnvironment(data, spec, DataType.DOUBLE, 1)) {
            TestProbe<Sampler.Command> proxy = kit.createTestProbe(Sampler.Command.class);
            TestProbe<Sampler.Command> direct = kit.createTestProbe(Sampler.Command.class);
            TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
            ActorRef<Solver.Command> solver = kit.spawn(Solver.create(0, env, proxy.ref(), Solver.WarmStarts.none(),
                    Solver.Faults.NONE), "solver-direct", DispatcherSelector.fromConfig("bilevel-solver-dispatcher"));
            Sampler.RequestWork hello = proxy.expectMessageClass(Sampler.RequestWork.class);
            assertTrue(hello.wantsDirect() && hello.finished() == -1, hello.toString());
            solver.tell(new Solver.WorkFrom(direct.ref()));
            solver.tell(new Solver.Compute(task(3, 2, theta, 1e-1), optimizer.ref()));
            optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            Sampler.RequestWork next = direct.expectMessageClass(Sampler.RequestWork.class);
            assertEquals(3, next.finished());
            assertTrue(!next.wantsDirect());
            proxy.expectNoMessage(Duration.ofMillis(100));
            // a new singleton pings: back to the proxy, with a new hello
            solver.tell(new Solver.Ping());
            Sampler.RequestWork again = proxy.expectMessageClass(Sampler.RequestWork.class);
            assertTrue(again.wantsDirect() && again.finished() == -1, again.toString());
            solver.tell(new Solver.Compute(task(4, 3, theta, 1e-1), optimizer.ref()));
            optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            assertEquals(4, proxy.expectMessageClass(Sampler.RequestWork.class).finished());
            direct.expectNoMessage(Duration.ofMillis(100));
            kit.stop(solver);
        }
    }

    @Test
    void anIdleSolverSaysHelloAgainUntilItGetsWork() {
        Regularizer reg = RegularizerFactory.create("tv", Map.of());
        double[] theta = reg.project(reg.initialTheta(4));
        try (SolverEnvironment env = new SolverEnvironment(data, spec, DataType.DOUBLE, 1)) {
            TestProbe<Sampler.Command> sampler = kit.createTestProbe(Sampler.Command.class);
            TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
            ActorRef<Solver.Command> solver = kit.spawn(Solver.create(0, 0, env, sampler.ref(), Solver.WarmStarts.none(),
                    Solver.Faults.NONE, Duration.ofMillis(300)), "solver-idle", DispatcherSelector.fromConfig("bilevel-solver-dispatcher"));
            assertTrue(sampler.expectMessageClass(Sampler.RequestWork.class).wantsDirect());
            // nobody answers (a request lost, or a Sampler that wrongly thinks it stopped): hello again, and again
            for (int i = 0; i < 2; i++) {
                Sampler.RequestWork again = sampler.expectMessageClass(Sampler.RequestWork.class, Duration.ofSeconds(5));
                assertTrue(again.wantsDirect() && again.finished() == -1, again.toString());
            }
            // busy, or answered with work: no hello in between
            solver.tell(new Solver.Compute(task(3, 2, theta, 1e-1), optimizer.ref()));
            optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            Sampler.RequestWork next;
            do {   // idle hellos sent before the item arrived may come first
                next = sampler.expectMessageClass(Sampler.RequestWork.class, Duration.ofSeconds(5));
            } while (next.finished() == -1);
            assertEquals(3, next.finished());
            solver.tell(new Solver.Compute(task(4, 3, theta, 1e-1), optimizer.ref()));
            optimizer.expectMessageClass(Optimizer.Computed.class, Duration.ofSeconds(60));
            assertEquals(4, sampler.expectMessageClass(Sampler.RequestWork.class, Duration.ofSeconds(5)).finished(),
                    "no hello between an answer and the next request");
            kit.stop(solver);
        }
    }
}
