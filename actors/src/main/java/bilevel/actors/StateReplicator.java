package bilevel.actors;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.ddata.Key;
import akka.cluster.ddata.LWWRegister;
import akka.cluster.ddata.LWWRegisterKey;
import akka.cluster.ddata.SelfUniqueAddress;
import akka.cluster.ddata.typed.javadsl.DistributedData;
import akka.cluster.ddata.typed.javadsl.Replicator;
import bilevel.numerics.train.TrainingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.time.Duration;

/**
 * The optimizer state of a cluster run in Akka Distributed Data: the same content as a checkpoint file
 * ({@link Checkpoint}: θ, optimizer state, version, sampler position, unapplied samples, counters; never
 * warm starts, which are pixels), as CBOR (binary doubles: a third of the size of JSON text, and no number
 * formatting on the optimizer's node for every update) in Base64 in an {@link LWWRegister}.
 *
 * <ul>
 *   <li><b>Live state</b> ({@link #liveKey}): the Optimizer writes its newest state through this actor with
 *       <em>WriteMajority</em> (one write at a time) and counts the updates up to it as accepted only when
 *       the write is acknowledged ({@link Optimizer.Replicated}); a singleton that starts after a fail-over
 *       reads it with
 *       <em>ReadMajority</em>. Since every majority write and every majority read share a node, a new
 *       singleton sees every accepted update as long as a majority of the nodes survives. The register
 *       uses Akka's default clock (wall time, but always above the value it replaces), so the writes of
 *       one singleton, and those of its successor, which has read the newest value, are ordered.</li>
 *   <li><b>Disk state</b> ({@link #diskKey}): at its start, every optimizer-role node publishes the newest
 *       valid checkpoint of its own run folder with <em>WriteLocal</em> ({@link #publishDisk}); the
 *       register's clock is the checkpoint's number of accepted updates, so merging keeps the most
 *       advanced one. After a full stop (no live state) the singleton continues from it.</li>
 * </ul>
 *
 * <p>Protocol: {@link Write} → {@link Optimizer.Replicated} with {@code error == null} when a majority
 * has acknowledged ({@code UpdateSuccess}), or the reason otherwise (timeout: the Optimizer retries).
 */
public final class StateReplicator {

    /** Messages of the writer (local; serializable like every protocol of the runtime). */
    public sealed interface Command extends CborSerializable permits Write, Done {
    }

    /**
     * Replicate {@code state} (the state after update number {@code sequence} of this singleton) with
     * WriteMajority and answer {@code replyTo} with {@link Optimizer.Replicated}.
     */
    public record Write(long sequence, Checkpoint state, ActorRef<Optimizer.Command> replyTo) implements Command {
    }

    /** Internal: the replicator's answer to a write. */
    record Done(long sequence, ActorRef<Optimizer.Command> replyTo, String error) implements Command {
    }

    private static final ObjectMapper CBOR = new com.fasterxml.jackson.dataformat.cbor.databind.CBORMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** The register's value of {@code checkpoint}: CBOR in Base64. */
    static String encode(Checkpoint checkpoint) throws java.io.IOException {
        return java.util.Base64.getEncoder().encodeToString(CBOR.writeValueAsBytes(checkpoint));
    }

    /** The checkpoint in a register's value ({@link #encode}). */
    static Checkpoint decode(String value) throws java.io.IOException {
        return CBOR.readValue(java.util.Base64.getDecoder().decode(value), Checkpoint.class);
    }

    private StateReplicator() {
    }

    /** The register of a run's live optimizer state ({@code runId}: data fingerprint and seed). */
    public static Key<LWWRegister<String>> liveKey(String runId) {
        return LWWRegisterKey.create("bilevel-run-" + runId);
    }

    /** The register of the newest checkpoint found on the optimizer nodes' disks at their start. */
    public static Key<LWWRegister<String>> diskKey(String runId) {
        return LWWRegisterKey.create("bilevel-run-" + runId + "-disk");
    }

    /** Orders disk checkpoints by accepted updates (steps); ties go to the value already held. */
    private static final LWWRegister.Clock<String> STEPS_CLOCK = (current, json) -> steps(json);

    private static long steps(String value) {
        try {
            return decode(value).steps();
        } catch (java.io.IOException | IllegalArgumentException e) {
            return 0;
        }
    }

