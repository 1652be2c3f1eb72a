package dropkit;

/**
 * BigDL's {@code GaussianNoise}: in training {@code x + e} with {@code e ~ N(0, stddev^2)};
 * backward and evaluation are the identity.
 */
public final class GaussianNoise extends Layer<GaussianNoise> {
    /** @param stddev the noise's standard deviation, finite and &gt;= 0 */
    public GaussianNoise(double stddev) {
        super("GaussianNoise", Native.newGaussianNoise(stddev, null));
    }

    /**
     * @param stddev the noise's standard deviation, finite and &gt;= 0
     * @param noiseShape Keras's {@code noise_shape}: the noise is drawn over this shape and
     *     broadcast to the input; an entry -1 takes the input's size on that axis (Keras's
     *     {@code None}), any other entry is 1 (one draw shared along that axis) or the input's
     *     size; the array is copied
     */
    public GaussianNoise(double stddev, int[] noiseShape) {
        super("GaussianNoise", Native.newGaussianNoise(stddev,
                java.util.Objects.requireNonNull(noiseShape, "noiseShape")));
    }
}
