package bilevel.numerics;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Nd4jSmokeTest {
    @Test
    void backendLoadsAndMultiplies() {
        var a = Nd4j.create(new double[][]{{1, 2}, {3, 4}});
        assertEquals(DataType.DOUBLE, a.dataType());
        assertEquals(54.0, a.mmul(a).sumNumber().doubleValue(), 0.0); // [[7,10],[15,22]]
    }
}
