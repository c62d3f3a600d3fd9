package bilevel.actors;

/**
 * Marker of every message of the actor runtime: bound to Akka's {@code jackson-cbor} serializer in
 * {@code bilevel/runtime-akka.conf} (Java serialization is off). Messages are immutable records that
 * carry ids, crop coordinates, noise seeds, θ and its version, tolerances and hypergradients — never
 * pixels: every node holds the images itself.
 */
public interface CborSerializable {
}
