package bilevel.numerics.testproblems;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.function.BiConsumer;

/**
 * Dense linear algebra in plain Java doubles for reference solutions of small problems (n ≤ 256):
 * images are flattened in 'c' order (index r·W + c).
 */
public final class Dense {
    private Dense() {
    }

    public static double[] vector(INDArray a) {
        double[] v = new double[(int) a.length()];
        INDArray flat = a.castTo(DataType.DOUBLE).dup('c').reshape(a.length());
        for (int i = 0; i < v.length; i++) {
            v[i] = flat.getDouble(i);
        }
        return v;
    }

    public static INDArray image(double[] v, long height, long width) {
        return Nd4j.create(v.clone(), new long[]{height, width}, DataType.DOUBLE);
    }

    /** The n×n matrix of a linear map on [H, W] images (column i = map applied to the i-th unit image). */
    public static double[][] matrixOf(long height, long width, long[] rangeShape, BiConsumer<INDArray, INDArray> map) {
        int n = (int) (height * width);
        long m = 1;
        for (long s : rangeShape) {
            m *= s;
        }
        double[][] a = new double[(int) m][n];
        for (int i = 0; i < n; i++) {
            double[] e = new double[n];
            e[i] = 1;
            INDArray out = Nd4j.create(DataType.DOUBLE, rangeShape);
            map.accept(image(e, height, width), out);
            double[] col = vector(out);
            for (int r = 0; r < m; r++) {
                a[r][i] = col[r];
            }
        }
        return a;
    }

    /** Vertical forward difference with Neumann boundary, as an n×n matrix (last image row maps to 0). */
    public static double[][] verticalDifference(int height, int width) {
        int n = height * width;
        double[][] d = new double[n][n];
        for (int r = 0; r + 1 < height; r++) {
            for (int c = 0; c < width; c++) {
                d[r * width + c][(r + 1) * width + c] = 1;
                d[r * width + c][r * width + c] = -1;
            }
        }
        return d;
    }

    /** Horizontal forward difference with Neumann boundary, as an n×n matrix (last image column maps to 0). */
    public static double[][] horizontalDifference(int height, int width) {
        int n = height * width;
        double[][] d = new double[n][n];
        for (int r = 0; r < height; r++) {
            for (int c = 0; c + 1 < width; c++) {
                d[r * width + c][r * width + c + 1] = 1;
                d[r * width + c][r * width + c] = -1;
            }
        }
        return d;
    }

    public static double[][] identity(int n) {
        double[][] a = new double[n][n];
        for (int i = 0; i < n; i++) {
            a[i][i] = 1;
        }
        return a;
    }

    /** AᵀB. */
    public static double[][] transposeTimes(double[][] a, double[][] b) {
        int m = a.length;
        int n = a[0].length;
        int p = b[0].length;
        double[][] c = new double[n][p];
        for (int k = 0; k < m; k++) {
            for (int i = 0; i < n; i++) {
                double aki = a[k][i];
                if (aki == 0) {
                    continue;
                }
                for (int j = 0; j < p; j++) {
                    c[i][j] += aki * b[k][j];
                }
            }
        }
        return c;
    }

    /** A + s·B (new matrix). */
    public static double[][] plus(double[][] a, double s, double[][] b) {
        double[][] c = new double[a.length][a[0].length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[0].length; j++) {
                c[i][j] = a[i][j] + s * b[i][j];
            }
        }
        return c;
    }

    public static double[] times(double[][] a, double[] x) {
        double[] y = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            double s = 0;
            for (int j = 0; j < x.length; j++) {
                s += a[i][j] * x[j];
            }
            y[i] = s;
        }
        return y;
    }

    public static double[] transposeTimes(double[][] a, double[] y) {
        double[] x = new double[a[0].length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < x.length; j++) {
                x[j] += a[i][j] * y[i];
            }
        }
        return x;
    }

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    public static double norm(double[] a) {
        return Math.sqrt(dot(a, a));
    }

    public static double[] minus(double[] a, double[] b) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i] - b[i];
        }
        return c;
    }

    /** Lower Cholesky factor of a symmetric positive definite matrix. */
    public static double[][] cholesky(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int j = 0; j < n; j++) {
            double d = a[j][j];
            for (int k = 0; k < j; k++) {
                d -= l[j][k] * l[j][k];
            }
            if (!(d > 0)) {
                throw new IllegalArgumentException("matrix is not positive definite (pivot " + d + ")");
            }
            l[j][j] = Math.sqrt(d);
            for (int i = j + 1; i < n; i++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) {
                    s -= l[i][k] * l[j][k];
                }
                l[i][j] = s / l[j][j];
            }
        }
        return l;
    }

    /** Solves L Lᵀ x = b given the Cholesky factor L. */
    public static double[] choleskySolve(double[][] l, double[] b) {
        int n = b.length;
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            double s = b[i];
            for (int k = 0; k < i; k++) {
                s -= l[i][k] * y[k];
            }
            y[i] = s / l[i][i];
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = y[i];
            for (int k = i + 1; k < n; k++) {
                s -= l[k][i] * x[k];
            }
            x[i] = s / l[i][i];
        }
        return x;
    }

    public static double[] solveSpd(double[][] a, double[] b) {
        return choleskySolve(cholesky(a), b);
    }
}
