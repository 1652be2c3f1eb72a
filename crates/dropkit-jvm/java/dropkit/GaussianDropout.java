package dropkit;

/**
 * BigDL's {@code GaussianDropout}: in training {@code x * n} with
 * {@code n ~ N(1, rate / (1 - rate))}; backward multiplies by the same noise; evaluation is
 * the identity.
 */
public final class GaussianDropout extends Layer<GaussianDropout> {
    /** @param rate the drop probability, in [0, 1) */
    public GaussianDropout(double rate) {
        super("GaussianDropout", Native.newGaussianDropout(rate));
    }
}
