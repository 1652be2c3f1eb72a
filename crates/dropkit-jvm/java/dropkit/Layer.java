package dropkit;

import java.nio.Buffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * What every dropkit layer does: forward and backward on row-major {@code float} or
 * {@code double} data of a given shape, training and evaluation modes, a seed.
 *
 * <p>A layer owns native memory: close it (try-with-resources), or it stays until the
 * process ends. Every method takes the layer's lock, so a layer shared by threads computes
 * one call at a time; use one layer per thread to compute in parallel. After {@link #close()}
 * every method throws {@link IllegalStateException}.
 *
 * <p>Backward differentiates the layer's last forward, as in BigDL. Its {@code input}
 * argument is only checked to have the gradient's shape.
 *
 * <p>Errors: a bad argument (probability, shape, length) is an
 * {@link IllegalArgumentException} whose message names it and its value; a training backward
 * before any forward an {@link IllegalStateException}; a null argument a
 * {@link NullPointerException} naming it.
 *
 * @param <L> the layer's own class, which the chaining methods return
 */
public abstract class Layer<L extends Layer<L>> implements AutoCloseable {
    private final String name;
    private final boolean inplace;
    private long handle;

    Layer(String name, long handle) {
        this.name = name;
        this.handle = handle;
        this.inplace = Native.isInplace(handle);
    }

    @SuppressWarnings("unchecked")
    private L self() {
        return (L) this;
    }

    private long open() {
        if (handle == 0) {
            throw new IllegalStateException(name + " is closed: a closed layer cannot be used");
        }
        return handle;
    }

    private static int[] shape(int[] shape) {
        return Objects.requireNonNull(shape, "shape");
    }

    /**
     * A generator of the layer's own, seeded with {@code seed} (used from the next training
     * forward on); returns the layer. {@link Generator#BIGDL} with seed {@code s} draws as
     * BigDL after {@code RandomGenerator.RNG().setSeed(s)}.
     */
    public synchronized L setSeed(long seed, Generator generator) {
        Objects.requireNonNull(generator, "generator");
        Native.setSeed(open(), seed, generator.ordinal());
        return self();
    }

    /** Training mode (the mode a layer starts in); returns the layer. */
    public synchronized L training() {
        Native.setTraining(open(), true);
        return self();
    }

    /** Evaluation mode; returns the layer. */
    public synchronized L evaluate() {
        Native.setTraining(open(), false);
        return self();
    }

    /** Whether the layer is in training mode. */
    public synchronized boolean isTraining() {
        return Native.isTraining(open());
    }

    /** Whether forward overwrites its input and backward its gradOutput. */
    public boolean isInplace() {
        return inplace;
    }

    /**
     * Forward: a new array, or for an in-place layer {@code input} overwritten and returned.
     */
    public synchronized float[] forward(float[] input, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        float[] output = inplace ? input : new float[input.length];
        Native.forwardF(h, input, output, shape(shape));
        return output;
    }

    /** As {@link #forward(float[], int[])}, on doubles. */
    public synchronized double[] forward(double[] input, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        double[] output = inplace ? input : new double[input.length];
        Native.forwardD(h, input, output, shape(shape));
        return output;
    }

    /** Forward into {@code output} (the same array as {@code input} computes in place). */
    public synchronized void forwardInto(float[] input, float[] output, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Native.forwardF(h, input, output, shape(shape));
    }

    /** As {@link #forwardInto(float[], float[], int[])}, on doubles. */
    public synchronized void forwardInto(double[] input, double[] output, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Native.forwardD(h, input, output, shape(shape));
    }

    /**
     * Forward from direct buffers, without a copy: the elements from each buffer's position to
     * its limit (the buffers' positions are not moved). The same window for both computes in
     * place; partly overlapping windows are refused.
     */
    public synchronized void forwardInto(FloatBuffer input, FloatBuffer output, int[] shape) {
        long h = open();
        direct(input, "input", false);
        direct(output, "output", true);
        Native.forwardBufF(h, input, input.position(), input.remaining(), output,
                output.position(), output.remaining(), shape(shape));
    }

    /** As {@link #forwardInto(FloatBuffer, FloatBuffer, int[])}, on doubles. */
    public synchronized void forwardInto(DoubleBuffer input, DoubleBuffer output, int[] shape) {
        long h = open();
        direct(input, "input", false);
        direct(output, "output", true);
        Native.forwardBufD(h, input, input.position(), input.remaining(), output,
                output.position(), output.remaining(), shape(shape));
    }

    /**
     * Backward: the gradient with respect to the input of the last forward, a new array, or
     * for an in-place layer {@code gradOutput} overwritten and returned.
     */
    public synchronized float[] backward(float[] input, float[] gradOutput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(gradOutput, "gradOutput");
        float[] gradInput = inplace ? gradOutput : new float[gradOutput.length];
        Native.backwardF(h, input.length, gradOutput, gradInput, shape(shape));
        return gradInput;
    }

    /** As {@link #backward(float[], float[], int[])}, on doubles. */
    public synchronized double[] backward(double[] input, double[] gradOutput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(gradOutput, "gradOutput");
        double[] gradInput = inplace ? gradOutput : new double[gradOutput.length];
        Native.backwardD(h, input.length, gradOutput, gradInput, shape(shape));
        return gradInput;
    }

    /** Backward into {@code gradInput} (the same array as {@code gradOutput}: in place). */
    public synchronized void backwardInto(
            float[] input, float[] gradOutput, float[] gradInput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(gradOutput, "gradOutput");
        Objects.requireNonNull(gradInput, "gradInput");
        Native.backwardF(h, input.length, gradOutput, gradInput, shape(shape));
    }

    /** As {@link #backwardInto(float[], float[], float[], int[])}, on doubles. */
    public synchronized void backwardInto(
            double[] input, double[] gradOutput, double[] gradInput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(gradOutput, "gradOutput");
        Objects.requireNonNull(gradInput, "gradInput");
        Native.backwardD(h, input.length, gradOutput, gradInput, shape(shape));
    }

    /** Backward on direct buffers, as {@link #forwardInto(FloatBuffer, FloatBuffer, int[])}. */
    public synchronized void backwardInto(
            FloatBuffer input, FloatBuffer gradOutput, FloatBuffer gradInput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        direct(gradOutput, "gradOutput", false);
        direct(gradInput, "gradInput", true);
        Native.backwardBufF(h, input.remaining(), gradOutput, gradOutput.position(),
                gradOutput.remaining(), gradInput, gradInput.position(), gradInput.remaining(),
                shape(shape));
    }

    /** As {@link #backwardInto(FloatBuffer, FloatBuffer, FloatBuffer, int[])}, on doubles. */
    public synchronized void backwardInto(
            DoubleBuffer input, DoubleBuffer gradOutput, DoubleBuffer gradInput, int[] shape) {
        long h = open();
        Objects.requireNonNull(input, "input");
        direct(gradOutput, "gradOutput", false);
        direct(gradInput, "gradInput", true);
        Native.backwardBufD(h, input.remaining(), gradOutput, gradOutput.position(),
                gradOutput.remaining(), gradInput, gradInput.position(), gradInput.remaining(),
                shape(shape));
    }

    private static void direct(Buffer buffer, String name, boolean written) {
        Objects.requireNonNull(buffer, name);
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException(name + " is a heap buffer: accepted are direct"
                    + " buffers (ByteBuffer.allocateDirect(n).order(ByteOrder.nativeOrder()))");
        }
        ByteOrder order = buffer instanceof FloatBuffer
                ? ((FloatBuffer) buffer).order() : ((DoubleBuffer) buffer).order();
        if (order != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException(name + " has byte order " + order
                    + ": accepted is the native order " + ByteOrder.nativeOrder());
        }
        if (written && buffer.isReadOnly()) {
            throw new IllegalArgumentException(name + " is read-only: it is written");
        }
    }

    /** The layer's options, generator and mode, as the Rust {@code Display}. */
    @Override
    public synchronized String toString() {
        return handle == 0 ? name + "(closed)" : Native.describe(handle);
    }

    /** Frees the native layer; a second close does nothing. */
    @Override
    public synchronized void close() {
        if (handle != 0) {
            long h = handle;
            handle = 0;
            Native.free(h);
        }
    }
}
