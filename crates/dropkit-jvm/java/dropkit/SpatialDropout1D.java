package dropkit;

/**
 * BigDL's {@code SpatialDropout1D}: in training each (sample, channel) map of an input of
 * shape (N, T, C) or (T, C): channels last, as BigDL is kept or set to 0 as a whole, with drop probability
 * {@code initP}; backward multiplies by the same mask; evaluation is {@code x * (1 - initP)}.
 */
public final class SpatialDropout1D extends Layer<SpatialDropout1D> {
    /** @param initP the probability to drop a channel, in [0, 1] */
    public SpatialDropout1D(double initP) {
        super("SpatialDropout1D", Native.newSpatial(1, initP, null));
    }

    /** {@code SpatialDropout1D(0.5)}, BigDL's default. */
    public SpatialDropout1D() {
        this(0.5);
    }
}
