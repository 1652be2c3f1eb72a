package dropkit;

/**
 * PyTorch's {@code AlphaDropout} (Klambauer et al., "Self-Normalizing Neural Networks"), for
 * SELU networks: in training each element is kept with probability {@code 1 - p} and becomes
 * {@code a * x + b}, or is dropped and set to {@code a * alpha' + b}, with
 * {@code alpha' = -1.7580993408473766}, {@code a = ((1 - p)(1 + p alpha'^2))^(-1/2)} and
 * {@code b = -a alpha' p}, so a standard-normal input keeps mean 0 and variance 1; backward is
 * {@code g * a} where kept and 0 where dropped, with the forward's mask; evaluation is the
 * identity. {@code p = 1} gives exactly 0 (and a zero gradient). The mask is Dropout's for
 * the same seed, generator and {@code p}.
 */
public final class AlphaDropout extends Layer<AlphaDropout> {
    /** @param p the probability to drop an element, in [0, 1] */
    public AlphaDropout(double p) {
        super("AlphaDropout", Native.newAlphaDropout(p));
    }

    /** {@code AlphaDropout(0.5)}, PyTorch's default. */
    public AlphaDropout() {
        this(0.5);
    }
}
