package bilevel.cli;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The project version, from {@code bilevel/version.properties} (filtered by Maven at build time). */
public final class VersionProvider implements CommandLine.IVersionProvider {

    private static final String RESOURCE = "/bilevel/version.properties";

    /** The project version, e.g. "0.1.0-SNAPSHOT", or "unknown" if the build did not record it. */
    public static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "").trim();
            return v.isEmpty() || v.contains("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }

    @Override
    public String[] getVersion() {
        return new String[]{
                "bilevel " + version(),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"
        };
    }
}
