package dropkit;

/**
 * BigDL's {@code SpatialDropout1D}: in training each (sample, channel) map of an input of
 * shape (N, T, C) or (T, C) (channels last, as BigDL; (N, C, L) or (C, L) with format
 * "NCHW") is kept or set to 0 as a whole, with drop probability {@code initP}; backward
 * multiplies by the same mask; evaluation is {@code x * (1 - initP)}.
 */
public final class SpatialDropout1D extends Layer<SpatialDropout1D> {
    /**
     * @param initP the probability to drop a channel, in [0, 1]
     * @param format "NHWC" (channels last, BigDL's layout) or "NCHW" (channels first)
     */
    public SpatialDropout1D(double initP, String format) {
        super("SpatialDropout1D",
                Native.newSpatial(1, initP, java.util.Objects.requireNonNull(format, "format")));
    }

    /** @param initP the probability to drop a channel, in [0, 1]; channels last */
    public SpatialDropout1D(double initP) {
        super("SpatialDropout1D", Native.newSpatial(1, initP, null));
    }

    /** {@code SpatialDropout1D(0.5)}, BigDL's default. */
    public SpatialDropout1D() {
        this(0.5);
    }
}
