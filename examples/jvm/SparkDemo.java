import com.intel.analytics.bigdl.dllib.feature.dataset.PaddingParam;
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample;
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample$;
import com.intel.analytics.bigdl.dllib.nn.Linear$;
import com.intel.analytics.bigdl.dllib.nn.MSECriterion;
import com.intel.analytics.bigdl.dllib.nn.Sequential;
import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractCriterion;
import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule;
import com.intel.analytics.bigdl.dllib.optim.Optimizer;
import com.intel.analytics.bigdl.dllib.optim.Optimizer$;
import com.intel.analytics.bigdl.dllib.optim.SGD;
import com.intel.analytics.bigdl.dllib.optim.Trigger$;
import com.intel.analytics.bigdl.dllib.tensor.Tensor;
import com.intel.analytics.bigdl.dllib.tensor.Tensor$;
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath;
import com.intel.analytics.bigdl.dllib.utils.Engine$;
import dropkit.Dropout;
import dropkit.bigdl.DropkitModule;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * `make spark-demo`: a BigDL model with dropkit's Dropout (as a BigDL module) trained by
 * BigDL's distributed optimizer on Spark in local mode (2 cores): Spark serializes the model
 * to its tasks, and each builds its native dropkit layer from the module's factory.
 */
public final class SparkDemo {
    private SparkDemo() {}

    /** The layer Spark's tasks build (a class of its own: serializable, no lambda). */
    static final class DropoutFactory implements DropkitModule.Factory {
        private static final long serialVersionUID = 1L;

        @Override
        public dropkit.Layer<?> create() {
            return new Dropout(0.2);
        }
    }

    @SuppressWarnings("unchecked")
    static final ClassTag<Object> FLOAT = (ClassTag<Object>) (Object) ClassTag$.MODULE$.Float();

    @SuppressWarnings("unchecked")
    static TensorNumericMath.TensorNumeric<Object> nf() throws ReflectiveOperationException {
        return (TensorNumericMath.TensorNumeric<Object>) Class.forName(
                "com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath$TensorNumeric$"
                        + "NumericFloat$").getField("MODULE$").get(null);
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    static Tensor tensor(float[] data, int... shape) throws ReflectiveOperationException {
        return Tensor$.MODULE$.apply(data, shape, FLOAT, nf());
    }

    /** Mean squared error of {@code model} (evaluation mode) over the data. */
    @SuppressWarnings("rawtypes")
    static double mse(AbstractModule model, float[] x, float[] y, int n) throws Exception {
        model.evaluate();
        Tensor out = ((Tensor) model.forward(tensor(x.clone(), n, 8))).contiguous();
        float[] o = (float[]) out.storage().array();
        int offset = out.storageOffset() - 1;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double d = o[offset + i] - y[i];
            sum += d * d;
        }
        return sum / n;
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    public static void main(String[] args) throws Exception {
        SparkConf conf = Engine$.MODULE$.createSparkConf(new SparkConf())
                .setMaster("local[2]").setAppName("dropkit-spark-demo")
                .set("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel("WARN");
            Engine$.MODULE$.init();
            int n = 1024;
            float[] x = new float[n * 8];
            float[] y = new float[n];
            for (int i = 0; i < n * 8; i++) {
                x[i] = (float) Math.sin(0.7 * i);
            }
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < 8; k++) {
                    y[i] += x[i * 8 + k] * (k % 3 - 1) * 0.5f;
                }
            }
            ClassTag<Float> floatTag = (ClassTag<Float>) (ClassTag) FLOAT;
            TensorNumericMath.TensorNumeric<Float> floatNumeric =
                    (TensorNumericMath.TensorNumeric<Float>) (TensorNumericMath.TensorNumeric) nf();
            List<Sample<Float>> samples = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                float[] f = new float[8];
                System.arraycopy(x, i * 8, f, 0, 8);
                Tensor<Float> feature = tensor(f, 8);
                Tensor<Float> label = tensor(new float[] {y[i]}, 1);
                samples.add(Sample$.MODULE$.<Float>apply(feature, label, floatTag, floatNumeric));
            }
            Sequential model = new Sequential(FLOAT, nf());
            model.add(Linear$.MODULE$.apply(8, 64, true, null, null, null, null, null, null,
                    FLOAT, nf()));
            model.add(DropkitModule.floats(new DropoutFactory()));
            model.add(Linear$.MODULE$.apply(64, 1, true, null, null, null, null, null, null,
                    FLOAT, nf()));
            System.out.println("model: " + model);
            double before = mse(model, x, y, n);
            System.out.printf("MSE before training: %.5f%n", before);
            model.training();

            Optimizer optimizer = Optimizer$.MODULE$.<Float>apply((AbstractModule) model,
                    sc.parallelize(samples, 2).rdd(),
                    (AbstractCriterion) new MSECriterion(FLOAT, nf()), 128,
                    (PaddingParam<Float>) null, (PaddingParam<Float>) null, floatTag, floatNumeric);
            optimizer.setOptimMethod(new SGD(0.1, 0, 0, 0, 0, false, new SGD.Default(), null,
                    null, FLOAT, nf()));
            optimizer.setEndWhen(Trigger$.MODULE$.maxEpoch(20));
            AbstractModule trained = optimizer.optimize();
            double after = mse(trained, x, y, n);
            System.out.printf("MSE after 20 epochs on Spark local[2]: %.5f%n", after);
            if (!(after < before)) {
                System.out.println("the MSE did not fall");
                System.exit(1);
            }
        }
    }
}
