package bilevel.cli.tools;

import bilevel.cli.UsageException;
import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.ModelFile;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.TrainingException;
import bilevel.numerics.train.TrainingSpec;

import java.nio.file.Path;

/**
 * A model file read and checked for use: its regularizer family built from type and options, θ of the
 * right length. Every problem is a one-line {@link UsageException}.
 */
record LoadedModel(Path file, ModelFile model, Regularizer family) {

    static LoadedModel read(Path file) {
        ModelFile m;
        try {
            m = ModelFile.read(file);
        } catch (TrainingException e) {
            throw new UsageException(e.getMessage(), e);
        }
        Regularizer family;
        try {
            family = RegularizerFactory.create(m.type(), m.options());
        } catch (TrainingException e) {
            throw new UsageException("model file " + file + ": " + e.getMessage(), e);
        }
        int n = m.theta().length;
        if (n != family.numParams()) {
            throw new UsageException("model file " + file + " has " + n + " parameters, but a '" + m.type()
                    + "' regularizer with these options has " + family.numParams() + " (corrupt file?)");
        }
        return new LoadedModel(file, m, family);
    }

    double[] theta() {
        return model.theta();
    }

    /** The problem the model was trained for (the defaults when the file does not say). */
    TrainingSpec.ProblemSpec problem() {
        return model.problem() != null ? model.problem() : ToolSupport.defaultProblem();
    }

    /** e.g. "tv (2 parameters)". */
    String describe() {
        return model.type() + " (" + family.numParams() + " parameter" + (family.numParams() == 1 ? "" : "s") + ")";
    }
}
