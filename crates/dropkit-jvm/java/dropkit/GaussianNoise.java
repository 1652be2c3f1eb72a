package dropkit;

/**
 * BigDL's {@code GaussianNoise}: in training {@code x + e} with {@code e ~ N(0, stddev^2)};
 * backward and evaluation are the identity.
 */
public final class GaussianNoise extends Layer<GaussianNoise> {
    /** @param stddev the noise's standard deviation, finite and &gt;= 0 */
    public GaussianNoise(double stddev) {
        super("GaussianNoise", Native.newGaussianNoise(stddev));
    }
}
