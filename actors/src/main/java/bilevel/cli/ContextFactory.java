package bilevel.cli;

import picocli.CommandLine;

import java.lang.reflect.Constructor;

/**
 * Creates subcommand objects for picocli: through their {@code (CliContext)} constructor when they have
 * one, otherwise through picocli's default factory.
 */
final class ContextFactory implements CommandLine.IFactory {
    private final CliContext context;

    ContextFactory(CliContext context) {
        this.context = context;
    }

    @Override
    public <K> K create(Class<K> cls) throws Exception {
        Constructor<K> withContext;
        try {
            withContext = cls.getDeclaredConstructor(CliContext.class);
        } catch (NoSuchMethodException e) {
            return CommandLine.defaultFactory().create(cls);
        }
        return withContext.newInstance(context);
    }
}
