package dropkit;

/** The random generator a layer draws its masks and noise from. */
public enum Generator {
    /**
     * Philox4x32-10, dropkit's default: a mask is a pure function of (seed, draw, element),
     * the same for any thread count and on the GPU.
     */
    PHILOX,
    /**
     * BigDL's MT19937 stream, bit for bit: a layer seeded with {@code s} draws what BigDL draws
     * after {@code RandomGenerator.RNG().setSeed(s)} on one thread.
     */
    BIGDL
}
