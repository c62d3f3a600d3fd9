package bilevel.cli.tools;

import bilevel.numerics.regularizers.LearnedStructure;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.TotalVariation;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.List;

/**
 * TV with a {@link LearnedStructure} view (two 3×3 "filters" and one profile made from θ), for testing how
 * reports draw families that expose filters and profiles.
 */
final class FilterBankTestRegularizer implements Regularizer, LearnedStructure {
    private final TotalVariation tv = new TotalVariation();

    @Override
    public String type() {
        return "tv";
    }

    @Override
    public int numParams() {
        return tv.numParams();
    }

    @Override
    public String paramName(int i) {
        return tv.paramName(i);
    }

    @Override
    public double[] initialTheta(long seed) {
        return tv.initialTheta(seed);
    }

    @Override
    public double[] project(double[] theta) {
        return tv.project(theta);
    }

    @Override
    public Instance bind(double[] theta, DataType dataType) {
        return tv.bind(theta, dataType);
    }

    @Override
    public List<double[][]> filters(double[] theta) {
        return List.of(new double[][]{{0, 0, 0}, {-1, 1, 0}, {0, 0, 0}}, new double[][]{{0, -1, 0}, {0, 1, 0}, {0, 0, theta[0]}});
    }

    @Override
    public List<Profile> profiles(double[] theta) {
        double[] t = new double[21];
        double[] v = new double[21];
        double lambda = Math.exp(theta[0]);
        double gamma = Math.exp(theta[1]);
        for (int i = 0; i < t.length; i++) {
            t[i] = -1 + 0.1 * i;
            v[i] = lambda * (Math.sqrt(t[i] * t[i] + gamma * gamma) - gamma);
        }
        return List.of(new Profile("λ(√(t² + γ²) − γ)", t, v));
    }
}
