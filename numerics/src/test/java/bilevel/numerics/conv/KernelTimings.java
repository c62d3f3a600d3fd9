package bilevel.numerics.conv;

import bilevel.numerics.regularizers.FieldsOfExperts;
import bilevel.numerics.regularizers.Regularizer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Manual timing harness (not a test; no assertions): FoE gradient and Hessian-vector product with
 * 48 filters 7×7, and Conv2d forward/adjoint for 1 → 48 (7×7) and 8 → 32 (5×5), on 256×256 FLOAT images.
 * Prints median, 10th and 90th percentile over N calls after 20 warm-up calls. Run with
 *
 * <pre>
 *   mvn -o -q -pl numerics test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 *   OMP_NUM_THREADS=2 java -cp numerics/target/classes:numerics/target/test-classes:$(cat /tmp/cp.txt) \
 *       bilevel.numerics.conv.KernelTimings [N]
 * </pre>
 */
public final class KernelTimings {
    private KernelTimings() {
    }

    private static String time(Runnable r, int n, double flops) {
        for (int i = 0; i < 20; i++) {
            r.run();
        }
        double[] t = new double[n];
        for (int i = 0; i < n; i++) {
            long s = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - s) / 1e6;
        }
        Arrays.sort(t);
        double median = t[n / 2];
        return String.format("median %6.2f ms  [p10 %6.2f, p90 %6.2f]  %5.1f GFLOP/s at the median",
                median, t[n / 10], t[n * 9 / 10], flops / median / 1e6);
    }

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        int h = 256;
        int w = 256;
        FieldsOfExperts foe = new FieldsOfExperts();
        INDArray x = Nd4j.rand(DataType.FLOAT, h, w);
        INDArray v = Nd4j.randn(DataType.FLOAT, h, w);
        INDArray g = Nd4j.create(DataType.FLOAT, h, w);
        try (Regularizer.Instance r = foe.bind(foe.initialTheta(1), DataType.FLOAT)) {
            System.out.println("FoE 48×7×7 gradient     " + time(() -> r.gradient(x, g), n, foe.gradientFlops(h, w)));
            System.out.println("FoE 48×7×7 Hessian·v    " + time(() -> r.hessianVector(x, v, g), n, foe.hessianVectorFlops(h, w)));
        }
        for (int[] c : new int[][] {{1, 48, 7}, {8, 32, 5}}) {
            int cin = c[0];
            int cout = c[1];
            int k = c[2];
            INDArray wts = Nd4j.rand(DataType.FLOAT, cout, (long) cin * k * k).subi(0.5);
            INDArray in = Nd4j.rand(DataType.FLOAT, cin, h, w);
            INDArray resp = Nd4j.rand(DataType.FLOAT, cout, h, w);
            INDArray out = Nd4j.create(DataType.FLOAT, cout, h, w);
            INDArray back = Nd4j.create(DataType.FLOAT, cin, h, w);
            try (Conv2d conv = new Conv2d(cin, cout, k, h, w, DataType.FLOAT)) {
                String name = String.format("Conv2d %d→%d %d×%d", cin, cout, k, k);
                System.out.println(name + " forward " + time(() -> conv.forward(wts, in, out), n, conv.flops()));
                System.out.println(name + " adjoint " + time(() -> conv.adjoint(wts, resp, back), n, conv.flops()));
            }
        }
    }
}
