package bilevel.numerics.bench;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.regularizers.ScaledSquaredNorm;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark harness on a tiny image with a test regularizer. No assertion depends on speed. */
class KernelBenchTest {

    private static final KernelBench.Settings TINY = new KernelBench.Settings(9, 7, 5, 2, DataType.FLOAT, 3);

    @Test
    void reportsTimingsFlopsAndMemoryOfEachKernel() {
        KernelBench.Result r = KernelBench.run("sq", new ScaledSquaredNorm(), TINY);
        assertEquals("sq", r.name());
        assertEquals("sqnorm", r.type());
        assertEquals(1, r.numParams());
        for (KernelBench.Timing t : new KernelBench.Timing[]{r.gradient(), r.hessianVector()}) {
            assertTrue(t.msMin() >= 0 && t.msMedian() >= t.msMin(), t.toString());
            assertEquals(9.0 * 7.0, t.flops(), 0.0, "the regularizer's FLOP model");
            assertEquals(KernelBench.gflops(t.flops(), t.msMedian()), t.gflops(), 0.0);
        }
        if (!Double.isNaN(r.residentMbBefore())) {
            assertTrue(r.residentMbBefore() > 0 && r.residentMbAfter() > 0);
            assertTrue(r.residentMbPeak() >= Math.max(r.residentMbBefore(), r.residentMbAfter()) - 1e-9);
        }
    }

    @Test
    void unmodelledFlopsGiveNaNNotAnException() {
        Regularizer noModel = new ScaledSquaredNorm() {
            @Override
            public double gradientFlops(long height, long width) {
                return Double.NaN;
            }

            @Override
            public double hessianVectorFlops(long height, long width) {
                return -1; // nonsense is treated as "not modelled"
            }
        };
        KernelBench.Result r = KernelBench.run("sq", noModel, TINY);
        assertTrue(Double.isNaN(r.gradient().flops()) && Double.isNaN(r.gradient().gflops()));
        assertTrue(Double.isNaN(r.hessianVector().flops()) && Double.isNaN(r.hessianVector().gflops()));
    }

    @Test
    void nonFiniteKernelOutputIsAnError() {
        Regularizer broken = new ScaledSquaredNorm() {
            @Override
            public Instance bind(double[] theta, DataType dataType) {
                Instance healthy = super.bind(theta, dataType);
                return (Instance) java.lang.reflect.Proxy.newProxyInstance(Instance.class.getClassLoader(),
                        new Class<?>[]{Instance.class}, (proxy, method, args) -> {
                            Object result = method.invoke(healthy, args);
                            if (method.getName().equals("gradient")) {
                                ((INDArray) args[1]).assign(Double.NaN);
                            }
                            return result;
                        });
            }
        };
        var e = assertThrows(IllegalStateException.class, () -> KernelBench.run("broken", broken, TINY));
        assertTrue(e.getMessage().contains("broken"), e.getMessage());
    }

    @Test
    void medianMinimumAndGflopsArithmetic() {
        KernelBench.Timing odd = KernelBench.timing(new long[]{5_000_000, 1_000_000, 3_000_000}, 6e6);
        assertEquals(3.0, odd.msMedian(), 0.0);
        assertEquals(1.0, odd.msMin(), 0.0);
        assertEquals(6e6 / 3e-3 / 1e9, odd.gflops(), 1e-12);
        KernelBench.Timing even = KernelBench.timing(new long[]{4_000_000, 1_000_000, 2_000_000, 8_000_000}, Double.NaN);
        assertEquals(3.0, even.msMedian(), 0.0);
        assertTrue(Double.isNaN(even.gflops()));
        assertTrue(Double.isNaN(KernelBench.gflops(1e9, 0)));
        assertTrue(Double.isNaN(KernelBench.gflops(Double.POSITIVE_INFINITY, 1)));
        assertEquals(2.0, KernelBench.gflops(2e9, 1000), 0.0);
    }

    @Test
    void testImageIsDeterministicInTheUnitIntervalAndNotConstant() {
        try (INDArray a = KernelBench.testImage(16, 12, 7, DataType.FLOAT);
             INDArray b = KernelBench.testImage(16, 12, 7, DataType.FLOAT);
             INDArray c = KernelBench.testImage(16, 12, 8, DataType.DOUBLE)) {
            assertEquals(DataType.FLOAT, a.dataType());
            assertEquals(DataType.DOUBLE, c.dataType());
            assertArrayEquals(new long[]{16, 12}, a.shape());
            assertEquals(a, b);
            assertEquals(0.0, a.minNumber().doubleValue(), 1e-6);
            assertEquals(1.0, a.maxNumber().doubleValue(), 1e-6);
            assertFalse(a.castTo(DataType.DOUBLE).equalsWithEps(c, 1e-3), "a different seed gives a different image");
        }
    }

    @Test
    void settingsRejectNonsense() {
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Settings(0, 4, 1, 0, DataType.FLOAT, 0));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Settings(4, 4, 0, 0, DataType.FLOAT, 0));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Settings(4, 4, 1, -1, DataType.FLOAT, 0));
        assertThrows(IllegalArgumentException.class, () -> new KernelBench.Settings(4, 4, 1, 0, DataType.INT32, 0));
    }
}
