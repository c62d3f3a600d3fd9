package bilevel.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.NoSuchAlgorithmException;
import java.security.UnrecoverableKeyException;
import java.security.cert.Certificate;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Artery over TLS for cluster nodes: {@code akka.remote.artery.transport = tls-tcp} with Akka's
 * {@code ConfigSSLEngineProvider} ({@code akka.remote.artery.ssl.config-ssl-engine}), always with mutual
 * authentication: a node accepts a connection only from a peer whose certificate its trust store
 * trusts, and vice versa. With one cluster certificate (the key store of every node holds the same key
 * pair, the trust store its certificate; {@code deploy/make-cluster-keys.sh}) exactly the nodes given
 * that key store can talk to each other; a node with another certificate fails the TLS handshake and
 * never becomes a member.
 *
 * <p>Passwords come from the configuration or, when it leaves them empty, from the environment:
 * {@value #ENV_KEY_STORE_PASSWORD} (else {@value #ENV_PASSWORD}), {@value #ENV_KEY_PASSWORD} (else the key
 * store password), {@value #ENV_TRUST_STORE_PASSWORD} (else {@value #ENV_PASSWORD}, else the key store
 * password).
 *
 * @param keyStore             this node's private key and certificate (PKCS12 or JKS)
 * @param trustStore           certificates accepted from peers
 * @param protocol             e.g. TLSv1.3 or TLSv1.2
 * @param enabledAlgorithms    cipher suites (must suit the protocol)
 * @param hostnameVerification check that a peer's certificate names the host it was reached at
 */
