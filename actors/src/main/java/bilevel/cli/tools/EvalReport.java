package bilevel.cli.tools;

import bilevel.numerics.eval.Evaluator;
import bilevel.numerics.eval.TvBaseline;
import bilevel.numerics.train.TrainingSpec;
import bilevel.numerics.util.Version;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The results of {@code bilevel eval} as a table, CSV and a JSON tree. */
final class EvalReport {
    private final LoadedModel model;
    private final Path modelFile;
    private final Path images;
    private final TrainingSpec.ProblemSpec problem;
    private final Evaluator.Settings settings;
    private final long seed;
    private final List<EvalCommand.ImageRow> rows;
    private final List<EvalCommand.Method> methods;
    private final TvBaseline.Tuning tuning;
    private final List<String> notes;

    /** The lower-level solver(s) of the methods, e.g. "FISTA", "PDHG (model), FISTA (tv-baseline)". */
    private String solvers() {
        return SolverOptions.solvers(methods.stream().map(EvalCommand.Method::name).toList(),
                methods.stream().map(EvalCommand.Method::family).toList());
    }

    EvalReport(LoadedModel model, Path modelFile, Path images, TrainingSpec.ProblemSpec problem, Evaluator.Settings settings,
               long seed, List<EvalCommand.ImageRow> rows, List<EvalCommand.Method> methods, TvBaseline.Tuning tuning,
               List<String> problemNotes) {
        this.model = model;
        this.modelFile = modelFile;
        this.images = images;
        this.problem = problem;
        this.settings = settings;
        this.seed = seed;
        this.rows = List.copyOf(rows);
        this.methods = List.copyOf(methods);
        this.tuning = tuning;
        this.notes = new ArrayList<>(problemNotes);
        for (EvalCommand.ImageRow r : rows) {
            if (!r.conversion().isEmpty()) {
                notes.add(r.name() + ": " + r.conversion());
            }
        }
        for (EvalCommand.Method m : methods) {
            for (int i = 0; i < rows.size(); i++) {
                EvalCommand.MethodRow mr = m.rows().get(i);
                if (!mr.converged()) {
                    notes.add(rows.get(i).name() + " (" + m.name() + "): iteration cap reached before the requested accuracy; "
                            + "its PSNR is that of the exact minimiser to within ±" + dB(mr.psnrDeviation()));
                } else if (!mr.certified()) {
                    notes.add(rows.get(i).name() + " (" + m.name() + "): accuracy not certified (the regularizer's "
                            + "convexity modulus is an estimate)");
                }
            }
            double worst = m.rows().stream().mapToDouble(EvalCommand.MethodRow::psnrDeviation).max().orElse(0);
            boolean allCertified = m.rows().stream().allMatch(r -> r.certified() && r.converged());
            notes.add(m.name() + ": every PSNR is that of the exact minimiser to within ±" + dB(worst)
                    + (allCertified ? " (certified)" : " (not all certified)"));
        }
    }

    private static String dB(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2g dB", v) : "∞ (unknown)";
    }

