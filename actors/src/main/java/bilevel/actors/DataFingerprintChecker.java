package bilevel.actors;

import akka.cluster.ConfigValidation;
import akka.cluster.Invalid;
import akka.cluster.JoinConfigCompatChecker;
import akka.cluster.Valid$;
import com.typesafe.config.Config;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

import java.util.List;

/**
 * Refuses a node whose training data differ from the cluster's: every node puts the fingerprint of its
 * data set ({@code TrainingData.fingerprint()}, a digest of the images, crops and noise) under
 * {@value #KEY}; Akka's join configuration check (enforce-on-join) sends the joining node's value to
 * the cluster, which compares it with its own. A refused node logs the message and shuts down
 * ({@link ClusterNode} then exits non-zero).
 */
public final class DataFingerprintChecker extends JoinConfigCompatChecker {
    /** The configuration key holding a node's data fingerprint. */
    public static final String KEY = "bilevel.cluster.data-fingerprint";

    public DataFingerprintChecker() {
    }

    @Override
    public Seq<String> requiredKeys() {
        return CollectionConverters.asScala(List.of(KEY)).toList();
    }

    @Override
    public ConfigValidation check(Config toCheck, Config actualConfig) {
        String mine = actualConfig.hasPath(KEY) ? actualConfig.getString(KEY) : "";
        String theirs = toCheck.hasPath(KEY) ? toCheck.getString(KEY) : "(none)";
        if (mine.equals(theirs)) {
            return Valid$.MODULE$;
        }
        return new Invalid(CollectionConverters.asScala(List.of("the joining node's training data differ from the "
                + "cluster's: its data fingerprint is " + theirs + ", the cluster's is " + mine
                + " (same data set, crops, seed and noise are required on every node)")).toList());
    }
}
