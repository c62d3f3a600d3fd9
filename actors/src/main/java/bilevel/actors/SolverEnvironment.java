package bilevel.actors;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.train.RegularizerFactory;
import bilevel.numerics.train.SampleSolver;
import bilevel.numerics.train.TrainingData;
import bilevel.numerics.train.TrainingSpec;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.List;

/**
 * What every solver of a node shares (read-only) and what outlives a solver's restarts: the node's
 * images, the run's spec, and one {@link SampleSolver} per solver id with its warm-start cache. A
 * restarted solver actor gets its predecessor's cache back (minus the sample that failed), so a
 * failure does not cost every warm start.
 *
 * <p>Each SampleSolver is created by, and only used on, its solver actor's own thread. {@link #close()}
 * (by the runtime, after the actors stopped) releases them.
 */
public final class SolverEnvironment implements AutoCloseable {
    private final TrainingData data;
    private final TrainingSpec spec;
    private final DataType dataType;
    private final int cacheCapacity;
    private final List<SampleSolver> solvers = new ArrayList<>();

    public SolverEnvironment(TrainingData data, TrainingSpec spec, DataType dataType, int solverCount) {
        this.data = data;
        this.spec = spec;
        this.dataType = dataType;
        // as the reference trainer: room for every sample of the plan (bounded)
        this.cacheCapacity = Math.max(64, Math.min(4096, data.plan().size()));
        for (int i = 0; i < solverCount; i++) {
            solvers.add(null);
        }
    }

    public TrainingData data() {
        return data;
    }

    public TrainingSpec spec() {
        return spec;
    }

    public DataType dataType() {
        return dataType;
    }

    /** Number of solver ids (0 … n−1). */
    public int solverCount() {
        return solvers.size();
    }

    /** A new regularizer family of the run (each solver binds its own instances). */
    public Regularizer newRegularizer() {
        return RegularizerFactory.create(spec.regularizer().type(), spec.regularizer().options());
    }

    /** Solver {@code id}'s SampleSolver, created on first use (call only from that solver's thread). */
    public synchronized SampleSolver sampleSolver(int id) {
        SampleSolver s = solvers.get(id);
        if (s == null) {
            s = new SampleSolver(data, spec.problem(), spec.train(), dataType, spec.seed(), cacheCapacity,
                    RegularizerFactory.hypergradientMethod(newRegularizer(), spec.train()));
            solvers.set(id, s);
        }
        return s;
    }

    @Override
    public synchronized void close() {
        for (SampleSolver s : solvers) {
            if (s != null) {
                s.close();
            }
        }
        solvers.replaceAll(s -> null);
    }
}
