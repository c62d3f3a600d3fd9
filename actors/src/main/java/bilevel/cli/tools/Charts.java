package bilevel.cli.tools;

import bilevel.numerics.regularizers.LearnedStructure;
import bilevel.numerics.train.MetricsLog;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;

/**
 * PNG charts of a run's metrics, drawn with XChart off screen (AWT headless: no display is needed).
 *
 * <p>Charts: the upper loss and the validation PSNR against total computations and against wall time;
 * the schedules ε_k, δ_k, α_k against the step; the hypergradient error bound against ‖z‖; and, when the
 * metrics have a {@code staleness} field with a non-zero value (asynchronous runs), its histogram. Values a logarithmic axis cannot show (≤ 0, NaN,
 * ∞) are left out, and said so in the chart's note.
 */
final class Charts {
    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    static final int WIDTH = 800;
    static final int HEIGHT = 500;

    /**
     * A rendered chart.
     *
     * @param file  suggested file name, e.g. "loss-vs-computations.png"
     * @param title what it shows
     * @param png   the PNG bytes
     */
    record Rendered(String file, String title, byte[] png) {
    }

    private Charts() {
    }

    /** Every chart the metrics support; reasons for charts left out are appended to {@code notes}. */
    static List<Rendered> fromMetrics(MetricsLog log, List<String> notes) {
        List<Rendered> out = new ArrayList<>();
        double[] step = log.column("step");
        double[] comps = log.column("computations");
        double[] seconds = log.column("seconds");
        double[] loss = log.column("batchLoss");
        double[] val = log.column("validationPsnr");

        add(out, notes, "loss-vs-computations.png", "Upper-level loss vs total computations",
                () -> line("Upper-level loss (minibatch mean of ‖x_ε − x*‖²)", "total computations (lower-level + CG iterations)",
                        "loss", true, new Series("loss", comps, loss, false)));
        add(out, notes, "loss-vs-time.png", "Upper-level loss vs wall time",
                () -> line("Upper-level loss vs wall time", "seconds", "loss", true, new Series("loss", seconds, loss, false)));
        if (countFinite(val) > 0) {
            add(out, notes, "validation-psnr-vs-computations.png", "Validation PSNR vs total computations",
                    () -> line("Validation PSNR", "total computations (lower-level + CG iterations)", "PSNR (dB)", false,
                            new Series("validation PSNR", comps, val, true)));
            add(out, notes, "validation-psnr-vs-time.png", "Validation PSNR vs wall time",
                    () -> line("Validation PSNR vs wall time", "seconds", "PSNR (dB)", false,
                            new Series("validation PSNR", seconds, val, true)));
        } else {
            notes.add("no validation PSNR in the metrics yet: its charts are left out");
        }
        add(out, notes, "schedules.png", "Accuracy ε_k, CG tolerance δ_k and step size α_k",
                () -> line("Schedules", "upper-level step k", "value", true,
                        new Series("ε_k (lower-level accuracy)", step, log.column("epsilon"), false),
                        new Series("δ_k (CG tolerance)", step, log.column("delta"), false),
                        new Series("α_k (step size)", step, log.column("alpha"), false)));
        double[] z = log.column("zNorm");
        double[] bound = log.column("errorBound");
        add(out, notes, "error-bound-vs-hypergradient-norm.png", "Hypergradient error bound vs ‖z‖", () -> {
            double lo = Double.POSITIVE_INFINITY;
            double hi = 0;
            for (int i = 0; i < z.length; i++) {
                if (z[i] > 0 && Double.isFinite(z[i])) {
                    lo = Math.min(lo, z[i]);
                    hi = Math.max(hi, z[i]);
                }
            }
            List<Series> s = new ArrayList<>();
            s.add(new Series("steps: (‖z_k‖, bound_k)", z, bound, true).scatter());
            if (hi > 0) {
                s.add(new Series("bound = ‖z‖ (above: direction not guaranteed)", new double[]{lo, hi}, new double[]{lo, hi}, false));
            }
            return line("Hypergradient error bound vs ‖z‖", "‖z‖ (norm of the inexact hypergradient)",
                    "a-posteriori error bound", true, true, s.toArray(Series[]::new));
        });
        if (log.has("staleness")) {
            List<Double> staleness = log.values("staleness");
            if (staleness.isEmpty()) {
                notes.add("the metrics' staleness field holds no numbers: its histogram is left out");
            } else if (staleness.stream().allMatch(v -> v == 0.0)) {
                notes.add("every hypergradient was applied to the θ it was computed at (synchronous run): no staleness histogram");
            } else {
                add(out, notes, "staleness.png", "Staleness of the applied hypergradients", () -> histogram(staleness));
            }
        }
        return out;
    }

