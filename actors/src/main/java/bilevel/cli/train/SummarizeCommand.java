package bilevel.cli.train;

import bilevel.cli.UsageException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code bilevel summarize DIR…}: one row per training run (its method, schedules, seed, budget used, wall
 * time, final and best validation PSNR, mean batch loss of the last 10 steps, and whether it completed),
 * as a Markdown table — the form the README's results are written in.
 */
@Command(name = "summarize",
        mixinStandardHelpOptions = true,
        description = "Summarise training runs (folders with config.conf and metrics.jsonl) as a Markdown table.")
public final class SummarizeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "DIR", arity = "1..*", description = "Run folders written by 'bilevel train'.")
    List<Path> runs;

    @Option(names = "--json", description = "One JSON document instead of the table.")
    boolean json;

    @Option(names = "--at", split = ",", paramLabel = "COMPUTATIONS",
            description = "Budget checkpoints, e.g. 10000,20000,40000: adds one column per checkpoint with the last "
                    + "validation PSNR recorded at or before that many computations (n/a when an unfinished run has not reached it; a finished run that stopped earlier keeps its last value).")
    List<Long> checkpoints = List.of();

    /** One run's summary. */
    public record Row(String run, String method, String step, String accuracy, long seed, long steps,
                      long computations, double seconds, Double finalPsnr, Double bestPsnr, double lastLoss,
                      String status, String errorBound, java.util.Map<Long, Double> psnrAt) {
    }

    @Override
    public Integer call() throws IOException {
        List<Row> rows = new ArrayList<>();
        for (Long at : checkpoints) {
            if (at == null || at <= 0) {
                throw new UsageException("--at takes positive numbers of computations, got " + at);
            }
        }
        for (Path dir : runs) {
            rows.add(summarize(dir, checkpoints));
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(rows));
        } else {
            StringBuilder head = new StringBuilder("| run | method | step α_k | accuracy ε_k | seed | steps | computations | seconds | final val PSNR | best val PSNR | loss (last 10) | status |");
            StringBuilder rule = new StringBuilder("|---|---|---|---|---|---|---|---|---|---|---|---|");
            for (Long at : checkpoints) {
                head.append(" PSNR @ ").append(at).append(" |");
                rule.append("---|");
            }
            out.println(head);
            out.println(rule);
            for (Row r : rows) {
                out.printf(Locale.ROOT, "| %s | %s | %s | %s | %d | %d | %d | %.0f | %s | %s | %.4g | %s |", r.run(), r.method(),
                        r.step(), r.accuracy(), r.seed(), r.steps(), r.computations(), r.seconds(), db(r.finalPsnr()),
                        db(r.bestPsnr()), r.lastLoss(), r.status());
                for (Long at : checkpoints) {
                    out.printf(Locale.ROOT, " %s |", db(r.psnrAt().get(at)));
                }
                out.println();
            }
        }
        out.flush();
        return 0;
    }

    private static String db(Double v) {
        return v == null ? "n/a" : String.format(Locale.ROOT, "%.2f dB", v);
    }

    /** Reads one run folder. */
    public static Row summarize(Path dir) throws IOException {
        return summarize(dir, List.of());
    }

    /**
     * Reads one run folder; {@code checkpoints} are budgets in computations at which the last validation PSNR
     * recorded at or before them is reported (absent when an unfinished run has not reached the checkpoint).
     */
    public static Row summarize(Path dir, List<Long> checkpoints) throws IOException {
        Path conf = dir.resolve("config.conf");
        Path metrics = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(conf) || !Files.isRegularFile(metrics)) {
            throw new UsageException("not a training run (needs config.conf and metrics.jsonl): " + dir);
        }
        Config c = ConfigFactory.parseFile(conf.toFile()).getConfig("bilevel");
        ObjectMapper mapper = new ObjectMapper();
        long steps = 0, computations = 0;
        double seconds = 0;
        Double last = null, best = null;
        List<Double> losses = new ArrayList<>();
        boolean finite = true;
        java.util.Map<Long, Double> psnrAt = new java.util.TreeMap<>();
        for (String line : Files.readAllLines(metrics)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = mapper.readTree(line);
            } catch (IOException torn) {
                continue;   // a torn last line after a crash
            }
            steps = n.get("step").asLong() + 1;
            computations = n.get("computations").asLong();
            seconds = n.get("seconds").asDouble();
            double loss = n.get("batchLoss").asDouble();
            finite &= Double.isFinite(loss);
            losses.add(loss);
            JsonNode v = n.get("validationPsnr");
            if (v != null && !v.isNull()) {
                last = v.asDouble();
                best = best == null ? last : Math.max(best, last);
                for (Long at : checkpoints) {
                    if (computations <= at) {
                        psnrAt.put(at, last);
                    }
                }
            }
        }
        double lastLoss = losses.subList(Math.max(0, losses.size() - 10), losses.size()).stream()
                .mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        String status = Files.isRegularFile(dir.resolve("model.json")) ? "completed" : finite ? "incomplete" : "diverged";
        if (!finite) {
            status = "diverged";
        }
        if (!status.equals("completed")) {
            for (Long at : checkpoints) {
                if (computations < at) {
                    psnrAt.remove(at);   // an unfinished run has not reached this budget yet
                }
            }
        }
        String method = c.getString("train.method");
        String errorBound = c.hasPath("train.error-bound") ? c.getString("train.error-bound") : "certified";
        String step = c.getString("train.step");
        String accuracy = c.getString("train.accuracy");
        if (method.equals("maid") && c.hasPath("train.maid.alpha0") && c.hasPath("train.maid.eps0")) {
            // MAID ignores the schedules: its step and accuracy adapt from α0 and ε0
            step = "line search from " + c.getString("train.maid.alpha0");
            accuracy = "adaptive from " + c.getString("train.maid.eps0") + " (" + errorBound + " bounds)";
        }
        return new Row(dir.getFileName().toString(), method, step,
                accuracy, c.getLong("seed"), steps, computations, seconds, last, best, lastLoss, status,
                errorBound, psnrAt);
    }
}
