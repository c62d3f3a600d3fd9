package bilevel.cli.tools;

import bilevel.numerics.util.AtomicFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A set of output files written all together or not at all: contents are staged (in memory, or as files
 * in a hidden temporary folder beside their targets) while the command runs, and only {@link #commit()}
 * moves them into place, each atomically. If the command fails before, {@link #close()} removes the
 * staging folder, so no partial output is left. A target folder created by this object is removed again
 * when nothing was committed.
 */
final class OutputFiles implements AutoCloseable {
    private final Map<Path, byte[]> inMemory = new LinkedHashMap<>();
    private final Map<Path, Path> staged = new LinkedHashMap<>();
    private final List<Path> createdFolders = new ArrayList<>();
    private final Map<Path, Path> stagingFolders = new LinkedHashMap<>();
    private boolean committed;

    /** Stages {@code content} for {@code target} (kept in memory). */
    void put(Path target, byte[] content) {
        inMemory.put(target.toAbsolutePath(), content.clone());
    }

    /**
     * A staging file for {@code target} in a hidden folder inside {@code target}'s folder (created if needed,
     * with that folder): write it, and {@link #commit()} moves it onto the target.
     */
    Path stage(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        try {
            if (!Files.isDirectory(dir)) {
                Path top = dir;
                while (top.getParent() != null && !Files.exists(top.getParent())) {
                    top = top.getParent();
                }
                Files.createDirectories(dir);
                createdFolders.add(top);
            }
            Path staging = stagingFolders.get(dir);
            if (staging == null) {
                staging = Files.createTempDirectory(dir, ".bilevel-staging-");
                stagingFolders.put(dir, staging);
            }
            Path file = staging.resolve(abs.getFileName().toString());
            staged.put(abs, file);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create output folder " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Moves every staged file into place and writes the in-memory ones (each atomically). */
    List<Path> commit() {
        List<Path> written = new ArrayList<>();
        try {
            for (Map.Entry<Path, Path> e : staged.entrySet()) {
                try {
                    Files.move(e.getValue(), e.getKey(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException ex) {
                    Files.move(e.getValue(), e.getKey(), StandardCopyOption.REPLACE_EXISTING);
                }
                written.add(e.getKey());
            }
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot move output into place: " + ex.getMessage(), ex);
        }
        for (Map.Entry<Path, byte[]> e : inMemory.entrySet()) {
            AtomicFiles.write(e.getKey(), e.getValue());
            written.add(e.getKey());
        }
        committed = true;
        return written;
    }

    /** Removes the staging folders (and, without a commit, the folders this object created). */
    @Override
    public void close() {
        for (Path staging : stagingFolders.values()) {
            deleteTree(staging);
        }
        if (!committed) {
            for (Path created : createdFolders) {
                deleteTree(created);
            }
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // best effort: a staging folder is hidden and named as such
        }
    }
}
