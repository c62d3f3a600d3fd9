package bilevel.numerics.eval;

import bilevel.numerics.data.Seeds;
import bilevel.numerics.image.Metrics;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.testproblems.Dense;
import bilevel.numerics.testproblems.TestImages;
import bilevel.numerics.train.TrainingSpec;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TvBaselineTest {

    /** Mean validation PSNR of TV with weight λ, solved from scratch, with the tuning's noise seeds. */
    private static double meanPsnr(Evaluator ev, List<INDArray> images, long seed, double lambda) {
        double sum = 0;
        try (Regularizer.Instance inst = TvBaseline.regularizer().bind(
                new double[]{Math.log(lambda), Math.log(TvBaseline.GAMMA)}, DataType.DOUBLE)) {
            for (int i = 0; i < images.size(); i++) {
                try (Evaluator.Measurement m = ev.measure(images.get(i), Seeds.derive(seed, TvBaseline.TAG_TUNING_NOISE, i));
                     INDArray x = ev.adjointStart(m.operator(), m.y(), images.get(i).shape())) {
                    ev.solve(inst, m.operator(), m.y(), x);
                    sum += Metrics.psnr(x, images.get(i));
                }
            }
        }
        return sum / images.size();
    }

    /**
     * The tuned λ is (near) optimal: it is the best trial, no nearby λ beats it by more than what the
     * golden-section tolerance and the solve accuracy allow, and its reported PSNR is the PSNR of a from-scratch
     * solve at that λ.
     */
    @Test
    void tunedLambdaIsLocallyOptimalAndTheBestTrial() {
        Evaluator ev = new Evaluator(new TrainingSpec.ProblemSpec("denoise", 25, 0, 3, 1, 0.3),
                new Evaluator.Settings(1e-5, 20000, DataType.DOUBLE));
        List<INDArray> images = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            images.add(Dense.image(TestImages.clean(20, 20, 40 + i), 20, 20));
        }
        List<TvBaseline.Trial> seen = new ArrayList<>();
        TvBaseline.Tuning t = TvBaseline.tune(ev, images, 5, seen::add);
        assertEquals(seen, t.trials());
        assertEquals(TvBaseline.GRID_POINTS + TvBaseline.GOLDEN_STEPS + 1, t.trials().size());
        assertTrue(t.lambda() >= TvBaseline.LAMBDA_MIN && t.lambda() <= TvBaseline.LAMBDA_MAX);
        for (TvBaseline.Trial trial : t.trials()) {
            assertTrue(t.meanPsnr() >= trial.meanPsnr(), "the best trial is returned");
            assertTrue(trial.allCertified());
        }
        assertEquals(meanPsnr(ev, images, 5, t.lambda()), t.meanPsnr(), 1e-3, "warm starts do not change the PSNR");
        // local optimality: no λ nearby (±10 %, ±25 %, factor 2) does better by more than the search tolerance allows
        // (the grid points themselves are among the trials, checked above)
        for (double factor : new double[]{0.5, 0.8, 0.9, 1.1, 1.25, 2}) {
            double other = meanPsnr(ev, images, 5, t.lambda() * factor);
            assertTrue(t.meanPsnr() >= other - 0.02, "tuned " + t.meanPsnr() + " dB vs " + other + " dB at " + factor + "·λ");
        }
        assertTrue(t.method().contains("golden-section"), t.method());
        assertEquals(Math.log(t.lambda()), t.theta()[0], 1e-15);
    }
}
