package bilevel.numerics.testproblems;

import bilevel.numerics.regularizers.Regularizer;
import bilevel.numerics.util.Bound;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Forwards every call to another instance; subclasses override what they want to misreport. */
public class DelegatingInstance implements Regularizer.Instance {
    protected final Regularizer.Instance inner;

    public DelegatingInstance(Regularizer.Instance inner) {
        this.inner = inner;
    }

    @Override public double[] theta() { return inner.theta(); }
    @Override public double value(INDArray x) { return inner.value(x); }
    @Override public void gradient(INDArray x, INDArray out) { inner.gradient(x, out); }
    @Override public void hessianVector(INDArray x, INDArray v, INDArray out) { inner.hessianVector(x, v, out); }
    @Override public double[] mixedAdjoint(INDArray x, INDArray q) { return inner.mixedAdjoint(x, q); }
    @Override public Bound convexityModulus() { return inner.convexityModulus(); }
    @Override public Bound gradientLipschitz() { return inner.gradientLipschitz(); }
    @Override public Bound hessianLipschitz() { return inner.hessianLipschitz(); }
    @Override public Bound mixedLipschitz() { return inner.mixedLipschitz(); }
    @Override public Bound mixedNorm(INDArray x) { return inner.mixedNorm(x); }
    @Override public void close() { inner.close(); }
}
