package bilevel.actors;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The messaging warm-up of bench cluster's nodes: every round trip of the runtime's messages completes over Artery. */
class MessagingWarmUpTest {

    @Test
    void everyRoundTripCompletesOverArteryAndTheSystemsStop() {
        MessagingWarmUp.Result r = MessagingWarmUp.run(ConfigFactory.empty(), 2401, 40, Duration.ofSeconds(60));
        assertEquals(40, r.roundTrips(), r.toString());
        // the timings are reported (present and positive); how fast they are is bench cluster's business
        assertTrue(r.seconds() > 0 && r.firstMillis() > 0 && r.lastMillis() > 0, r.toString());
        assertTrue(Double.isNaN(r.idleMillis()), "no idle probes asked for: " + r);
        // the throw-away systems are gone: a second warm-up starts two new ones (same names) without a clash
        assertEquals(5, MessagingWarmUp.run(ConfigFactory.empty(), 3, 5, Duration.ofSeconds(60)).roundTrips());
    }

    @Test
    void idleProbesFollowTheWarmUp() {
        MessagingWarmUp.Result r = MessagingWarmUp.run(ConfigFactory.empty(), 16, 10, 3, Duration.ofMillis(20),
                Duration.ofSeconds(60));
        assertEquals(10, r.roundTrips());
        assertTrue(r.idleMillis() > 0, r.toString());
    }

    @Test
    void rejectsEmptyWork() {
        assertThrows(IllegalArgumentException.class, () -> MessagingWarmUp.run(ConfigFactory.empty(), 0, 5, Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> MessagingWarmUp.run(ConfigFactory.empty(), 5, 0, Duration.ofSeconds(1)));
    }
}