public record ClusterTls(Path keyStore, Path trustStore, String keyStorePassword, String keyPassword,
                         String trustStorePassword, String protocol, List<String> enabledAlgorithms,
                         boolean hostnameVerification) {

    public static final String ENV_PASSWORD = "BILEVEL_TLS_PASSWORD";
    public static final String ENV_KEY_STORE_PASSWORD = "BILEVEL_TLS_KEY_STORE_PASSWORD";
    public static final String ENV_KEY_PASSWORD = "BILEVEL_TLS_KEY_PASSWORD";
    public static final String ENV_TRUST_STORE_PASSWORD = "BILEVEL_TLS_TRUST_STORE_PASSWORD";
    /** The password keys of the {@code bilevel.cluster.tls} section (never written to a run folder). */
    public static final List<String> PASSWORD_KEYS = List.of("key-store-password", "key-password", "trust-store-password");

    private static final Set<String> TLS13_SUITES = Set.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256");

    public ClusterTls {
        enabledAlgorithms = List.copyOf(enabledAlgorithms);
    }

    /** Never shows the passwords. */
    @Override
    public String toString() {
        return "ClusterTls[keyStore=" + keyStore + ", trustStore=" + trustStore + ", protocol=" + protocol
                + ", enabledAlgorithms=" + enabledAlgorithms + ", hostnameVerification=" + hostnameVerification + "]";
    }

    /**
     * The TLS settings of the {@code bilevel.cluster.tls} section {@code tls}, with the key store and trust
     * store of the command line (non-null ones win; giving either enables TLS), or null when TLS is off.
     *
     * @param enable true: on even if the section says {@code enabled = off}
     * @param env    the environment (passwords)
     * @throws IllegalArgumentException (one line for the user) when a store or a password is missing
     */
    public static ClusterTls fromConfig(Config tls, Path keyStoreFlag, Path trustStoreFlag, boolean enable,
                                        Map<String, String> env) {
        boolean on = enable || keyStoreFlag != null || trustStoreFlag != null || tls.getBoolean("enabled");
        if (!on) {
            return null;
        }
        Path ks = keyStoreFlag != null ? keyStoreFlag : path(tls.getString("key-store"));
        Path ts = trustStoreFlag != null ? trustStoreFlag : path(tls.getString("trust-store"));
        if (ks == null) {
            throw new IllegalArgumentException("TLS is on but no key store is given (--tls-keystore FILE or "
                    + "bilevel.cluster.tls.key-store; deploy/make-cluster-keys.sh DIR makes one)");
        }
        if (ts == null) {
            throw new IllegalArgumentException("TLS is on but no trust store is given (--tls-truststore FILE or "
                    + "bilevel.cluster.tls.trust-store; deploy/make-cluster-keys.sh DIR makes one)");
        }
        requireReadable(ks, "key store");
        requireReadable(ts, "trust store");
        String common = nonEmpty(env.get(ENV_PASSWORD));
        String ksPassword = first(nonEmpty(tls.getString("key-store-password")), nonEmpty(env.get(ENV_KEY_STORE_PASSWORD)), common);
        if (ksPassword == null) {
            throw new IllegalArgumentException("no password for the TLS key store " + ks + ": set the environment variable "
                    + ENV_PASSWORD + " (or " + ENV_KEY_STORE_PASSWORD + ", or bilevel.cluster.tls.key-store-password)");
        }
        String keyPassword = first(nonEmpty(tls.getString("key-password")), nonEmpty(env.get(ENV_KEY_PASSWORD)), ksPassword);
        String tsPassword = first(nonEmpty(tls.getString("trust-store-password")), nonEmpty(env.get(ENV_TRUST_STORE_PASSWORD)),
                common, ksPassword);
        List<String> algorithms = tls.getStringList("enabled-algorithms");
        if (algorithms.isEmpty()) {
            throw new IllegalArgumentException("bilevel.cluster.tls.enabled-algorithms is empty: name at least one cipher suite");
        }
        return new ClusterTls(ks, ts, ksPassword, keyPassword, tsPassword, tls.getString("protocol"), algorithms,
                tls.getBoolean("hostname-verification"));
    }

    /**
     * Checks everything Akka would otherwise only find at the first connection (or report in a stack
     * trace): both stores readable with their passwords, a private key (with its password) and a
     * currently valid certificate in the key store, at least one trusted certificate in the trust store,
     * the protocol and every cipher suite supported by this JVM and suited to the protocol.
     *
     * @return this
     * @throws IllegalArgumentException one line for the user
     */
    public ClusterTls check() {
        KeyStore ks = load(keyStore, keyStorePassword, "key store");
        KeyStore ts = load(trustStore, trustStorePassword, "trust store");
        try {
            List<String> keys = new ArrayList<>();
            for (String alias : Collections.list(ks.aliases())) {
                if (ks.isKeyEntry(alias)) {
                    keys.add(alias);
                }
            }
            if (keys.isEmpty()) {
                throw new IllegalArgumentException("the TLS key store " + keyStore + " holds no private key "
                        + "(it must hold this node's key pair; is it the trust store?)");
            }
            for (String alias : keys) {
                try {
                    ks.getKey(alias, keyPassword.toCharArray());
                } catch (UnrecoverableKeyException e) {
                    throw new IllegalArgumentException("wrong key password for the private key '" + alias
                            + "' in the TLS key store " + keyStore + " (" + ENV_KEY_PASSWORD + " or " + ENV_PASSWORD + ")");
                }
                Certificate c = ks.getCertificate(alias);
                if (c instanceof X509Certificate x) {
                    try {
                        x.checkValidity();
                    } catch (CertificateExpiredException e) {
                        throw new IllegalArgumentException("the certificate '" + alias + "' in the TLS key store "
                                + keyStore + " expired on " + x.getNotAfter().toInstant());
                    } catch (CertificateNotYetValidException e) {
                        throw new IllegalArgumentException("the certificate '" + alias + "' in the TLS key store "
                                + keyStore + " is valid only from " + x.getNotBefore().toInstant());
                    }
                }
            }
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, keyPassword.toCharArray());
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            int trusted = 0;
            for (TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    trusted += x.getAcceptedIssuers().length;
                }
            }
            if (trusted == 0) {
                throw new IllegalArgumentException("the TLS trust store " + trustStore + " holds no trusted certificate");
            }
            SSLContext ctx;
            try {
                ctx = SSLContext.getInstance(protocol);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalArgumentException("TLS protocol '" + protocol + "' is not supported by this Java "
                        + "(bilevel.cluster.tls.protocol; e.g. TLSv1.3 or TLSv1.2)");
            }
            ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            SSLEngine engine = ctx.createSSLEngine();
            if (!List.of(engine.getSupportedProtocols()).contains(protocol)) {
                throw new IllegalArgumentException("TLS protocol '" + protocol + "' is not supported by this Java "
                        + "(bilevel.cluster.tls.protocol; supported: " + String.join(", ", engine.getSupportedProtocols()) + ")");
            }
            List<String> supported = List.of(engine.getSupportedCipherSuites());
            boolean suited = false;
            for (String a : enabledAlgorithms) {
                if (!supported.contains(a)) {
                    throw new IllegalArgumentException("cipher suite '" + a + "' (bilevel.cluster.tls.enabled-algorithms) "
                            + "is not supported by this Java");
                }
                suited |= protocol.equals("TLSv1.3") == TLS13_SUITES.contains(a);
            }
            if (!suited) {
                throw new IllegalArgumentException("none of the cipher suites " + enabledAlgorithms
                        + " (bilevel.cluster.tls.enabled-algorithms) can be used with " + protocol
                        + (protocol.equals("TLSv1.3") ? " (e.g. TLS_AES_256_GCM_SHA384)" : " (e.g. TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)"));
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot use the TLS key store " + keyStore + " and trust store "
                    + trustStore + ": " + e.getMessage());
        }
        return this;
    }

    /** The Akka settings: TLS over TCP with these stores, mutual authentication on. */
    public Config akkaConfig() {
        Map<String, Object> e = new HashMap<>();
        e.put("key-store", keyStore.toAbsolutePath().toString());
        e.put("trust-store", trustStore.toAbsolutePath().toString());
        e.put("key-store-password", keyStorePassword);
        e.put("key-password", keyPassword);
        e.put("trust-store-password", trustStorePassword);
        e.put("protocol", protocol);
        e.put("enabled-algorithms", enabledAlgorithms);
        e.put("require-mutual-authentication", true);
        e.put("hostname-verification", hostnameVerification);
        return ConfigFactory.empty()
                .withValue("akka.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
                .withValue("akka.remote.artery.ssl.ssl-engine-provider",
                        ConfigValueFactory.fromAnyRef("akka.remote.artery.tcp.ConfigSSLEngineProvider"))
                .withValue("akka.remote.artery.ssl.config-ssl-engine", ConfigValueFactory.fromMap(e));
    }

    /** {@code merged} (a {@code bilevel} section) with the TLS passwords emptied, for writing to a run folder. */
    public static Config redacted(Config merged) {
        Config c = merged;
        for (String k : PASSWORD_KEYS) {
            String key = "cluster.tls." + k;
            if (c.hasPath(key) && !c.getString(key).isEmpty()) {
                c = c.withValue(key, ConfigValueFactory.fromAnyRef("", "redacted: passwords are not written to run folders"));
            }
        }
        return c;
    }

    /** Whether an Akka configuration uses Artery over TLS. */
    public static boolean isOn(Config akka) {
        return akka.hasPath("akka.remote.artery.transport") && akka.getString("akka.remote.artery.transport").equals("tls-tcp");
    }

    private static void requireReadable(Path file, String what) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("TLS " + what + " not found: " + file);
        }
        if (!Files.isReadable(file)) {
            throw new IllegalArgumentException("TLS " + what + " not readable: " + file);
        }
    }

    private static KeyStore load(Path file, String password, String what) {
        requireReadable(file, what);
        KeyStore ks;
        try {
            // as Akka's ConfigSSLEngineProvider: the default type (PKCS12; it reads JKS files too)
            ks = KeyStore.getInstance(KeyStore.getDefaultType());
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("no key store implementation: " + e.getMessage());
        }
        try (InputStream in = Files.newInputStream(file)) {
            ks.load(in, password.toCharArray());
        } catch (IOException e) {
            if (e.getCause() instanceof UnrecoverableKeyException) {
                throw new IllegalArgumentException("wrong password for the TLS " + what + " " + file
                        + " (" + ENV_PASSWORD + " or the " + what + " password setting)");
            }
            throw new IllegalArgumentException("cannot read the TLS " + what + " " + file
                    + " (not a PKCS12 or JKS key store?): " + e.getMessage());
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot read the TLS " + what + " " + file + ": " + e.getMessage());
        }
        return ks;
    }

    private static Path path(String s) {
        return s == null || s.isBlank() ? null : Path.of(s);
    }

    private static String nonEmpty(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    private static String first(String... candidates) {
        for (String c : candidates) {
            if (c != null) {
                return c;
            }
        }
        return null;
    }
}
