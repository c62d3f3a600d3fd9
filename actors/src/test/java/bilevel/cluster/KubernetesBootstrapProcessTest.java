package bilevel.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bilevel node --bootstrap SERVICE} as the Kubernetes manifests start it, without a Kubernetes cluster:
 * three node JVMs on 127.0.0.1 find each other only through Akka Management Cluster Bootstrap with Kubernetes
 * API discovery, which asks a stand-in API server (HTTPS with a certificate made by keytool at test time,
 * bearer token, namespace from files, as a pod's service account has them) for the pods labelled
 * {@code app=SERVICE}. The stand-in answers with a pod list in the API's JSON form: each pod with IP 127.0.0.1
 * and its own container ports named {@code management} and {@code remoting}. No seed nodes are given; the
 * nodes must form one cluster and complete a training, with hypergradients from every node.
 *
 * The optimizer node's {@code /alive} and {@code /ready} (the manifests' liveness and readiness probes) must
 * answer 200 while it runs.
 *
 * <p>What this does not cover: a real API server's RBAC (deploy/k8s/rbac.yaml grants get/watch/list on pods)
 * and the container image (DeployManifestsTest checks the manifests' arguments, ports and paths).
 */
@Tag("cluster")
class KubernetesBootstrapProcessTest {

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();
    private HttpsServer api;

    private static final Pattern COMPUTED = Pattern.compile("this node computed (\\d+) hypergradients");
    private static final String NAMESPACE = "bilevel-test";
    private static final String TOKEN = "test-token-7f3a";
    private static final ObjectMapper JSON = new ObjectMapper();

    @AfterEach
    void stopLeftovers() {
        for (Process p : started) {
            p.destroyForcibly();
        }
        if (api != null) {
            api.stop(0);
        }
    }

    /** One request the stand-in API server received: path, decoded query and Authorization header. */
    record Request(String path, String query, String authorization) {
    }

    /** A pod of the stand-in's list: Running, Ready, IP 127.0.0.1, with its own management and remoting ports. */
    private static Map<String, Object> pod(String name, int management, int remoting) {
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("name", name);
        metadata.put("namespace", NAMESPACE);
        metadata.put("labels", Map.of("app", "bilevel"));
        Map<String, Object> container = new LinkedHashMap<>();
        container.put("name", "bilevel");
        container.put("ports", List.of(Map.of("name", "remoting", "containerPort", remoting),
                Map.of("name", "management", "containerPort", management)));
        Map<String, Object> status = new LinkedHashMap<>();
        status.put("phase", "Running");
        status.put("podIP", "127.0.0.1");
        status.put("conditions", List.of(Map.of("type", "Ready", "status", "True")));
        status.put("containerStatuses", List.of(Map.of("name", "bilevel", "ready", true,
                "state", Map.of("running", Map.of("startedAt", "2026-01-01T00:00:00Z")))));
        Map<String, Object> pod = new LinkedHashMap<>();
        pod.put("metadata", metadata);
        pod.put("spec", Map.of("containers", List.of(container)));
        pod.put("status", status);
        return pod;
    }

    private List<Request> startApi(TestKeys.Server keys, List<Map<String, Object>> pods) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keys.keyStore())) {
            ks.load(in, keys.password().toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, keys.password().toCharArray());
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), null, null);
        api = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        api.setHttpsConfigurator(new HttpsConfigurator(tls));
        List<Request> requests = new CopyOnWriteArrayList<>();
        byte[] body = JSON.writeValueAsBytes(Map.of("kind", "PodList", "apiVersion", "v1",
                "metadata", Map.of("resourceVersion", "1"), "items", pods));
        api.createContext("/", exchange -> {
            String query = exchange.getRequestURI().getRawQuery();
            requests.add(new Request(exchange.getRequestURI().getPath(),
                    query == null ? "" : URLDecoder.decode(query, StandardCharsets.UTF_8),
                    exchange.getRequestHeaders().getFirst("Authorization")));
            boolean ok = exchange.getRequestURI().getPath().equals("/api/v1/namespaces/" + NAMESPACE + "/pods")
                    && ("Bearer " + TOKEN).equals(exchange.getRequestHeaders().getFirst("Authorization"));
            byte[] answer = ok ? body : "{\"kind\":\"Status\",\"code\":403}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(ok ? 200 : 403, answer.length);
            exchange.getResponseBody().write(answer);
            exchange.close();
        });
        api.start();
        return requests;
    }

    private TlsClusterProcessTest.Node start(String name, int port, Path conf, List<String> args) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx384m", "-XX:TieredStopAtLevel=1", "-Dbilevel.threads=1",
                "-cp", System.getProperty("java.class.path"), "bilevel.cli.Main", "node", "--port", Integer.toString(port),
                "--host", "127.0.0.1", "--bootstrap", "bilevel", "--min-nodes", "3", "--join-timeout", "120s",
                "--config", conf.toString(), "--quiet"));
        cmd.addAll(args);
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().put("KUBERNETES_SERVICE_HOST", "127.0.0.1");
        pb.environment().put("KUBERNETES_SERVICE_PORT", Integer.toString(api.getAddress().getPort()));
        Process p = pb.start();
        started.add(p);
        return new TlsClusterProcessTest.Node(p, log, port);
    }

    @Test
    void threeNodesFindEachOtherThroughTheKubernetesApiAndTrain() throws Exception {
        TestKeys.Server keys = TestKeys.server(dir.resolve("keys"), "kube-api", "api-secret-3");
        Path token = Files.writeString(dir.resolve("token"), TOKEN);
        Path namespace = Files.writeString(dir.resolve("namespace"), NAMESPACE);
        int[] remoting = {TlsClusterProcessTest.freePort(), TlsClusterProcessTest.freePort(), TlsClusterProcessTest.freePort()};
        int[] management = {TlsClusterProcessTest.freePort(), TlsClusterProcessTest.freePort(), TlsClusterProcessTest.freePort()};
        List<Request> requests = startApi(keys, List.of(pod("bilevel-optimizer-0", management[0], remoting[0]),
                pod("bilevel-solver-0", management[1], remoting[1]), pod("bilevel-solver-1", management[2], remoting[2])));

        Path tiny;
        try {
            tiny = Path.of(KubernetesBootstrapProcessTest.class.getResource("/tiny-train.conf").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        int steps = 20;
        List<Path> confs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Path c = dir.resolve("node-" + i + ".conf");
            Files.writeString(c, "include file(\"" + tiny.toAbsolutePath() + "\")\n"
                    + "bilevel.runtime { mode = async, solvers = 1, work-timeout = 20s }\n"
                    + "bilevel.train { max-steps = " + steps + ", validate-every = 10 }\n"
                    + "bilevel.cluster.bootstrap { management-port = " + management[i]
                    + ", api-ca-path = \"" + keys.certificatePem() + "\", api-token-path = \"" + token
                    + "\", namespace-path = \"" + namespace + "\" }\n");
            confs.add(c);
        }
        Path out = dir.resolve("run");
        TlsClusterProcessTest.Node a = start("optimizer-0", remoting[0], confs.get(0), List.of("--roles", "optimizer,solver", "--out", out.toString()));
        TlsClusterProcessTest.Node b = start("solver-0", remoting[1], confs.get(1), List.of("--roles", "solver"));
        TlsClusterProcessTest.Node c = start("solver-1", remoting[2], confs.get(2), List.of("--roles", "solver"));

        // the pods' probes (deploy/k8s: readinessProbe /ready, livenessProbe /alive on the management port):
        // polled on the optimizer node while it runs; both must answer 200 at some point
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        java.util.Set<String> healthy = new java.util.concurrent.ConcurrentSkipListSet<>();
        Thread probes = new Thread(() -> {
            while (a.process().isAlive() && healthy.size() < 2) {
                for (String path : List.of("/alive", "/ready")) {
                    try {
                        java.net.http.HttpResponse<Void> r = http.send(java.net.http.HttpRequest.newBuilder(
                                        java.net.URI.create("http://127.0.0.1:" + management[0] + path))
                                .timeout(Duration.ofSeconds(2)).build(), java.net.http.HttpResponse.BodyHandlers.discarding());
                        if (r.statusCode() == 200) {
                            healthy.add(path);
                        }
                    } catch (IOException e) {
                        // not listening yet (or any more)
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "probes");
        probes.setDaemon(true);
        probes.start();

        for (TlsClusterProcessTest.Node n : List.of(a, b, c)) {
            assertEquals(0, n.awaitExit(Duration.ofMinutes(4)), "node " + n.port() + ":\n" + TlsClusterProcessTest.tail(n.text())
                    + "\nAPI requests: " + requests);
        }
        probes.join(5000);
        assertEquals(java.util.Set.of("/alive", "/ready"), healthy, "health endpoints answered 200 while the node ran");
        // one cluster of the three, formed without seed nodes
        String logA = a.text();
        for (int port : remoting) {
            assertTrue(logA.contains("member up: akka://bilevel@127.0.0.1:" + port), TlsClusterProcessTest.tail(logA));
        }
        // the training completed, with hypergradients from every node
        assertEquals(steps, Files.readAllLines(out.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(out.resolve("model.json")));
        for (TlsClusterProcessTest.Node n : List.of(a, b, c)) {
            Matcher m = COMPUTED.matcher(n.text());
            assertTrue(m.find(), TlsClusterProcessTest.tail(n.text()));
            assertTrue(Long.parseLong(m.group(1)) > 0, "node " + n.port() + " computed nothing:\n" + TlsClusterProcessTest.tail(n.text()));
        }
        // the API was asked for the pods of the service, in the namespace and with the token of the service account files
        assertFalse(requests.isEmpty());
        for (Request r : requests) {
            assertEquals("/api/v1/namespaces/" + NAMESPACE + "/pods", r.path(), r.toString());
            assertTrue(r.query().contains("labelSelector=app=bilevel"), r.toString());
            assertEquals("Bearer " + TOKEN, r.authorization(), r.toString());
        }
    }
}
