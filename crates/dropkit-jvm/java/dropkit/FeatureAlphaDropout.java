package dropkit;

/**
 * PyTorch's {@code FeatureAlphaDropout}: {@link AlphaDropout}'s arithmetic with one keep draw
 * per (sample, channel), applied to the channel's whole feature map, on an input of rank 2 or
 * more: (N, C, ...) with "channels_first" (or "NCHW", the default) or (N, ..., C) with
 * "channels_last" (or "NHWC"); the names in any case. The rank is checked in both modes. For
 * the same seed, generator and {@code p} it keeps the same channels as a SpatialDropout layer
 * of that input.
 */
public final class FeatureAlphaDropout extends Layer<FeatureAlphaDropout> {
    /**
     * @param p the probability to drop a channel, in [0, 1]
     * @param format "channels_first" / "NCHW" or "channels_last" / "NHWC"
     */
    public FeatureAlphaDropout(double p, String format) {
        super("FeatureAlphaDropout", Native.newFeatureAlphaDropout(p,
                java.util.Objects.requireNonNull(format, "format")));
    }

    /** {@code FeatureAlphaDropout(p, "channels_first")}. */
    public FeatureAlphaDropout(double p) {
        this(p, "channels_first");
    }

    /** {@code FeatureAlphaDropout(0.5, "channels_first")}, PyTorch's default. */
    public FeatureAlphaDropout() {
        this(0.5);
    }
}
