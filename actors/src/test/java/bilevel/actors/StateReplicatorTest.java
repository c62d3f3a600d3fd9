package bilevel.actors;

import akka.actor.Address;
import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.cluster.MemberStatus;
import akka.cluster.UniqueAddress;
import akka.cluster.ddata.Key;
import akka.cluster.ddata.LWWRegister;
import akka.cluster.ddata.SelfUniqueAddress;
import akka.cluster.ddata.typed.javadsl.DistributedData;
import akka.cluster.ddata.typed.javadsl.Replicator;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The writer of the replicated optimizer state: a majority's acknowledgement (UpdateSuccess) and a timeout
 * reach the Optimizer as {@link Optimizer.Replicated}; with Distributed Data in a one-node cluster the
 * state reads back, and the disk register keeps the checkpoint with the most accepted updates.
 */
class StateReplicatorTest {

    private static Checkpoint checkpoint(long steps, double theta0) {
        return new Checkpoint(Checkpoint.FORMAT, Checkpoint.FORMAT_VERSION, 2, "async", 3, "sha256:x", steps, steps,
                new double[]{theta0, -0.5}, "sgd", steps, null, null, 1, 6, 5, 0, 40, new int[]{4, 7}, 900, 60, 12.5,
                23.4, List.of(), Map.of("stale", 1L));
    }

    @Test
    void acknowledgementAndTimeoutOfTheReplicatorReachTheOptimizer() throws Exception {
        ActorTestKit kit = ActorTestKit.create("state-replicator-probe", Fixtures.akka());
        try {
            TestProbe<Replicator.Command> replicator = kit.createTestProbe(Replicator.Command.class);
            TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
            SelfUniqueAddress self = new SelfUniqueAddress(new UniqueAddress(new Address("akka", "test"), 1L));
            Key<LWWRegister<String>> key = StateReplicator.liveKey("run");
            ActorRef<StateReplicator.Command> writer = kit.spawn(StateReplicator.create(replicator.ref(), self, key,
                    Duration.ofSeconds(3)));
            Checkpoint c = checkpoint(7, 0.25);
            writer.tell(new StateReplicator.Write(11, c, optimizer.ref()));
            @SuppressWarnings("unchecked")
            Replicator.Update<LWWRegister<String>> update = replicator.expectMessageClass(Replicator.Update.class);
            assertEquals(key, update.key());
            assertTrue(update.writeConsistency() instanceof Replicator.WriteMajority);
            // what is written is the checkpoint, as CBOR in Base64
            String value = update.modify().apply(scala.Option.empty()).getValue();
            assertEquals(c, new com.fasterxml.jackson.dataformat.cbor.databind.CBORMapper().disable(
                    com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                    .readValue(java.util.Base64.getDecoder().decode(value), Checkpoint.class));
            assertEquals(c, StateReplicator.decode(value));
            optimizer.expectNoMessage(Duration.ofMillis(100));
            update.replyTo().tell(new Replicator.UpdateSuccess<>(key));
            assertEquals(new Optimizer.Replicated(11, null), optimizer.expectMessageClass(Optimizer.Replicated.class));

            writer.tell(new StateReplicator.Write(12, c, optimizer.ref()));
            @SuppressWarnings("unchecked")
            Replicator.Update<LWWRegister<String>> second = replicator.expectMessageClass(Replicator.Update.class);
            second.replyTo().tell(new Replicator.UpdateTimeout<>(key));
            Optimizer.Replicated failed = optimizer.expectMessageClass(Optimizer.Replicated.class);
            assertEquals(12, failed.sequence());
            assertTrue(failed.error() != null && failed.error().contains("UpdateTimeout"), failed.error());
        } finally {
            kit.shutdownTestKit();
        }
    }

    @Test
    void stateReadsBackFromDistributedDataAndTheMostAdvancedDiskCheckpointWins() {
        ActorTestKit kit = ActorTestKit.create("state-replicator-cluster", ConfigFactory.parseString("""
                akka.actor.provider = cluster
                akka.remote.artery.canonical.hostname = "127.0.0.1"
                akka.remote.artery.canonical.port = 0
                akka.cluster.jmx.multi-mbeans-in-same-jvm = on
                """).withFallback(Fixtures.akka()));
        try {
            Cluster cluster = Cluster.get(kit.system());
            cluster.manager().tell(Join.create(cluster.selfMember().address()));
            TestProbe<Object> wait = kit.createTestProbe();
            wait.awaitAssert(Duration.ofSeconds(20), () -> {
                assertEquals(MemberStatus.up(), cluster.selfMember().status());
                return null;
            });
            assertNull(StateReplicator.read(kit.system(), StateReplicator.liveKey("r"),
                    new Replicator.ReadMajority(Duration.ofSeconds(3))), "nothing written yet");

            TestProbe<Optimizer.Command> optimizer = kit.createTestProbe(Optimizer.Command.class);
            ActorRef<StateReplicator.Command> writer = kit.spawn(StateReplicator.create(
                    DistributedData.get(kit.system()).replicator(), DistributedData.get(kit.system()).selfUniqueAddress(),
                    StateReplicator.liveKey("r"), Duration.ofSeconds(3)));
            writer.tell(new StateReplicator.Write(1, checkpoint(3, 0.1), optimizer.ref()));
            assertEquals(new Optimizer.Replicated(1, null), optimizer.expectMessageClass(Optimizer.Replicated.class,
                    Duration.ofSeconds(10)));
            writer.tell(new StateReplicator.Write(2, checkpoint(4, 0.2), optimizer.ref()));
            assertEquals(new Optimizer.Replicated(2, null), optimizer.expectMessageClass(Optimizer.Replicated.class,
                    Duration.ofSeconds(10)));
            assertEquals(checkpoint(4, 0.2), StateReplicator.read(kit.system(), StateReplicator.liveKey("r"),
                    new Replicator.ReadMajority(Duration.ofSeconds(3))));

            // disk checkpoints: the one with more accepted updates is kept, whatever the order of publication
            StateReplicator.publishDisk(kit.system(), "r", checkpoint(9, 0.9));
            StateReplicator.publishDisk(kit.system(), "r", checkpoint(5, 0.5));
            assertEquals(checkpoint(9, 0.9), StateReplicator.read(kit.system(), StateReplicator.diskKey("r"),
                    new Replicator.ReadAll(Duration.ofSeconds(3))));
        } finally {
            kit.shutdownTestKit();
        }
    }
}
