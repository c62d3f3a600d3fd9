package bilevel.cli;

import bilevel.cli.train.NodeCommand;
import bilevel.config.ExperimentConfig;
import bilevel.numerics.train.TrainingSpec;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Kubernetes manifests and the Dockerfile under {@code deploy/} agree with the code. No cluster or
 * container engine is needed (none is available where the suite runs), so this is not a deployment test:
 * it checks what can drift without one — every container's arguments parse as {@code bilevel node}
 * options, the experiment in the ConfigMap loads (no unknown keys) with its data inside a mounted volume,
 * the pod labels match what Cluster Bootstrap's Kubernetes API discovery selects, the declared ports are
 * the ones the node binds, and the pods' service account may list pods.
 */
class DeployManifestsTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final List<JsonNode> DOCS = new ArrayList<>();

    @BeforeAll
    static void read() throws IOException {
        try (Stream<Path> files = Files.list(ROOT.resolve("deploy/k8s"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try (MappingIterator<JsonNode> it = new YAMLMapper().readerFor(JsonNode.class).readValues(f.toFile())) {
                    while (it.hasNext()) {
                        JsonNode doc = it.next();
                        if (doc != null && !doc.isEmpty()) {
                            DOCS.add(doc);
                        }
                    }
                }
            }
        }
        assertFalse(DOCS.isEmpty());
    }

    private static List<JsonNode> ofKind(String... kinds) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode d : DOCS) {
            for (String k : kinds) {
                if (k.equals(d.path("kind").asText())) {
                    out.add(d);
                }
            }
        }
        return out;
    }

    private static JsonNode one(String kind, String name) {
        for (JsonNode d : ofKind(kind)) {
            if (name.equals(d.path("metadata").path("name").asText())) {
                return d;
            }
        }
        throw new AssertionError("no " + kind + " named " + name + " in deploy/k8s");
    }

    private static Map<String, String> options(JsonNode container) {
        Map<String, String> o = new HashMap<>();
        for (JsonNode a : container.path("args")) {
            String s = a.asText();
            int eq = s.indexOf('=');
            if (s.startsWith("--") && eq > 0) {
                o.put(s.substring(0, eq), s.substring(eq + 1));
            }
        }
        return o;
    }

    @Test
    void everyWorkloadRunsBilevelNodeWithOptionsTheCommandAccepts() {
        List<JsonNode> workloads = ofKind("Deployment", "StatefulSet");
        assertEquals(2, workloads.size(), "the optimizer StatefulSet and the solver Deployment");
        for (JsonNode w : workloads) {
            JsonNode pod = w.path("spec").path("template");
            JsonNode c = pod.path("spec").path("containers").get(0);
            List<String> args = new ArrayList<>();
            c.path("args").forEach(a -> args.add(a.asText().replace("$(POD_IP)", "10.1.2.3")));
            assertEquals("node", args.get(0), w.toString());
            // picocli rejects an unknown option or a malformed value here
            new CommandLine(new NodeCommand()).parseArgs(args.subList(1, args.size()).toArray(String[]::new));
            Map<String, String> o = options(c);
            String service = o.get("--bootstrap");
            assertNotNull(service, "pods find each other with Cluster Bootstrap");
            // ClusterNode: discovery selects pods labelled app=<service>; the headless Service has that name
            assertEquals(service, pod.path("metadata").path("labels").path("app").asText(), w.toString());
            assertEquals(service, one("Service", service).path("spec").path("selector").path("app").asText());
            Map<String, Integer> ports = new HashMap<>();
            c.path("ports").forEach(p -> ports.put(p.path("name").asText(), p.path("containerPort").asInt()));
            assertEquals(Integer.parseInt(o.get("--port")), ports.get("remoting"), w.toString());
            // Cluster Bootstrap contacts the container port named "management"; the node listens on
            // bilevel.cluster.bootstrap.management-port, which the ConfigMap's experiment leaves at its default
            int managementPort = com.typesafe.config.ConfigFactory.parseFile(ROOT.resolve("config/reference.conf").toFile())
                    .getInt("bilevel.cluster.bootstrap.management-port");
            assertEquals(managementPort, ports.get("management"), "Akka Management's port: " + w);
            assertFalse(one("ConfigMap", "bilevel-experiment").toString().contains("management-port"));
            assertEquals("/ready", c.path("readinessProbe").path("httpGet").path("path").asText());
            assertEquals("/alive", c.path("livenessProbe").path("httpGet").path("path").asText());
            assertTrue(c.path("env").toString().contains("status.podIP"), "--host is the pod's IP: " + w);
            // the pods may list pods (Kubernetes API discovery)
            String account = pod.path("spec").path("serviceAccountName").asText();
            JsonNode binding = null;
            for (JsonNode b : ofKind("RoleBinding")) {
                if (b.path("subjects").get(0).path("name").asText().equals(account)) {
                    binding = b;
                }
            }
            assertNotNull(binding, "a RoleBinding for service account " + account);
            JsonNode rule = one("Role", binding.path("roleRef").path("name").asText()).path("rules").get(0);
            assertTrue(rule.path("resources").toString().contains("\"pods\""));
            for (String verb : new String[]{"get", "watch", "list"}) {
                assertTrue(rule.path("verbs").toString().contains("\"" + verb + "\""), verb);
            }
        }
    }

    @Test
    void voluntaryDisruptionsEvictAtMostOnePodOfTheCluster() {
        List<JsonNode> budgets = ofKind("PodDisruptionBudget");
        assertEquals(1, budgets.size(), "one PodDisruptionBudget over the whole cluster");
        JsonNode pdb = budgets.get(0);
        assertEquals("policy/v1", pdb.path("apiVersion").asText());
        assertEquals(1, pdb.path("spec").path("maxUnavailable").asInt(), pdb.toString());
        assertTrue(pdb.path("spec").path("minAvailable").isMissingNode(), "maxUnavailable alone: " + pdb);
        JsonNode selector = pdb.path("spec").path("selector").path("matchLabels");
        assertFalse(selector.isEmpty(), pdb.toString());
        for (JsonNode w : ofKind("Deployment", "StatefulSet")) {
            JsonNode labels = w.path("spec").path("template").path("metadata").path("labels");
            selector.fields().forEachRemaining(e -> assertEquals(e.getValue().asText(), labels.path(e.getKey()).asText(),
                    "the budget selects the pods of " + w.path("metadata").path("name").asText()));
        }
    }

    @Test
    void theExperimentLoadsAndItsDataLiesInAVolumeEveryPodMounts(@TempDir Path tmp) throws IOException {
        JsonNode map = one("ConfigMap", "bilevel-experiment");
        String conf = map.path("data").path("experiment.conf").asText();
        // in the image, config/ is at /app/config (Dockerfile: COPY ... /src/config /app/config)
        String dockerfile = Files.readString(ROOT.resolve("deploy/Dockerfile"));
        assertTrue(dockerfile.contains("/src/config /app/config"), "the Dockerfile copies config/ to /app/config");
        assertTrue(dockerfile.contains("bilevel.cli.Main"), "the image's entry point is the CLI");
        Path file = tmp.resolve("experiment.conf");
        Files.writeString(file, conf.replace("/app/config/", ROOT.resolve("config").toString() + "/"));
        TrainingSpec spec = ExperimentConfig.toSpec(ExperimentConfig.load(file, Map.of()));
        for (JsonNode w : ofKind("Deployment", "StatefulSet")) {
            JsonNode pod = w.path("spec").path("template").path("spec");
            Map<String, String> mounts = new HashMap<>();
            pod.path("containers").get(0).path("volumeMounts").forEach(m -> mounts.put(m.path("name").asText(),
                    m.path("mountPath").asText()));
            String experimentDir = null;
            String dataDir = null;
            for (JsonNode v : pod.path("volumes")) {
                String name = v.path("name").asText();
                if (v.path("configMap").path("name").asText().equals("bilevel-experiment")) {
                    experimentDir = mounts.get(name);
                } else if (v.has("persistentVolumeClaim")) {
                    dataDir = mounts.get(name);
                }
            }
            assertNotNull(experimentDir, "the ConfigMap is mounted: " + w);
            assertEquals(experimentDir + "/experiment.conf", options(pod.path("containers").get(0)).get("--config"));
            assertNotNull(dataDir, "a data volume is mounted: " + w);
            for (String data : new String[]{spec.data().train(), spec.data().validation()}) {
                assertTrue(data != null && data.startsWith(dataDir + "/"),
                        "the experiment's images must lie in the data volume " + dataDir + ", got " + data);
            }
        }
    }
}