    /** One line chart per learned profile group (all profiles in one chart). */
    static Rendered profiles(List<LearnedStructure.Profile> profiles) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title("Learned profiles")
                .xAxisTitle("t").yAxisTitle("value").build();
        style(chart.getStyler());
        chart.getStyler().setLegendVisible(profiles.size() <= 12);
        for (LearnedStructure.Profile p : profiles) {
            XYSeries s = chart.addSeries(unique(chart, p.name()), p.t(), p.value());
            s.setMarker(SeriesMarkers.NONE);
        }
        return new Rendered("profiles.png", "Learned profiles", png(chart));
    }

    // --------------------------------------------------------------------------------------- internals

    private interface ChartMaker {
        byte[] make();
    }

    private static void add(List<Rendered> out, List<String> notes, String file, String title, ChartMaker maker) {
        try {
            byte[] png = maker.make();
            if (png != null) {
                out.add(new Rendered(file, title, png));
            }
        } catch (NoData e) {
            notes.add(title + ": " + e.getMessage());
        }
    }

    /** A chart could not be drawn because no point is usable. */
    private static final class NoData extends RuntimeException {
        NoData(String message) {
            super(message, null, false, false);
        }
    }

    private record Series(String name, double[] x, double[] y, boolean markers, boolean scatterOnly) {
        Series(String name, double[] x, double[] y, boolean markers) {
            this(name, x, y, markers, false);
        }

        Series scatter() {
            return new Series(name, x, y, true, true);
        }
    }

    private static byte[] line(String title, String xTitle, String yTitle, boolean logY, Series... series) {
        return line(title, xTitle, yTitle, false, logY, series);
    }

    private static byte[] line(String title, String xTitle, String yTitle, boolean logX, boolean logY, Series... series) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        style(chart.getStyler());
        // a logarithmic axis only pays off (and only gets tick labels) over more than a decade
        logX = logX && spansDecades(series, true);
        logY = logY && spansDecades(series, false);
        chart.getStyler().setXAxisLogarithmic(logX);
        chart.getStyler().setYAxisLogarithmic(logY);
        chart.getStyler().setLegendVisible(series.length > 1);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        int dropped = 0;
        int drawn = 0;
        for (Series s : series) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (int i = 0; i < s.x().length; i++) {
                double x = s.x()[i];
                double y = s.y()[i];
                boolean ok = Double.isFinite(x) && Double.isFinite(y) && (!logX || x > 0) && (!logY || y > 0);
                if (ok) {
                    xs.add(x);
                    ys.add(y);
                } else if (!Double.isNaN(x) && !Double.isNaN(y)) {
                    dropped++;                      // present but not drawable (NaN means: not measured at this step)
                }
            }
            if (xs.isEmpty()) {
                continue;
            }
            XYSeries xy = chart.addSeries(s.name(), xs, ys);
            if (s.scatterOnly()) {
                xy.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            }
            xy.setMarker(s.markers() || xs.size() == 1 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
            drawn++;
        }
        if (drawn == 0) {
            throw new NoData("no plottable values (" + (logY || logX ? "a logarithmic axis needs positive values" : "none are finite") + ")");
        }
        if (dropped > 0) {
            chart.setTitle(title + String.format(Locale.ROOT, " (%d point%s not shown: not positive or not finite)", dropped, dropped == 1 ? "" : "s"));
        }
        return png(chart);
    }

    /** Whether the positive finite values of the series' x (or y) span more than a factor 20. */
    private static boolean spansDecades(Series[] series, boolean x) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (Series s : series) {
            for (double v : x ? s.x() : s.y()) {
                if (v > 0 && Double.isFinite(v)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        return hi > 20 * lo;
    }

    private static byte[] histogram(List<Double> values) {
        TreeMap<Long, Integer> counts = new TreeMap<>();
        for (double v : values) {
            if (Double.isFinite(v)) {
                counts.merge(Math.round(v), 1, Integer::sum);
            }
        }
        if (counts.isEmpty()) {
            throw new NoData("no finite staleness values");
        }
        List<String> xs = new ArrayList<>();
        List<Integer> ys = new ArrayList<>();
        for (long k = counts.firstKey(); k <= counts.lastKey(); k++) {
            xs.add(Long.toString(k));
            ys.add(counts.getOrDefault(k, 0));
        }
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Staleness of the applied hypergradients (" + values.size() + ")")
                .xAxisTitle("staleness (θ versions behind)").yAxisTitle("count").build();
        style(chart.getStyler());
        chart.getStyler().setLegendVisible(false);
        chart.addSeries("hypergradients", xs, ys);
        return png(chart);
    }

    private static void style(AxesChartStyler s) {
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotBackgroundColor(Color.WHITE);
        s.setLegendPosition(Styler.LegendPosition.InsideNE);
        s.setAntiAlias(true);
        s.setChartTitleBoxVisible(false);
        s.setPlotGridLinesColor(new Color(225, 225, 225));
    }

    private static String unique(XYChart chart, String name) {
        String n = name;
        for (int k = 2; chart.getSeriesMap().containsKey(n); k++) {
            n = name + " (" + k + ")";
        }
        return n;
    }

    private static int countFinite(double[] v) {
        int n = 0;
        for (double d : v) {
            n += Double.isFinite(d) ? 1 : 0;
        }
        return n;
    }

    static <C extends Chart<?, ?>> byte[] png(C chart) {
        try {
            return BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode chart: " + e.getMessage(), e);
        }
    }
}
