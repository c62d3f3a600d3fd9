package bilevel.cli.tools;

import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.regularizers.LearnedStructure;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.MetricsLog;
import bilevel.numerics.train.TrainingSpec;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The HTML of {@code bilevel report}: self-contained (inline CSS, pictures as data URIs, no external resources). */
final class ReportHtml {
    /** Width in CSS pixels at which small images (crops, filters) are shown, scaled by whole factors. */
    private static final int DISPLAY_WIDTH = 192;

    /**
     * Sets {@code data-images-ok="true"} on the body once every image has loaded with a positive natural width
     * (and "false" otherwise), and {@code data-images-loaded="k/n"}: a headless browser check reads these
     * (deploy/check-report.sh).
     */
    static final String IMAGE_CHECK_SCRIPT = """
            <script>
            window.addEventListener('load', function () {
              var imgs = document.images, ok = 0;
              for (var i = 0; i < imgs.length; i++) {
                if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
              }
              document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
              document.body.setAttribute('data-images-ok', ok === imgs.length ? 'true' : 'false');
            });
            </script>
            """;

    private static final String STYLE = """
            <style>
            body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
                   padding: 0 1em; color: #222; line-height: 1.45; }
            h1 { font-size: 1.6em; margin-bottom: 0.2em; }
            h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
            .meta { color: #666; font-size: 0.9em; }
            table { border-collapse: collapse; margin: 0.5em 0; }
            td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
            th { background: #f5f5f5; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
            figcaption { font-size: 0.85em; color: #444; max-width: 800px; }
            img.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
            img.pixels { image-rendering: pixelated; border: 1px solid #ccc; }
            pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
            .note { color: #7a4b00; }
            </style>
            """;

    private final Path dir;
    private final LoadedModel model;
    private final TrainingSpec run;
    private final MetricsLog metrics;
    private final String configText;
    private final List<Charts.Rendered> charts;
    private final List<ReportCommand.Shown> shown;
    private final String reconstructionRule;
    private final Evaluator.Settings settings;
    private final List<String> notes;
    private final String modelJson;

    ReportHtml(Path dir, LoadedModel model, TrainingSpec run, MetricsLog metrics, String configText,
               List<Charts.Rendered> charts, List<ReportCommand.Shown> shown, String reconstructionRule,
               Evaluator.Settings settings, List<String> notes, String modelJson) {
        this.dir = dir;
        this.model = model;
        this.run = run;
        this.metrics = metrics;
        this.configText = configText;
        this.charts = charts;
        this.shown = shown;
        this.reconstructionRule = reconstructionRule;
        this.settings = settings;
        this.notes = notes;
        this.modelJson = modelJson;
    }

    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '&' -> sb.append("&amp;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    String render() {
        StringBuilder h = new StringBuilder(1 << 16);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .append("<title>bilevel report: ").append(esc(dir.toAbsolutePath().normalize().toString())).append("</title>\n")
                .append(STYLE).append("</head>\n<body data-images-ok=\"pending\">\n");
        h.append("<h1>bilevel run report</h1>\n<p class=\"meta\">Run folder <code>")
                .append(esc(dir.toAbsolutePath().normalize().toString())).append("</code> · generated ")
                .append(esc(ReportCommand.generatedAt())).append("</p>\n");
        summary(h);
        chartsSection(h);
        learned(h);
        reconstructions(h);
        timing(h);
        configuration(h);
        if (!notes.isEmpty()) {
            h.append("<h2>Notes</h2>\n<ul>\n");
            for (String n : notes) {
                h.append("<li class=\"note\">").append(esc(n)).append("</li>\n");
            }
            h.append("</ul>\n");
        }
        h.append(IMAGE_CHECK_SCRIPT).append("</body>\n</html>\n");
        return h.toString();
    }

    private static void row(StringBuilder h, String key, String value) {
        h.append("<tr><th>").append(esc(key)).append("</th><td>").append(esc(value)).append("</td></tr>\n");
    }

