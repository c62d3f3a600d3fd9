package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.Props;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Warms up the JIT for the remote messaging path of this JVM: two throw-away actor systems on 127.0.0.1
 * (ports picked by the OS) exchange {@code roundTrips} round trips of the runtime's own work-item messages
 * over Artery — {@link Solver.Compute} with a θ of {@code thetaLength} doubles one way, {@link Optimizer.Computed}
 * with a hypergradient of the same length and {@link Sampler.RequestWork} back — then stop.
 *
 * <p>Why: a fresh JVM runs Artery's streams, TCP framing and the Jackson CBOR (de)serializers in the
 * interpreter; on the development machine a round trip of these messages took ≈ 4.4 ms for the first
 * 200 exchanges and 0.6–1.1 ms for the last 200 of 2000 (the {@code messaging warm-up:} line of
 * {@code bench cluster}). A days-long training is in the warm state after its first
 * minutes; {@code bench cluster} measures that state, so its solver nodes ({@code bilevel node --warm-up})
 * and its optimizer side run this first, as they already compute untimed hypergradients to warm the
 * numerics. Nothing here touches the node's own actor system or the cluster.
 */
public final class MessagingWarmUp {

    /**
     * @param roundTrips     round trips completed
     * @param seconds        wall time of the exchanges
     * @param firstMillis    mean round trip of the first tenth
     * @param lastMillis     mean round trip of the last tenth
     * @param idleMillis     median round trip after an idle pause (the probes after the warm-up; NaN: none)
     */
    public record Result(int roundTrips, double seconds, double firstMillis, double lastMillis, double idleMillis) {
    }

    private MessagingWarmUp() {
    }

    /**
     * Runs the exchange.
     *
     * @param transport   Akka settings for Artery's transport over the runtime's defaults (e.g. TLS from
     *                    {@link ClusterTls#akkaConfig()}; empty for plain TCP)
     * @param thetaLength length of θ and of the hypergradient (≥ 1)
     * @param roundTrips  exchanges (≥ 1); one in flight at a time, as with strict pulling
     * @param timeout     give up after this long (the result then counts what completed)
     */
    public static Result run(Config transport, int thetaLength, int roundTrips, Duration timeout) {
        return run(transport, thetaLength, roundTrips, 0, Duration.ZERO, timeout);
    }

