package bilevel.cli;

import bilevel.numerics.regularizers.Registry;

import java.util.Objects;

/**
 * What subcommands get from outside the command line: the regularizer registry (tests substitute a
 * registry of test regularizers). Later subcommands add their services here (configuration roots, …).
 * A subcommand receives it by declaring a public constructor taking a {@code CliContext}.
 *
 * @param registry regularizer families by name
 */
public record CliContext(Registry registry) {
    public CliContext {
        Objects.requireNonNull(registry, "registry");
    }

    /** The context of the shipped application. */
    public static CliContext standard() {
        return new CliContext(Registry.standard());
    }
}