    private void summary(StringBuilder h) {
        h.append("<h2>Summary</h2>\n<table>\n");
        if (model != null) {
            row(h, "regularizer", model.describe() + (model.model().options().isEmpty() ? "" : " " + model.model().options()));
            row(h, "problem", ProblemOptions.describe(model.problem()));
            row(h, "seed", Long.toString(model.model().seed()));
            row(h, "data fingerprint", String.valueOf(model.model().dataFingerprint()));
            row(h, "trained with", "bilevel " + model.model().codeVersion() + ", model format " + model.model().formatVersion());
        }
        if (run != null) {
            row(h, "method", run.train().method() + ", batch " + run.train().batch() + ", step " + run.train().step()
                    + ", accuracy " + run.train().accuracy() + ", CG tolerance " + run.train().cgTolerance());
            row(h, "data", "training: " + run.data().train() + ", validation: " + run.data().validation() + ", crops "
                    + run.data().crop() + "×" + run.data().crop() + " (" + run.data().cropsPerImage() + " per image), "
                    + run.dtype() + " arithmetic");
        }
        if (metrics != null && !metrics.isEmpty()) {
            double[] val = metrics.column("validationPsnr");
            double last = Double.NaN;
            double best = Double.NaN;
            for (double v : val) {
                if (Double.isFinite(v)) {
                    last = v;
                    best = Double.isNaN(best) ? v : Math.max(best, v);
                }
            }
            row(h, "validation PSNR", Double.isNaN(last) ? "not evaluated yet"
                    : String.format(Locale.ROOT, "%.2f dB at the end (best %.2f dB)", last, best));
        }
        h.append("</table>\n");
    }

    private void chartsSection(StringBuilder h) {
        if (charts.isEmpty()) {
            return;
        }
        h.append("<h2>Training curves</h2>\n");
        for (Charts.Rendered c : charts) {
            h.append("<figure><img class=\"chart\" src=\"").append(Pictures.dataUri(c.png())).append("\" alt=\"")
                    .append(esc(c.title())).append("\" width=\"520\"><figcaption>")
                    .append(esc(c.title())).append("</figcaption></figure>\n");
        }
    }

    private void learned(StringBuilder h) {
        if (model == null) {
            return;
        }
        h.append("<h2>Learned regularizer</h2>\n");
        Regularizer family = model.family();
        double[] theta = model.theta();
        List<double[][]> filters = ReportCommand.filters(family, theta);
        List<LearnedStructure.Profile> profiles = ReportCommand.profiles(family, theta);
        if (!filters.isEmpty()) {
            int size = filters.stream().mapToInt(k -> k.length).max().orElse(1);
            int scale = Math.max(4, 48 / Math.max(1, size));
            byte[] png = Pictures.png(Pictures.filterMosaic(filters, scale, 4));
            h.append("<figure><img class=\"pixels\" src=\"").append(Pictures.dataUri(png)).append("\" alt=\"learned filters\">")
                    .append("<figcaption>").append(filters.size()).append(" learned filters of size ").append(size).append("×")
                    .append(size).append(", each on its own symmetric scale: mid-gray = 0, white = its largest positive tap, "
                            + "black = minus that.</figcaption></figure>\n");
        }
        if (!profiles.isEmpty()) {
            Charts.Rendered c = Charts.profiles(profiles);
            h.append("<figure><img class=\"chart\" src=\"").append(Pictures.dataUri(c.png())).append("\" alt=\"learned profiles\">")
                    .append("<figcaption>").append(esc(c.title())).append("</figcaption></figure>\n");
        }
        if ((filters.isEmpty() && profiles.isEmpty()) || theta.length <= 64) {
            h.append("<table>\n<tr><th>#</th><th>parameter</th><th>θ</th><th>meaning</th></tr>\n");
            for (int i = 0; i < Math.min(theta.length, 512); i++) {
                String name = family.paramName(i);
                String meaning = name.startsWith("log_")
                        ? name.substring(4) + " = exp(θ) = " + String.format(Locale.ROOT, "%.6g", Math.exp(theta[i])) : "";
                h.append("<tr><td class=\"num\">").append(i).append("</td><td>").append(esc(name))
                        .append("</td><td class=\"num\">").append(String.format(Locale.ROOT, "%.6g", theta[i]))
                        .append("</td><td>").append(esc(meaning)).append("</td></tr>\n");
            }
            h.append("</table>\n");
            if (theta.length > 512) {
                h.append("<p>(first 512 of ").append(theta.length).append(" parameters)</p>\n");
            }
        }
    }

    private void reconstructions(StringBuilder h) {
        if (shown.isEmpty()) {
            return;
        }
        h.append("<h2>Validation reconstructions</h2>\n<p>").append(esc(reconstructionRule)).append(".</p>\n");
        h.append("<table>\n<tr><th>image</th><th>clean</th><th>measurement</th><th>reconstruction</th></tr>\n");
        double sum = 0;
        for (ReportCommand.Shown s : shown) {
            Evaluator.Outcome o = s.outcome();
            sum += o.psnr();
            int display = s.width() >= DISPLAY_WIDTH ? s.width() : s.width() * Math.max(1, DISPLAY_WIDTH / s.width());
            h.append("<tr><td>").append(esc(s.name())).append("</td>");
            cell(h, s.clean(), display, "clean", "");
            cell(h, s.noisy(), display, "measurement", String.format(Locale.ROOT, "PSNR %.2f dB, SSIM %.4f", o.inputPsnr(), o.inputSsim()));
            cell(h, s.reconstruction(), display, "reconstruction", String.format(Locale.ROOT,
                    "PSNR %.2f dB (±%.2g), SSIM %.4f, %d iterations, %.2f s%s", o.psnr(), o.psnrDeviation(), o.ssim(),
                    o.solve().iterations(), o.solve().seconds(), o.solve().converged() ? "" : " (iteration cap reached)"));
            h.append("</tr>\n");
        }
        h.append("</table>\n");
        h.append(String.format(Locale.ROOT, "<p>Mean PSNR of these %d reconstruction(s): %.2f dB", shown.size(), sum / shown.size()));
        Object trained = model.model().training().get("validationPsnr");
        if (trained instanceof Number n) {
            h.append(String.format(Locale.ROOT, " (the training's last validation PSNR, over all validation images: %.2f dB)",
                    n.doubleValue()));
        }
        h.append(". Images are shown clipped to [0, 1]; PSNR and SSIM are of the unclipped arrays.</p>\n");
    }

