package dropkit.bigdl;

import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule;
import com.intel.analytics.bigdl.dllib.tensor.Tensor;
import com.intel.analytics.bigdl.dllib.tensor.Tensor$;
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath;
import dropkit.Layer;
import java.io.Serializable;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * A dropkit layer as a BigDL module ({@code TensorModule}), for BigDL's containers
 * ({@code Sequential}, graphs) and optimizers, on {@code Float} or {@code Double} tensors.
 * Its mode follows the module's ({@code training()} / {@code evaluate()}); backward
 * differentiates the last forward, as BigDL's layers do.
 *
 * <pre>{@code
 * Sequential<Object> model = ...;
 * model.add(DropkitModule.floats(() -> new dropkit.Dropout(0.5)));
 * }</pre>
 *
 * <p>The module keeps the factory, not the native layer: a module that Spark serializes
 * builds its layer again where it is used (drawing from that process's default generator,
 * unless the factory seeds it).
 *
 * @param <T> BigDL's element type: {@code Float} ({@link #floats}) or {@code Double}
 */
public final class DropkitModule<T> extends TensorModule<T> {
    private static final long serialVersionUID = 1L;

    /** Makes the wrapped layer; serializable, so the module is. */
    @FunctionalInterface
    public interface Factory extends Serializable {
        /** A new layer. */
        Layer<?> create();
    }

    private final Factory factory;
    private transient Layer<?> layer;

    private DropkitModule(Factory factory, ClassTag<T> tag, TensorNumericMath.TensorNumeric<T> ev) {
        super(tag, ev);
        this.factory = factory;
    }

    /** A module on {@code Tensor<Float>}. */
    @SuppressWarnings("unchecked")
    public static DropkitModule<Object> floats(Factory factory) {
        return new DropkitModule<>(factory, (ClassTag<Object>) (Object) ClassTag$.MODULE$.Float(),
                numeric("NumericFloat$"));
    }

    /** A module on {@code Tensor<Double>}. */
    @SuppressWarnings("unchecked")
    public static DropkitModule<Object> doubles(Factory factory) {
        return new DropkitModule<>(factory, (ClassTag<Object>) (Object) ClassTag$.MODULE$.Double(),
                numeric("NumericDouble$"));
    }

    /** BigDL's {@code TensorNumeric} objects (Scala objects javac cannot name). */
    @SuppressWarnings("unchecked")
    static TensorNumericMath.TensorNumeric<Object> numeric(String name) {
        try {
            return (TensorNumericMath.TensorNumeric<Object>) Class.forName(
                    "com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath$TensorNumeric$"
                            + name).getField("MODULE$").get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("BigDL's " + name + " is missing", e);
        }
    }

    /** The wrapped layer (made at first use). */
    public synchronized Layer<?> layer() {
        if (layer == null) {
            layer = factory.create();
        }
        return layer;
    }

    /** The elements of a tensor as a whole array of its own, row-major (no copy if it is). */
    private static Object array(Tensor<?> t) {
        Object a = t.storage().array();
        int n = t.nElement();
        int offset = t.storageOffset() - 1;
        boolean whole = offset == 0
                && (a instanceof float[] ? ((float[]) a).length : ((double[]) a).length) == n;
        if (whole) {
            return a;
        }
        Object copy = a instanceof float[] ? new float[n] : new double[n];
        System.arraycopy(a, offset, copy, 0, n);
        return copy;
    }

    /** {@code t} if its storage is exactly its elements, else a fresh tensor of its shape. */
    private Tensor<T> whole(Tensor<T> t, Tensor<T> like) {
        t.resizeAs(like);
        Object a = t.storage() == null ? null : t.storage().array();
        int n = like.nElement();
        boolean ok = a != null && t.storageOffset() == 1 && t.isContiguous()
                && (a instanceof float[] ? ((float[]) a).length : ((double[]) a).length) == n;
        if (ok) {
            return t;
        }
        Object fresh = like.storage().array() instanceof float[] ? new float[n] : new double[n];
        @SuppressWarnings("unchecked")
        Tensor<T> made = (Tensor<T>) Tensor$.MODULE$.apply(fresh, like.size(),
                (ClassTag<Object>) (Object) tagOf(fresh), numeric(fresh instanceof float[]
                        ? "NumericFloat$" : "NumericDouble$"));
        return made;
    }

    private static ClassTag<?> tagOf(Object array) {
        return array instanceof float[] ? ClassTag$.MODULE$.Float() : ClassTag$.MODULE$.Double();
    }

    @Override
    public Tensor<T> updateOutput(Tensor<T> input) {
        Layer<?> l = layer();
        if (isTraining()) {
            l.training();
        } else {
            l.evaluate();
        }
        Tensor<T> in = input.isContiguous() ? input : input.contiguous();
        int[] shape = in.size();
        Object src = array(in);
        if (l.isInplace() && src == in.storage().array() && in == input) {
            forward(l, src, src, shape);
            output_$eq(input);
            return input;
        }
        Tensor<T> out = whole(output(), in);
        forward(l, src, out.storage().array(), shape);
        output_$eq(out);
        return out;
    }

    @Override
    public Tensor<T> updateGradInput(Tensor<T> input, Tensor<T> gradOutput) {
        Layer<?> l = layer();
        Tensor<T> g = gradOutput.isContiguous() ? gradOutput : gradOutput.contiguous();
        int[] shape = g.size();
        Object src = array(g);
        Tensor<T> gi = whole(gradInput(), g);
        // The layer reads only the input's length, which is the gradient's.
        Object in = input.nElement() == g.nElement() ? src : array(input);
        if (src instanceof float[]) {
            l.backwardInto((float[]) in, (float[]) src, (float[]) gi.storage().array(), shape);
        } else {
            l.backwardInto((double[]) in, (double[]) src, (double[]) gi.storage().array(), shape);
        }
        gradInput_$eq(gi);
        return gi;
    }

    private static void forward(Layer<?> l, Object src, Object dst, int[] shape) {
        if (src instanceof float[]) {
            l.forwardInto((float[]) src, (float[]) dst, shape);
        } else {
            l.forwardInto((double[]) src, (double[]) dst, shape);
        }
    }

    @Override
    public String toString() {
        return "DropkitModule[" + layer() + "]";
    }
}
