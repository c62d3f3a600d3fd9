package bilevel.numerics.train;

import java.util.Map;

/** Small, fast training specs for tests (embedded data, tiny crops). */
final class TrainingFixtures {
    private TrainingFixtures() {
    }

    static TrainingSpec spec(String regularizer, String method, long seed, long budget, long maxSteps) {
        return spec(regularizer, method, seed, budget, maxSteps, "denoise");
    }

    static TrainingSpec spec(String regularizer, String method, long seed, long budget, long maxSteps, String operator) {
        return spec(regularizer, Map.of(), method, seed, budget, maxSteps, operator);
    }

    static TrainingSpec spec(String regularizer, Map<String, Object> options, String method, long seed, long budget,
                             long maxSteps, String operator) {
        return new TrainingSpec(seed, "double",
                new TrainingSpec.RegularizerSpec(regularizer, options, ""),
                new TrainingSpec.ProblemSpec(operator, 25, 1e-3, 3, 1.0, 0.3),
                new TrainingSpec.DataSpec("embedded", "embedded", 6, 2, 24, 16, 2, 0, 0),
                new TrainingSpec.TrainSpec(method, 3, budget, maxSteps, "poly:0.05:0.5", "poly:1e-2:0.25", "tied:1.0",
                        3000, 500, 2, 1e-3,
                        new TrainingSpec.MaidSpec(0.5, 0.5, 1e-4, 0.5, 1.05, 1.1, 8, 0.05, 1e-2)));
    }
}