    private static void cell(StringBuilder h, byte[] png, int display, String alt, String caption) {
        h.append("<td><img class=\"pixels\" src=\"").append(Pictures.dataUri(png)).append("\" alt=\"").append(esc(alt))
                .append("\" width=\"").append(display).append("\">");
        if (!caption.isEmpty()) {
            h.append("<br><small>").append(esc(caption)).append("</small>");
        }
        h.append("</td>");
    }

    private void timing(StringBuilder h) {
        h.append("<h2>Timing and cost</h2>\n<table>\n");
        if (metrics != null && !metrics.isEmpty()) {
            int n = metrics.size();
            double comps = lastFinite(metrics.column("computations"));
            double secs = lastFinite(metrics.column("seconds"));
            row(h, "upper-level steps", Integer.toString(n));
            row(h, "total computations (lower-level + CG iterations)", ToolSupport.num(comps));
            row(h, "wall time", String.format(Locale.ROOT, "%.1f s", secs));
            if (secs > 0) {
                row(h, "throughput", String.format(Locale.ROOT, "%.0f computations/s", comps / secs));
            }
            if (metrics.has("certified")) {
                boolean[] cert = metrics.flags("certified");
                int unc = 0;
                for (boolean b : cert) {
                    unc += b ? 0 : 1;
                }
                row(h, "steps with an uncertified bound", unc + " of " + n);
            }
            if (metrics.has("accepted")) {
                boolean[] acc = metrics.flags("accepted");
                int rej = 0;
                for (boolean b : acc) {
                    rej += b ? 0 : 1;
                }
                row(h, "rejected steps (MAID)", Integer.toString(rej));
            }
            row(h, "samples hitting the lower-level iteration cap", ToolSupport.num(sum(metrics.column("lowerIterationCapHits"))));
            row(h, "samples hitting the CG iteration cap", ToolSupport.num(sum(metrics.column("cgIterationCapHits"))));
        }
        if (model != null) {
            for (Map.Entry<String, Object> e : model.model().training().entrySet()) {
                Object v = e.getValue();
                String shownValue = v instanceof Number num ? ToolSupport.num(num.doubleValue()) : String.valueOf(v);
                row(h, "model.json training." + e.getKey(), shownValue);
            }
        }
        if (!shown.isEmpty()) {
            double s = shown.stream().mapToDouble(x -> x.outcome().solve().seconds()).average().orElse(Double.NaN);
            double it = shown.stream().mapToDouble(x -> x.outcome().solve().iterations()).average().orElse(Double.NaN);
            row(h, "reconstruction of one validation image (this report)",
                    String.format(Locale.ROOT, "%.3f s, %.0f iterations on average (%s)", s, it,
                            settings.dataType().name().toLowerCase(Locale.ROOT)));
        }
        h.append("</table>\n");
    }

    private void configuration(StringBuilder h) {
        h.append("<h2>Configuration</h2>\n");
        if (configText != null) {
            h.append("<details open><summary>config.conf (effective configuration of the run)</summary>\n<pre>")
                    .append(esc(configText)).append("</pre></details>\n");
        }
        if (modelJson != null) {
            h.append("<details><summary>model.json</summary>\n<pre>").append(esc(modelJson)).append("</pre></details>\n");
        }
        if (configText == null && modelJson == null) {
            h.append("<p>No config.conf or model.json in the run folder.</p>\n");
        }
    }

    private static double lastFinite(double[] v) {
        for (int i = v.length - 1; i >= 0; i--) {
            if (Double.isFinite(v[i])) {
                return v[i];
            }
        }
        return Double.NaN;
    }

    private static double sum(double[] v) {
        double s = 0;
        for (double d : v) {
            if (Double.isFinite(d)) {
                s += d;
            }
        }
        return s;
    }
}
