package dropkit;

/**
 * BigDL's {@code Dropout}: in training, each element is kept with probability
 * {@code 1 - initP} (divided by {@code 1 - initP} when {@code scale}) and set to 0
 * otherwise; in evaluation the identity ({@code x * (1 - initP)} without {@code scale}).
 */
public final class Dropout extends Layer<Dropout> {
    /**
     * @param initP the probability to drop an element, in [0, 1]
     * @param inplace forward overwrites its input and backward its gradOutput
     * @param scale divide kept elements by {@code 1 - initP} in training
     */
    public Dropout(double initP, boolean inplace, boolean scale) {
        super("Dropout", Native.newDropout(initP, inplace, scale, null));
    }

    /**
     * Dropout with Keras's noise shape: {@code new Dropout(0.5, false, true, new int[] {-1,
     * -1, 1, 1})} drops whole (H, W) maps of an (N, C, H, W) input, the bits of
     * SpatialDropout2D (scaled).
     *
     * @param initP the probability to drop an element, in [0, 1]
     * @param inplace forward overwrites its input and backward its gradOutput
     * @param scale divide kept elements by {@code 1 - initP} in training
     * @param noiseShape Keras's {@code noise_shape}: the mask is drawn over this shape and
     *     broadcast to the input; an entry -1 takes the input's size on that axis (Keras's
     *     {@code None}), any other entry is 1 (one draw shared along that axis) or the input's
     *     size; the array is copied
     */
    public Dropout(double initP, boolean inplace, boolean scale, int[] noiseShape) {
        super("Dropout", Native.newDropout(initP, inplace, scale,
                java.util.Objects.requireNonNull(noiseShape, "noiseShape")));
    }

    /** {@code Dropout(initP, false, true)}. */
    public Dropout(double initP) {
        this(initP, false, true);
    }

    /** {@code Dropout(0.5, false, true)}, BigDL's defaults. */
    public Dropout() {
        this(0.5);
    }
}
