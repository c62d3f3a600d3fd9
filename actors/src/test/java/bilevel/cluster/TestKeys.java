package bilevel.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * TLS key material for tests, made at test time with the JDK's {@code keytool} (never committed): a
 * self-signed RSA 2048 key pair in a PKCS12 key store and its certificate alone in a PKCS12 trust store.
 */
public final class TestKeys {

    /** A key store with one key pair, and a trust store with its certificate; both with {@code password}. */
    public record Stores(Path keyStore, Path trustStore, String password) {
    }

    private TestKeys() {
    }

    /** Makes {@code dir/NAME-keystore.p12} and {@code dir/NAME-truststore.p12} (certificate CN=NAME). */
    public static Stores make(Path dir, String name, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path ks = dir.resolve(name + "-keystore.p12");
        Path ts = dir.resolve(name + "-truststore.p12");
        Path cert = dir.resolve(name + ".cer");
        keytool(dir, "-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA",
                "-validity", "30", "-dname", "CN=" + name, "-storetype", "PKCS12", "-keystore", ks.toString(),
                "-storepass", password, "-keypass", password);
        keytool(dir, "-exportcert", "-alias", name, "-keystore", ks.toString(), "-storetype", "PKCS12",
                "-storepass", password, "-file", cert.toString());
        keytool(dir, "-importcert", "-noprompt", "-alias", name, "-file", cert.toString(), "-storetype", "PKCS12",
                "-keystore", ts.toString(), "-storepass", password);
        return new Stores(ks, ts, password);
    }

    /** A server key pair for {@code 127.0.0.1} and {@code localhost} (PKCS12 key store) and its certificate as PEM. */
    public record Server(Path keyStore, Path certificatePem, String password) {
    }

    /** Makes {@code dir/NAME-server.p12} and {@code dir/NAME.pem}: self-signed, subject alternative names 127.0.0.1, localhost. */
    public static Server server(Path dir, String name, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path ks = dir.resolve(name + "-server.p12");
        Path pem = dir.resolve(name + ".pem");
        keytool(dir, "-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA",
                "-validity", "30", "-dname", "CN=" + name, "-ext", "SAN=ip:127.0.0.1,dns:localhost",
                "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", password, "-keypass", password);
        keytool(dir, "-exportcert", "-rfc", "-alias", name, "-keystore", ks.toString(), "-storetype", "PKCS12",
                "-storepass", password, "-file", pem.toString());
        return new Server(ks, pem, password);
    }

    private static void keytool(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        Path log = dir.resolve("keytool.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException("keytool did not finish: " + cmd);
        }
        if (p.exitValue() != 0) {
            throw new IOException("keytool " + args[0] + " failed (" + p.exitValue() + "): " + Files.readString(log));
        }
    }
}
