package dropkit;

import java.util.Objects;

/** Process-wide settings of dropkit. */
public final class Dropkit {
    private Dropkit() {}

    /**
     * Seeds the process default generator with the Philox algorithm, as Python's
     * {@code dropkit.set_seed(seed)}: layers without a seed of their own draw from it.
     */
    public static void setSeed(long seed) {
        setSeed(seed, Generator.PHILOX);
    }

    /** Seeds the process default generator and chooses its algorithm. */
    public static void setSeed(long seed, Generator generator) {
        Objects.requireNonNull(generator, "generator");
        Native.setDefaultSeed(seed, generator.ordinal());
    }
}
