package bilevel.actors;

import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.train.UpperLevelStepper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import java.time.Duration;
import java.util.Map;

/** Tiny training problems and runtime settings for the actor tests. */
final class Fixtures {
    private Fixtures() {
    }

    /** TV, double, 12 samples of 16×16 (6 dead-leaves images of 24², 2 crops each), 2 validation images. */
    static TrainingSpec spec(String method, long seed, long budget, long maxSteps) {
        return spec("tv", Map.of(), method, seed, budget, maxSteps);
    }

    /** As {@link #spec(String, long, long, long)} with another regularizer type (e.g. a primal–dual model). */
    static TrainingSpec spec(String type, Map<String, Object> options, String method, long seed, long budget, long maxSteps) {
        return new TrainingSpec(seed, "double",
                new TrainingSpec.RegularizerSpec(type, options, ""),
                new TrainingSpec.ProblemSpec("denoise", 25, 1e-3, 3, 1.0, 0.3),
                new TrainingSpec.DataSpec("embedded", "embedded", 6, 2, 24, 16, 2, 0, 0),
                new TrainingSpec.TrainSpec(method, 3, budget, maxSteps, "poly:0.05:0.5", "poly:1e-2:0.25", "tied:1.0",
                        3000, 500, 2, 1e-3,
                        new TrainingSpec.MaidSpec(0.5, 0.5, 1e-4, 0.5, 1.05, 1.1, 8, 0.05, 1e-2)));
    }

    static RuntimeSpec runtime(RuntimeSpec.Mode mode, int solvers) {
        return new RuntimeSpec(mode, solvers, 3, new UpperLevelStepper.Staleness(UpperLevelStepper.Policy.WEIGHT, 8),
                0, 0.5, 2, 0, Duration.ofMinutes(2), 3, Duration.ofSeconds(30), true, 2);
    }

    /** The runtime's Akka settings, as the tests' actor systems must be given them explicitly. */
    static Config akka() {
        return TrainingRuntime.akkaConfig();
    }
}