    /**
     * Runs the exchange, then {@code idleProbes} more round trips each after {@code idlePause} without
     * messages — what one work item's messages cost when a solve keeps the path idle in between (threads
     * parked at every hop), with no runtime logic in the way: the floor of {@code bench cluster}'s round trip.
     */
    public static Result run(Config transport, int thetaLength, int roundTrips, int idleProbes, Duration idlePause,
                             Duration timeout) {
        if (thetaLength < 1 || roundTrips < 1) {
            throw new IllegalArgumentException("thetaLength and roundTrips must be positive: " + thetaLength + ", " + roundTrips);
        }
        Config config = ConfigFactory.parseString("""
                        akka.actor.provider = remote
                        akka.remote.artery.canonical.hostname = "127.0.0.1"
                        akka.remote.artery.canonical.port = 0
                        akka.loglevel = OFF
                        akka.log-dead-letters = off
                        akka.coordinated-shutdown.run-by-jvm-shutdown-hook = off
                        akka.remote.artery.advanced.maximum-frame-size = 4 MiB
                        """)
                .withFallback(transport)
                .withFallback(TrainingRuntime.akkaConfig())
                .resolve();
        Semaphore answers = new Semaphore(0);
        ActorSystem<Void> a = ActorSystem.create(Behaviors.empty(), "bilevel-warm-up-a", config);
        ActorSystem<Void> b = null;
        try {
            b = ActorSystem.create(Behaviors.empty(), "bilevel-warm-up-b", config);
            ActorRef<Optimizer.Command> optimizer = a.systemActorOf(count(Optimizer.Command.class, answers), "optimizer",
                    Props.empty());
            ActorRef<Sampler.Command> sampler = a.systemActorOf(count(Sampler.Command.class, answers), "sampler", Props.empty());
            // the solver stand-in in b reaches the sampler in a through Artery (a resolved remote reference)
            ActorRef<Sampler.Command> remoteSampler = ActorRefResolver.get(b).resolveActorRef(
                    ActorRefResolver.get(a).toSerializationFormat(sampler));
            ActorRef<Solver.Command> solver = b.systemActorOf(solverStandIn(remoteSampler, thetaLength), "solver", Props.empty());
            ActorRef<Solver.Command> remoteSolver = ActorRefResolver.get(a).resolveActorRef(
                    ActorRefResolver.get(b).toSerializationFormat(solver));
            ActorRef<Optimizer.Command> remoteOptimizer = ActorRefResolver.get(b).resolveActorRef(
                    ActorRefResolver.get(a).toSerializationFormat(optimizer));
            double[] theta = new double[thetaLength];
            for (int i = 0; i < thetaLength; i++) {
                theta[i] = Math.sin(i + 0.5);
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            int tenth = Math.max(1, roundTrips / 10);
            double first = 0;
            double last = 0;
            int done = 0;
            long start = System.nanoTime();
            for (int i = 0; i < roundTrips; i++) {
                long t0 = System.nanoTime();
                Solver.Task task = new Solver.Task(i, 0, 0, i % 64, i % 8, 0, 0, i, i, 0, 1, theta, i, 1e-3, 1e-3);
                remoteSolver.tell(new Solver.Compute(task, remoteOptimizer));
                long left = deadline - System.nanoTime();
                if (left <= 0 || !answers.tryAcquire(2, left, TimeUnit.NANOSECONDS)) {
                    break;
                }
                double ms = (System.nanoTime() - t0) / 1e6;
                if (i < tenth) {
                    first += ms;
                }
                if (i >= roundTrips - tenth) {
                    last += ms;
                }
                done++;
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double[] idle = new double[done == roundTrips ? idleProbes : 0];
            for (int j = 0; j < idle.length; j++) {
                Thread.sleep(idlePause.toMillis());
                long t0 = System.nanoTime();
                int i = roundTrips + j;
                remoteSolver.tell(new Solver.Compute(new Solver.Task(i, 0, 0, i % 64, i % 8, 0, 0, i, i, 0, 1, theta, i,
                        1e-3, 1e-3), remoteOptimizer));
                if (!answers.tryAcquire(2, Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    idle = java.util.Arrays.copyOf(idle, j);
                    break;
                }
                idle[j] = (System.nanoTime() - t0) / 1e6;
            }
            java.util.Arrays.sort(idle);
            double idleMedian = idle.length == 0 ? Double.NaN : idle.length % 2 == 1 ? idle[idle.length / 2]
                    : 0.5 * (idle[idle.length / 2 - 1] + idle[idle.length / 2]);
            return new Result(done, seconds, first / tenth, done == roundTrips ? last / tenth : Double.NaN, idleMedian);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(0, 0, Double.NaN, Double.NaN, Double.NaN);
        } finally {
            terminate(a);
            if (b != null) {
                terminate(b);
            }
        }
    }

    /** Answers every Compute as a solver does: the result to its replyTo, then a request for more work. */
    private static Behavior<Solver.Command> solverStandIn(ActorRef<Sampler.Command> sampler, int thetaLength) {
        double[] z = new double[thetaLength];
        for (int i = 0; i < thetaLength; i++) {
            z[i] = Math.cos(i + 0.5);
        }
        return Behaviors.setup(ctx -> Behaviors.receive(Solver.Command.class)
                .onMessage(Solver.Compute.class, m -> {
                    Solver.Task t = m.task();
                    long received = System.nanoTime();
                    m.replyTo().tell(new Optimizer.Computed(t.workId(), t.refinement(), t.sample(), t.step(), t.slot(),
                            t.batchSize(), t.version(), t.epsilon(), t.delta(), z, 1.0, 1e-3, true, 100, false, false,
                            1000, 0));
                    sampler.tell(new Sampler.RequestWork(0, ctx.getSelf(), t.workId(), 1000, received, System.nanoTime()));
                    return Behaviors.same();
                })
                .build());
    }

    /** Releases one permit per message of {@code type}. */
    private static <T> Behavior<T> count(Class<T> type, Semaphore answers) {
        return Behaviors.receive(type).onAnyMessage(m -> {
            answers.release();
            return Behaviors.same();
        }).build();
    }

    private static void terminate(ActorSystem<Void> system) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            // best effort: a throw-away system
        }
    }
}
