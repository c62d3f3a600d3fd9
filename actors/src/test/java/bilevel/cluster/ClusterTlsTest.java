package bilevel.cluster;

import bilevel.actors.ClusterTls;
import bilevel.config.ExperimentConfig;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The TLS settings of cluster nodes: where passwords come from, what is checked before a node starts. */
class ClusterTlsTest {

    @TempDir
    static Path keys;

    static TestKeys.Stores stores;

    @BeforeAll
    static void makeKeys() throws Exception {
        stores = TestKeys.make(keys, "node", "store-pass-1");
    }

    private static Config section(String... kv) {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            o.put("cluster.tls." + kv[i], kv[i + 1]);
        }
        return ExperimentConfig.load(null, o).getConfig("cluster.tls");
    }

    private static String error(Config tls, Path ks, Path ts, Map<String, String> env) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClusterTls.fromConfig(tls, ks, ts, false, env).check());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void offByDefaultAndOnWithAStoreOnTheCommandLine() {
        assertNull(ClusterTls.fromConfig(section(), null, null, false, Map.of()));
        ClusterTls tls = ClusterTls.fromConfig(section(), stores.keyStore(), stores.trustStore(), false,
                Map.of(ClusterTls.ENV_PASSWORD, "store-pass-1"));
        assertSame(tls, tls.check());
        assertEquals("TLSv1.3", tls.protocol());
        assertEquals("store-pass-1", tls.keyPassword());
        assertEquals("store-pass-1", tls.trustStorePassword());
    }

    @Test
    void akkaSettingsUseTlsTcpWithMutualAuthentication() {
        ClusterTls tls = ClusterTls.fromConfig(section("enabled", "true", "key-store", stores.keyStore().toString(),
                "trust-store", stores.trustStore().toString(), "hostname-verification", "true"), null, null, false,
                Map.of(ClusterTls.ENV_KEY_STORE_PASSWORD, "store-pass-1"));
        Config akka = tls.check().akkaConfig();
        assertTrue(ClusterTls.isOn(akka));
        assertEquals("tls-tcp", akka.getString("akka.remote.artery.transport"));
        Config e = akka.getConfig("akka.remote.artery.ssl.config-ssl-engine");
        assertEquals(stores.keyStore().toAbsolutePath().toString(), e.getString("key-store"));
        assertEquals(stores.trustStore().toAbsolutePath().toString(), e.getString("trust-store"));
        assertEquals("store-pass-1", e.getString("key-store-password"));
        assertEquals("store-pass-1", e.getString("key-password"));
        assertEquals("store-pass-1", e.getString("trust-store-password"));
        assertTrue(e.getBoolean("require-mutual-authentication"));
        assertTrue(e.getBoolean("hostname-verification"));
        assertEquals(List.of("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"), e.getStringList("enabled-algorithms"));
        assertFalse(ClusterTls.isOn(ConfigFactory.parseString("akka.remote.artery.transport = tcp")));
        assertFalse(tls.toString().contains("store-pass-1"), tls.toString());
    }

    @Test
    void passwordsComeFromTheConfigBeforeTheEnvironment() {
        ClusterTls tls = ClusterTls.fromConfig(section("key-store-password", "from-config"), stores.keyStore(),
                stores.trustStore(), false, Map.of(ClusterTls.ENV_PASSWORD, "common", ClusterTls.ENV_TRUST_STORE_PASSWORD, "trust"));
        assertEquals("from-config", tls.keyStorePassword());
        assertEquals("from-config", tls.keyPassword());
        assertEquals("trust", tls.trustStorePassword());
        tls = ClusterTls.fromConfig(section(), stores.keyStore(), stores.trustStore(), false,
                Map.of(ClusterTls.ENV_PASSWORD, "common", ClusterTls.ENV_KEY_PASSWORD, "key"));
        assertEquals("common", tls.keyStorePassword());
        assertEquals("key", tls.keyPassword());
        assertEquals("common", tls.trustStorePassword());
    }

    @Test
    void badStoresAndPasswordsAreOneClearLine() throws IOException {
        Map<String, String> ok = Map.of(ClusterTls.ENV_PASSWORD, "store-pass-1");
        Path missing = keys.resolve("missing.p12");
        assertTrue(error(section(), missing, stores.trustStore(), ok).contains("TLS key store not found: " + missing));
        assertTrue(error(section(), stores.keyStore(), missing, ok).contains("TLS trust store not found: " + missing));
        assertTrue(error(section(), stores.keyStore(), stores.trustStore(), Map.of()).contains("no password for the TLS key store"));
        assertTrue(error(section(), stores.keyStore(), stores.trustStore(), Map.of(ClusterTls.ENV_PASSWORD, "wrong-pass"))
                .contains("wrong password for the TLS key store " + stores.keyStore()));
        assertTrue(error(section(), stores.keyStore(), stores.trustStore(), Map.of(ClusterTls.ENV_PASSWORD, "store-pass-1",
                ClusterTls.ENV_TRUST_STORE_PASSWORD, "wrong-pass")).contains("wrong password for the TLS trust store"));
        assertTrue(error(section(), stores.trustStore(), stores.trustStore(), ok).contains("holds no private key"));
        Path text = keys.resolve("not-a-store.p12");
        Files.writeString(text, "hello");
        assertTrue(error(section(), text, stores.trustStore(), ok).contains("cannot read the TLS key store " + text));
        assertTrue(error(section("protocol", "TLSv1.2"), stores.keyStore(), stores.trustStore(), ok)
                .contains("can be used with TLSv1.2"));
        assertTrue(error(section("protocol", "TLSv9"), stores.keyStore(), stores.trustStore(), ok)
                .contains("TLS protocol 'TLSv9' is not supported"));
        assertTrue(error(ConfigFactory.parseString("enabled-algorithms = [NO_SUCH_SUITE]").withFallback(section()),
                stores.keyStore(), stores.trustStore(), ok).contains("cipher suite 'NO_SUCH_SUITE'"));
        IllegalArgumentException noKs = assertThrows(IllegalArgumentException.class,
                () -> ClusterTls.fromConfig(section("enabled", "true"), null, null, false, ok));
        assertTrue(noKs.getMessage().contains("no key store"), noKs.getMessage());
    }

    @Test
    void tlsV12WithASuitableSuiteIsAccepted() {
        ClusterTls tls = ClusterTls.fromConfig(ConfigFactory.parseString(
                        "protocol = TLSv1.2, enabled-algorithms = [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]").withFallback(section()),
                stores.keyStore(), stores.trustStore(), true, Map.of(ClusterTls.ENV_PASSWORD, "store-pass-1"));
        assertSame(tls, tls.check());
    }

    @Test
    void passwordsAreNotWrittenToRunFolders() {
        Config merged = ExperimentConfig.load(null, Map.of("cluster.tls.key-store-password", "secret-1",
                "cluster.tls.trust-store-password", "secret-2"));
        Config r = ClusterTls.redacted(merged);
        for (String k : ClusterTls.PASSWORD_KEYS) {
            assertEquals("", r.getString("cluster.tls." + k));
        }
        assertEquals(merged.getString("regularizer.type"), r.getString("regularizer.type"));
    }

    @Test
    void relativeStoresInAnExperimentFileAreRelativeToIt() throws IOException {
        Path sub = Files.createDirectories(keys.resolve("exp"));
        Path file = sub.resolve("e.conf");
        Files.writeString(file, "bilevel.cluster.tls { key-store = \"k/ks.p12\", trust-store = \"\" }\n");
        Config c = ExperimentConfig.load(file, Map.of());
        assertEquals(sub.resolve("k/ks.p12").toAbsolutePath().normalize().toString(), c.getString("cluster.tls.key-store"));
        assertEquals("", c.getString("cluster.tls.trust-store"));
    }

    /** deploy/make-cluster-keys.sh makes stores that pass the check (skipped without bash or the script). */
    @Test
    void makeClusterKeysScriptMakesUsableStores() throws Exception {
        Path script = Path.of("..", "deploy", "make-cluster-keys.sh").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(script) && Files.isExecutable(Path.of("/bin/bash")), "no script or bash");
        Path out = keys.resolve("made");
        ProcessBuilder pb = new ProcessBuilder(script.toString(), out.toString()).redirectErrorStream(true)
                .redirectOutput(keys.resolve("script.log").toFile());
        pb.environment().remove(ClusterTls.ENV_PASSWORD);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), Files.readString(keys.resolve("script.log")));
        String password = Files.readString(out.resolve("password")).trim();
        assertTrue(password.length() >= 16, "a random password");
        ClusterTls tls = ClusterTls.fromConfig(section(), out.resolve("cluster-keystore.p12"),
                out.resolve("cluster-truststore.p12"), false, Map.of(ClusterTls.ENV_PASSWORD, password));
        tls.check();
        // a second run refuses to overwrite the keys
        Process again = new ProcessBuilder(script.toString(), out.toString()).redirectErrorStream(true)
                .redirectOutput(keys.resolve("script2.log").toFile()).start();
        assertTrue(again.waitFor(2, TimeUnit.MINUTES));
        assertEquals(1, again.exitValue());
        assertTrue(Files.readString(keys.resolve("script2.log")).contains("refusing to overwrite"));
    }
}
