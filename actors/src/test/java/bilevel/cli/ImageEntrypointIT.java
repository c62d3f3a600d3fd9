package bilevel.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime half of {@code deploy/Dockerfile}, without a container engine (none runs where the suite
 * runs): the final stage's {@code COPY --from=build} lines are laid out in a temporary folder from what
 * this build's {@code package} phase produced (the build stage runs the same {@code mvn package}), and the
 * image's {@code ENTRYPOINT} is run there with its {@code ENV} — the same {@code sh -c} script, the
 * same {@code JAVA_OPTS} and class path, with {@code /app} moved to the folder and {@code java} being this
 * JVM's. It checks that the entrypoint passes its arguments through, that the copied jar and libraries
 * form a complete class path (a tiny training runs, ND4J included) and that the image's JVM options are
 * accepted. Not checked: the base images, the build stage itself, the user and anything Kubernetes does.
 * An integration test (Failsafe, after {@code package}): it needs {@code actors/target/bilevel.jar} and
 * {@code actors/target/lib}.
 */
class ImageEntrypointIT {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern COPY = Pattern.compile("^COPY\\s+--from=build\\s+(\\S+)\\s+(\\S+)\\s*$");
    private static final Pattern ENV_PAIR = Pattern.compile("(\\w+)=(\"[^\"]*\"|\\S+)");

    private static final List<String[]> copies = new ArrayList<>();
    private static final Map<String, String> env = new LinkedHashMap<>();
    private static List<String> entrypoint;
    private static String workdir;

    /** Reads the final stage of the Dockerfile (after its last FROM), joining continued lines. */
    @BeforeAll
    static void readDockerfile() throws IOException {
        List<String> lines = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String raw : Files.readAllLines(ROOT.resolve("deploy/Dockerfile"), StandardCharsets.UTF_8)) {
            String line = raw.strip();
            if (line.startsWith("#") || line.isEmpty()) {
                continue;
            }
            if (line.endsWith("\\")) {
                current.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            lines.add(current.append(line).toString());
            current.setLength(0);
        }
        int last = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("FROM ")) {
                last = i;
            }
        }
        assertTrue(last >= 0, "the Dockerfile has a FROM");
        for (String line : lines.subList(last + 1, lines.size())) {
            Matcher copy = COPY.matcher(line);
            if (copy.matches()) {
                copies.add(new String[]{copy.group(1), copy.group(2)});
            } else if (line.startsWith("ENV ")) {
                Matcher pair = ENV_PAIR.matcher(line.substring(4));
                while (pair.find()) {
                    String value = pair.group(2);
                    env.put(pair.group(1), value.startsWith("\"") ? value.substring(1, value.length() - 1) : value);
                }
            } else if (line.startsWith("ENTRYPOINT ")) {
                entrypoint = List.of(new ObjectMapper().readValue(line.substring("ENTRYPOINT ".length()), String[].class));
            } else if (line.startsWith("WORKDIR ")) {
                workdir = line.substring("WORKDIR ".length()).strip();
            }
        }
        assertFalse(copies.isEmpty(), "the final stage copies the build's output");
        assertTrue(env.containsKey("JAVA_OPTS"), "the image sets JAVA_OPTS: " + env);
        assertTrue(entrypoint != null && entrypoint.size() == 4 && entrypoint.get(0).equals("sh")
                && entrypoint.get(1).equals("-c"), "ENTRYPOINT [\"sh\", \"-c\", script, name]: " + entrypoint);
    }

    /** The image's /app as a folder under {@code tmp}: every COPY --from=build source linked at its target. */
    private static Path layOut(Path tmp) throws IOException {
        for (String[] c : copies) {
            assertTrue(c[0].startsWith("/src/"), "build-stage sources live under /src: " + c[0]);
            Path source = ROOT.resolve(c[0].substring("/src/".length()));
            assertTrue(Files.exists(source), source + " (COPY " + c[0] + ") is produced by mvn package");
            Path target = tmp.resolve(c[1].substring(1));
            Files.createDirectories(target.getParent());
            Files.createSymbolicLink(target, source);
        }
        return tmp;
    }

    private record Run(int code, String out) {
    }

    /** Runs the image's entrypoint with {@code args} in the laid-out folder. */
    private static Run entrypoint(Path image, Path work, String... args) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String script = entrypoint.get(2).replace("exec java ", "exec " + java + " ").replace("/app/", image + "/app/");
        assertFalse(script.equals(entrypoint.get(2)), "the script runs java from /app: " + entrypoint.get(2));
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", script, entrypoint.get(3)));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        // ND4J unpacks its native libraries into the cache directory on first use (~440 MB): the image's
        // /tmp/javacpp is replaced by this user's cache, which the build has filled already
        pb.environment().put("JAVA_OPTS", env.get("JAVA_OPTS").replaceAll("-Dorg\\.bytedeco\\.javacpp\\.cachedir=\\S+",
                "-Dorg.bytedeco.javacpp.cachedir=" + Path.of(System.getProperty("user.home"), ".javacpp", "cache")));
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {   // hang guard: the output has ended, the process should too
            p.destroyForcibly();
        }
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    @Test
    void theEntrypointRunsTheApplicationFromTheFilesTheImageCopies(@TempDir Path tmp) throws Exception {
        Path image = layOut(tmp.resolve("image"));
        Path work = Files.createDirectories(image.resolve(workdir == null ? "app" : workdir.substring(1)));

        Run version = entrypoint(image, work, "--version");
        assertEquals(0, version.code(), version.out());
        assertTrue(version.out().startsWith("bilevel "), version.out());

        // arguments reach the application unchanged (the manifests pass "node --roles ... --host $(POD_IP) ...")
        Run help = entrypoint(image, work, "node", "--help");
        assertEquals(0, help.code(), help.out());
        assertTrue(help.out().contains("--bootstrap") && help.out().contains("--roles"), help.out());

        Run bad = entrypoint(image, work, "train", "--config", tmp.resolve("missing.conf").toString());
        assertEquals(Main.EXIT_USAGE, bad.code(), bad.out());

        // the copied jar and libraries are a complete class path: a tiny training (ND4J, Akka) runs
        Path out = tmp.resolve("run");
        Run train = entrypoint(image, work, "train", "--config", TrainCommandTest.tinyConfig().toString(), "--out",
                out.toString(), "--quiet");
        assertEquals(0, train.code(), train.out());
        assertTrue(Files.exists(out.resolve("model.json")), train.out());
    }
}
