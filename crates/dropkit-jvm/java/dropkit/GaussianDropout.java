package dropkit;

/**
 * BigDL's {@code GaussianDropout}: in training {@code x * n} with
 * {@code n ~ N(1, rate / (1 - rate))}; backward multiplies by the same noise; evaluation is
 * the identity.
 */
public final class GaussianDropout extends Layer<GaussianDropout> {
    /** @param rate the drop probability, in [0, 1) */
    public GaussianDropout(double rate) {
        super("GaussianDropout", Native.newGaussianDropout(rate, null));
    }

    /**
     * @param rate the drop probability, in [0, 1)
     * @param noiseShape Keras's {@code noise_shape}: the noise is drawn over this shape and
     *     broadcast to the input; an entry -1 takes the input's size on that axis (Keras's
     *     {@code None}), any other entry is 1 (one draw shared along that axis) or the input's
     *     size; the array is copied
     */
    public GaussianDropout(double rate, int[] noiseShape) {
        super("GaussianDropout", Native.newGaussianDropout(rate,
                java.util.Objects.requireNonNull(noiseShape, "noiseShape")));
    }
}
