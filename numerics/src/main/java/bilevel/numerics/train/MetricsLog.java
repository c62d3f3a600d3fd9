package bilevel.numerics.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A run's metrics file ({@link MetricsWriter}: JSON lines, one object per upper-level step) read back for
 * plots and reports. Fields are read by name, so lines written by newer code with more fields (e.g. an
 * actor runtime's {@code staleness}) are read as they are.
 *
 * <p>A last line that is not valid JSON is the line a crashed or running writer was writing: it is skipped
 * and reported by {@link #tornLastLine()}. Any other line that is not a JSON object is an error. Blank lines
 * are ignored.
 */
public final class MetricsLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<JsonNode> lines;
    private final boolean tornLastLine;

    private MetricsLog(List<JsonNode> lines, boolean tornLastLine) {
        this.lines = List.copyOf(lines);
        this.tornLastLine = tornLastLine;
    }

    /** Reads {@code file}; a {@link TrainingException} with a one-line message when it is missing or corrupt. */
    public static MetricsLog read(Path file) {
        List<String> text;
        try {
            text = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new TrainingException("metrics file not found: " + file);
        } catch (IOException e) {
            throw new TrainingException("cannot read metrics file " + file + ": " + e.getMessage());
        }
        int last = text.size() - 1;
        while (last >= 0 && text.get(last).isBlank()) {
            last--;
        }
        List<JsonNode> nodes = new ArrayList<>();
        boolean torn = false;
        for (int i = 0; i <= last; i++) {
            String line = text.get(i);
            if (line.isBlank()) {
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                if (i == last) {
                    torn = true;
                    break;
                }
                throw new TrainingException("metrics file " + file + " line " + (i + 1) + " is not valid JSON ("
                        + firstLine(e.getOriginalMessage()) + ")");
            }
            if (node == null || !node.isObject()) {
                throw new TrainingException("metrics file " + file + " line " + (i + 1) + " is not a JSON object");
            }
            nodes.add(node);
        }
        return new MetricsLog(nodes, torn);
    }

    /** Number of complete lines (steps). */
    public int size() {
        return lines.size();
    }

    public boolean isEmpty() {
        return lines.isEmpty();
    }

    /** Whether an incomplete last line was skipped. */
    public boolean tornLastLine() {
        return tornLastLine;
    }

    /** Line i as parsed JSON (read-only use). */
    public JsonNode line(int i) {
        return lines.get(i);
    }

    /** Field names that occur in any line, in order of first appearance. */
    public Set<String> fields() {
        Set<String> names = new LinkedHashSet<>();
        for (JsonNode n : lines) {
            for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
                names.add(it.next());
            }
        }
        return names;
    }

    /** Whether some line has a non-null value for {@code field}. */
    public boolean has(String field) {
        return lines.stream().anyMatch(n -> n.hasNonNull(field));
    }

    /** The numeric value of {@code field} on every line; NaN where it is missing, null or not a number. */
    public double[] column(String field) {
        double[] out = new double[lines.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = lines.get(i).get(field);
            out[i] = v != null && v.isNumber() ? v.asDouble() : Double.NaN;
        }
        return out;
    }

    /** Boolean values of {@code field} (false where missing or not a boolean). */
    public boolean[] flags(String field) {
        boolean[] out = new boolean[lines.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = lines.get(i).get(field);
            out[i] = v != null && v.isBoolean() && v.asBoolean();
        }
        return out;
    }

    /**
     * All numbers given for {@code field}, over all lines: a number counts once, an array of numbers
     * contributes each entry (e.g. the staleness of each hypergradient of a step). Other values are ignored.
     */
    public List<Double> values(String field) {
        List<Double> out = new ArrayList<>();
        for (JsonNode n : lines) {
            JsonNode v = n.get(field);
            if (v == null) {
                continue;
            }
            if (v.isNumber()) {
                out.add(v.asDouble());
            } else if (v.isArray()) {
                for (JsonNode e : v) {
                    if (e.isNumber()) {
                        out.add(e.asDouble());
                    }
                }
            }
        }
        return out;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