    private static double mean(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    double meanInputPsnr() {
        return mean(rows.stream().map(EvalCommand.ImageRow::inputPsnr).toList());
    }

    double meanInputSsim() {
        return mean(rows.stream().map(EvalCommand.ImageRow::inputSsim).toList());
    }

    static double meanPsnr(EvalCommand.Method m) {
        return mean(m.rows().stream().map(EvalCommand.MethodRow::psnr).toList());
    }

    static double meanSsim(EvalCommand.Method m) {
        return mean(m.rows().stream().map(EvalCommand.MethodRow::ssim).toList());
    }

    static double meanSeconds(EvalCommand.Method m) {
        return mean(m.rows().stream().map(EvalCommand.MethodRow::seconds).toList());
    }

    // ------------------------------------------------------------------------------------------ table

    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append("bilevel eval: ").append(rows.size()).append(" image(s) from ").append(images).append('\n');
        sb.append("  problem:     ").append(ProblemOptions.describe(problem)).append('\n');
        sb.append("  noise:       ").append(EvalCommand.noiseRule(seed)).append('\n');
        sb.append("  lower level: ").append(SolverOptions.describe(settings, solvers())).append('\n');
        for (EvalCommand.Method m : methods) {
            sb.append("  ").append(pad(m.name() + ":", 13)).append(m.description()).append('\n');
        }
        sb.append('\n');
        List<String> header = new ArrayList<>(List.of("image", "size", "input PSNR", "input SSIM"));
        for (EvalCommand.Method m : methods) {
            header.addAll(List.of(m.name() + " PSNR", "SSIM", "iterations", "seconds"));
        }
        boolean gain = methods.size() == 2;
        if (gain) {
            header.add("gain dB");
        }
        List<List<String>> cells = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            EvalCommand.ImageRow r = rows.get(i);
            List<String> line = new ArrayList<>(List.of(r.name(), r.height() + "x" + r.width(), psnr(r.inputPsnr()),
                    ssim(r.inputSsim())));
            for (EvalCommand.Method m : methods) {
                EvalCommand.MethodRow mr = m.rows().get(i);
                line.addAll(List.of(psnr(mr.psnr()), ssim(mr.ssim()), mr.iterations() + (mr.converged() ? "" : "*"),
                        String.format(Locale.ROOT, "%.2f", mr.seconds())));
            }
            if (gain) {
                line.add(String.format(Locale.ROOT, "%+.2f", methods.get(0).rows().get(i).psnr() - methods.get(1).rows().get(i).psnr()));
            }
            cells.add(line);
        }
        List<String> meanLine = new ArrayList<>(List.of("mean", "", psnr(meanInputPsnr()), ssim(meanInputSsim())));
        for (EvalCommand.Method m : methods) {
            meanLine.addAll(List.of(psnr(meanPsnr(m)), ssim(meanSsim(m)), "", String.format(Locale.ROOT, "%.2f", meanSeconds(m))));
        }
        if (gain) {
            meanLine.add(String.format(Locale.ROOT, "%+.2f", meanPsnr(methods.get(0)) - meanPsnr(methods.get(1))));
        }
        int[] width = new int[header.size()];
        for (int c = 0; c < width.length; c++) {
            width[c] = header.get(c).length();
            for (List<String> line : cells) {
                width[c] = Math.max(width[c], line.get(c).length());
            }
            width[c] = Math.max(width[c], meanLine.get(c).length());
        }
        appendLine(sb, header, width);
        for (List<String> line : cells) {
            appendLine(sb, line, width);
        }
        appendLine(sb, meanLine, width);
        if (gain) {
            sb.append(String.format(Locale.ROOT, "%ngain of the model over the tuned TV baseline: %+.2f dB PSNR, %+.4f SSIM (mean)%n",
                    meanPsnr(methods.get(0)) - meanPsnr(methods.get(1)), meanSsim(methods.get(0)) - meanSsim(methods.get(1))));
        }
        sb.append("\nnotes:\n");
        sb.append("  PSNR (peak 1) and SSIM of the unclipped reconstruction against the clean image; input = the measurement y.\n");
        if (methods.stream().anyMatch(m -> m.rows().stream().anyMatch(r -> !r.converged()))) {
            sb.append("  * iteration cap reached\n");
        }
        for (String n : notes) {
            sb.append("  ").append(n).append('\n');
        }
        return sb.toString();
    }

    private static void appendLine(StringBuilder sb, List<String> line, int[] width) {
        for (int c = 0; c < line.size(); c++) {
            if (c > 0) {
                sb.append("  ");
            }
            sb.append(c == 0 ? pad(line.get(c), width[c]) : padLeft(line.get(c), width[c]));
        }
        int end = sb.length();
        while (end > 0 && sb.charAt(end - 1) == ' ') {
            end--;
        }
        sb.setLength(end);
        sb.append('\n');
    }

    private static String pad(String s, int w) {
        return s.length() >= w ? s : s + " ".repeat(w - s.length());
    }

    private static String padLeft(String s, int w) {
        return s.length() >= w ? s : " ".repeat(w - s.length()) + s;
    }

    private static String psnr(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2f", v) : (v > 0 ? "inf" : "n/a");
    }

    private static String ssim(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "n/a";
    }

    // -------------------------------------------------------------------------------------------- csv

    static final String CSV_HEADER = "image,method,height,width,noise_seed,input_psnr,input_ssim,psnr,ssim,"
            + "psnr_deviation_bound,iterations,distance_bound,certified,converged,seconds,conversion";

    String csv() {
        StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
        for (EvalCommand.Method m : methods) {
            for (int i = 0; i < rows.size(); i++) {
                EvalCommand.ImageRow r = rows.get(i);
                EvalCommand.MethodRow mr = m.rows().get(i);
                sb.append(csvField(r.name())).append(',').append(m.name()).append(',').append(r.height()).append(',')
                        .append(r.width()).append(',').append(r.noiseSeed()).append(',').append(csvNumber(r.inputPsnr()))
                        .append(',').append(csvNumber(r.inputSsim())).append(',').append(csvNumber(mr.psnr())).append(',')
                        .append(csvNumber(mr.ssim())).append(',').append(csvNumber(mr.psnrDeviation())).append(',')
                        .append(mr.iterations()).append(',').append(csvNumber(mr.distanceBound())).append(',')
                        .append(mr.certified()).append(',').append(mr.converged()).append(',').append(csvNumber(mr.seconds()))
                        .append(',').append(csvField(r.conversion())).append('\n');
            }
        }
        for (EvalCommand.Method m : methods) {
            sb.append("mean,").append(m.name()).append(",,,,").append(csvNumber(meanInputPsnr())).append(',')
                    .append(csvNumber(meanInputSsim())).append(',').append(csvNumber(meanPsnr(m))).append(',')
                    .append(csvNumber(meanSsim(m))).append(",,,,,,").append(csvNumber(meanSeconds(m))).append(",\n");
        }
        return sb.toString();
    }

    static String csvField(String s) {
        if (s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")) {
            return "\"" + s.replace("\"", "\"\"") + "\"";
        }
        return s;
    }

    private static String csvNumber(double v) {
        if (Double.isNaN(v)) {
            return "";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        return Double.toString(v);
    }

    // ------------------------------------------------------------------------------------------- json

    Map<String, Object> json() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("command", "eval");
        doc.put("version", Version.get());
        doc.put("images", images.toString());
        doc.put("model", modelFile == null ? null : modelFile.toString());
        if (model != null) {
            doc.put("modelType", model.model().type());
        }
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("operator", problem.operator());
        p.put("sigma", problem.sigma());
        p.put("mu", problem.mu());
        if (problem.operator().equals("blur")) {
            p.put("blurSize", problem.blurSize());
            p.put("blurSigma", problem.blurSigma());
        }
        if (problem.operator().equals("inpaint")) {
            p.put("inpaintMissing", problem.inpaintMissing());
        }
        doc.put("problem", p);
        doc.put("seed", seed);
        doc.put("noiseSeedRule", EvalCommand.noiseRule(seed));
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("method", solvers().toLowerCase(Locale.ROOT));
        s.put("accuracyRms", settings.accuracyRms());
        s.put("maxIterations", settings.maxIterations());
        s.put("dtype", settings.dataType().name().toLowerCase(Locale.ROOT));
        doc.put("solver", s);
        if (tuning != null) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("type", "tv");
            b.put("lambda", tuning.lambda());
            b.put("gamma", tuning.gamma());
            b.put("meanValidationPsnr", finite(tuning.meanPsnr()));
            b.put("validationImages", tuning.validationImages());
            b.put("method", tuning.method());
            List<Map<String, Object>> trials = new ArrayList<>();
            for (TvBaseline.Trial t : tuning.trials()) {
                trials.add(Map.of("lambda", t.lambda(), "meanPsnr", t.meanPsnr()));
            }
            b.put("trials", trials);
            doc.put("baseline", b);
        }
        doc.put("methods", methods.stream().map(EvalCommand.Method::name).toList());
        List<Map<String, Object>> list = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            EvalCommand.ImageRow r = rows.get(i);
            Map<String, Object> im = new LinkedHashMap<>();
            im.put("name", r.name());
            im.put("height", r.height());
            im.put("width", r.width());
            im.put("noiseSeed", r.noiseSeed());
            im.put("inputPsnr", finite(r.inputPsnr()));
            im.put("inputSsim", finite(r.inputSsim()));
            im.put("conversion", r.conversion());
            Map<String, Object> results = new LinkedHashMap<>();
            for (EvalCommand.Method m : methods) {
                EvalCommand.MethodRow mr = m.rows().get(i);
                Map<String, Object> res = new LinkedHashMap<>();
                res.put("psnr", finite(mr.psnr()));
                res.put("ssim", finite(mr.ssim()));
                res.put("psnrDeviationBound", finite(mr.psnrDeviation()));
                res.put("iterations", mr.iterations());
                res.put("distanceBound", finite(mr.distanceBound()));
                res.put("certified", mr.certified());
                res.put("converged", mr.converged());
                res.put("seconds", mr.seconds());
                results.put(m.name(), res);
            }
            im.put("results", results);
            list.add(im);
        }
        doc.put("perImage", list);
        Map<String, Object> mean = new LinkedHashMap<>();
        mean.put("inputPsnr", finite(meanInputPsnr()));
        mean.put("inputSsim", finite(meanInputSsim()));
        for (EvalCommand.Method m : methods) {
            mean.put(m.name(), Map.of("psnr", finiteOr(meanPsnr(m)), "ssim", finiteOr(meanSsim(m)), "seconds", meanSeconds(m)));
        }
        doc.put("mean", mean);
        doc.put("notes", notes);
        return doc;
    }

    /** JSON has no NaN or ∞: those become null. */
    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    private static Object finiteOr(double v) {
        return Double.isFinite(v) ? (Object) v : "n/a";
    }
}
