package bilevel.cluster;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorRefResolver;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import bilevel.actors.CborSerializable;
import bilevel.actors.ClusterNode;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The cluster configuration carries a message larger than Akka's default frame (256 KiB) between two
 * actor systems over Artery TCP: θ of 40 000 doubles (≈ 360 KB in CBOR, above the ICNN's ≈ 27k
 * parameters), echoed back unchanged.
 */
class LargeMessageTest {

    /** A test message (CBOR, as every message of the runtime). */
    public record Big(double[] values, ActorRef<Big> replyTo) implements CborSerializable {
    }

    @Test
    void aThetaLargerThanTheDefaultFrameMakesTheRoundTrip() throws Exception {
        int pa = ClusterProcessTest.freePort(), pb = ClusterProcessTest.freePort();
        ClusterNode.Settings a = new ClusterNode.Settings(Set.of("solver"), "127.0.0.1", pa, null,
                List.of("127.0.0.1:" + pa), 1, 1, null);
        ClusterNode.Settings b = new ClusterNode.Settings(Set.of("solver"), "127.0.0.1", pb, null,
                List.of("127.0.0.1:" + pa), 1, 1, null);
        ActorSystem<Big> echo = ActorSystem.create(Behaviors.receive(Big.class).onMessage(Big.class, m -> {
            m.replyTo().tell(new Big(m.values(), null));
            return Behaviors.same();
        }).build(), "bilevel", ClusterNode.akkaConfig(b, "fp", ConfigFactory.empty()));
        ActorSystem<Void> asker = ActorSystem.create(Behaviors.empty(), "bilevel",
                ClusterNode.akkaConfig(a, "fp", ConfigFactory.empty()));
        try {
            String path = ActorRefResolver.get(echo).toSerializationFormat(echo);
            ActorRef<Big> remote = ActorRefResolver.get(asker).resolveActorRef(path);
            double[] theta = new Random(7).doubles(40_000).toArray();
            Big back = AskPattern.<Big, Big>ask(remote, r -> new Big(theta, r), Duration.ofSeconds(30), asker.scheduler())
                    .toCompletableFuture().get();
            assertArrayEquals(theta, back.values(), 0.0);
        } finally {
            asker.terminate();
            echo.terminate();
        }
    }
}
