package dropkit;

/**
 * BigDL's {@code SpatialDropout2D}: in training each (sample, channel) map of an
 * input of shape (N, C, H, W) with "NCHW" or (N, H, W, C) with "NHWC"
 * is kept or set to 0 as a whole, with drop probability {@code initP}; backward multiplies by
 * the same mask; evaluation is {@code x * (1 - initP)}.
 */
public final class SpatialDropout2D extends Layer<SpatialDropout2D> {
    /**
     * @param initP the probability to drop a channel, in [0, 1]
     * @param format "NCHW" (channels first) or "NHWC" (channels last)
     */
    public SpatialDropout2D(double initP, String format) {
        super("SpatialDropout2D",
                Native.newSpatial(2, initP, java.util.Objects.requireNonNull(format, "format")));
    }

    /** {@code SpatialDropout2D(initP, "NCHW")}. */
    public SpatialDropout2D(double initP) {
        this(initP, "NCHW");
    }

    /** {@code SpatialDropout2D(0.5, "NCHW")}, BigDL's defaults. */
    public SpatialDropout2D() {
        this(0.5);
    }
}
