package dropkit;

/**
 * BigDL's {@code Dropout}: in training, each element is kept with probability
 * {@code 1 - initP} (divided by {@code 1 - initP} when {@code scale}) and set to 0
 * otherwise; in evaluation the identity ({@code x * (1 - initP)} without {@code scale}).
 */
public final class Dropout extends Layer<Dropout> {
    /**
     * @param initP the probability to drop an element, in [0, 1]
     * @param inplace forward overwrites its input and backward its gradOutput
     * @param scale divide kept elements by {@code 1 - initP} in training
     */
    public Dropout(double initP, boolean inplace, boolean scale) {
        super("Dropout", Native.newDropout(initP, inplace, scale));
    }

    /** {@code Dropout(initP, false, true)}. */
    public Dropout(double initP) {
        this(initP, false, true);
    }

    /** {@code Dropout(0.5, false, true)}, BigDL's defaults. */
    public Dropout() {
        this(0.5);
    }
}