    /**
     * The writer of a run's live state.
     *
     * @param replicator   the Distributed Data replicator (or a stand-in in tests)
     * @param self         this node's address (the register's writer)
     * @param key          the register ({@link #liveKey})
     * @param writeTimeout WriteMajority's timeout; a timed-out write is reported, and the Optimizer retries
     */
    public static Behavior<Command> create(ActorRef<Replicator.Command> replicator, SelfUniqueAddress self,
                                           Key<LWWRegister<String>> key, Duration writeTimeout) {
        return Behaviors.setup(ctx -> Behaviors.receive(Command.class)
                .onMessage(Write.class, w -> {
                    String json = encode(w.state());
                    akka.japi.function.Function<ActorRef<Replicator.UpdateResponse<LWWRegister<String>>>, Replicator.Command> request =
                            replyTo -> new Replicator.Update<>(key, LWWRegister.create(self, json),
                                    new Replicator.WriteMajority(writeTimeout), replyTo, r -> r.withValue(self, json));
                    @SuppressWarnings({"unchecked", "rawtypes"})
                    Class<Replicator.UpdateResponse<LWWRegister<String>>> type = (Class) Replicator.UpdateResponse.class;
                    ctx.ask(type, replicator, writeTimeout.plusSeconds(2), request, (r, failure) -> new Done(w.sequence(),
                            w.replyTo(), r instanceof Replicator.UpdateSuccess ? null
                            : r != null ? r.getClass().getSimpleName() + " (" + writeTimeout.toMillis() + " ms)"
                            : String.valueOf(failure)));
                    return Behaviors.same();
                })
                .onMessage(Done.class, d -> {
                    d.replyTo().tell(new Optimizer.Replicated(d.sequence(), d.error()));
                    return Behaviors.same();
                })
                .build());
    }

    /** Publishes a checkpoint from this node's disk into the {@link #diskKey} register (WriteLocal). */
    public static void publishDisk(ActorSystem<?> system, String runId, Checkpoint checkpoint) {
        String json;
        try {
            json = encode(checkpoint);
        } catch (java.io.IOException e) {
            throw new TrainingException("cannot encode checkpoint: " + e.getMessage());
        }
        SelfUniqueAddress self = DistributedData.get(system).selfUniqueAddress();
        DistributedData.get(system).replicator().tell(new Replicator.Update<>(diskKey(runId),
                LWWRegister.create(self, json, STEPS_CLOCK), Replicator.writeLocal(), system.ignoreRef(),
                r -> steps(r.getValue()) >= checkpoint.steps() ? r : r.withValue(self, json, STEPS_CLOCK)));
    }

    /**
     * Reads a register: with {@code first} (ReadMajority or ReadAll), falling back to ReadMajority and then
     * to the local replica when too few nodes answer. Blocking (at most a few seconds). Null: no value.
     */
    static Checkpoint read(ActorSystem<?> system, Key<LWWRegister<String>> key, Replicator.ReadConsistency first) {
        java.util.List<Replicator.ReadConsistency> order = new java.util.ArrayList<>(java.util.List.of(first));
        if (!(first instanceof Replicator.ReadMajority)) {
            order.add(new Replicator.ReadMajority(Duration.ofSeconds(3)));
        }
        order.add(Replicator.readLocal());
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(StateReplicator.class);
        try {
            for (Replicator.ReadConsistency consistency : order) {
                Replicator.GetResponse<LWWRegister<String>> r = get(system, key, consistency);
                log.info("replicated optimizer state {} ({}): {}", key.id(), consistency.getClass().getSimpleName(),
                        r.getClass().getSimpleName());
                if (r instanceof Replicator.GetSuccess<LWWRegister<String>> ok) {
                    return decode(ok.get(key).getValue());
                }
                if (r instanceof Replicator.NotFound) {
                    return null;
                }
            }
            return null;
        } catch (Exception e) {
            throw new TrainingException("cannot read the replicated optimizer state: " + e);
        }
    }

    private static Replicator.GetResponse<LWWRegister<String>> get(ActorSystem<?> system, Key<LWWRegister<String>> key,
                                                                  Replicator.ReadConsistency consistency) throws Exception {
        ActorRef<Replicator.Command> replicator = DistributedData.get(system).replicator();
        return AskPattern.<Replicator.Command, Replicator.GetResponse<LWWRegister<String>>>ask(replicator,
                replyTo -> new Replicator.Get<>(key, consistency, replyTo),
                consistency.timeout().plusSeconds(3), system.scheduler()).toCompletableFuture().get();
    }
}
