package dropkit;

/**
 * BigDL's {@code SpatialDropout3D}: in training each (sample, channel) map of an
 * input of shape (N, C, D, H, W) with "NCHW" or (N, D, H, W, C) with "NHWC"
 * is kept or set to 0 as a whole, with drop probability {@code initP}; backward multiplies by
 * the same mask; evaluation is {@code x * (1 - initP)}.
 */
public final class SpatialDropout3D extends Layer<SpatialDropout3D> {
    /**
     * @param initP the probability to drop a channel, in [0, 1]
     * @param format "NCHW" (channels first) or "NHWC" (channels last)
     */
    public SpatialDropout3D(double initP, String format) {
        super("SpatialDropout3D",
                Native.newSpatial(3, initP, java.util.Objects.requireNonNull(format, "format")));
    }

    /** {@code SpatialDropout3D(initP, "NCHW")}. */
    public SpatialDropout3D(double initP) {
        this(initP, "NCHW");
    }

    /** {@code SpatialDropout3D(0.5, "NCHW")}, BigDL's defaults. */
    public SpatialDropout3D() {
        this(0.5);
    }
}
