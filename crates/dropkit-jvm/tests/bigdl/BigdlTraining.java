import com.intel.analytics.bigdl.dllib.nn.Linear$;
import com.intel.analytics.bigdl.dllib.nn.MSECriterion;
import com.intel.analytics.bigdl.dllib.nn.Sequential;
import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule;
import com.intel.analytics.bigdl.dllib.tensor.Tensor;
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator$;
import dropkit.Dropout;
import dropkit.Generator;
import dropkit.bigdl.DropkitModule;
import scala.Tuple2;

/**
 * dropkit's Dropout as a BigDL module in a BigDL model, trained by hand (SGD on MSE): the
 * same model with BigDL's own Dropout, both generators seeded alike each step, must give the
 * same loss at every step and the same weights at the end, bit for bit; and the loss must
 * fall. Then evaluation mode: the model's output is the dropout-free one. BigDL's Linear runs
 * MKL's sgemm, whose rounding depends on the arrays' alignment unless MKL_CBWR=COMPATIBLE
 * (which scripts/jvm-bigdl.sh sets): without it even two runs of BigDL alone differ.
 */
public final class BigdlTraining {
    private BigdlTraining() {}

    @SuppressWarnings({"rawtypes", "unchecked"})
    static Sequential model(AbstractModule dropout) {
        Sequential m = new Sequential(BigdlParity.FLOAT, BigdlParity.NF);
        m.add(Linear$.MODULE$.apply(8, 32, true, null, null, weights(32, 8, 1), weights(32, 1, 2),
                null, null, BigdlParity.FLOAT, BigdlParity.NF));
        m.add(dropout);
        m.add(Linear$.MODULE$.apply(32, 1, true, null, null, weights(1, 32, 3), weights(1, 1, 4),
                null, null, BigdlParity.FLOAT, BigdlParity.NF));
        return m;
    }

    @SuppressWarnings("rawtypes")
    static Tensor weights(int rows, int cols, int salt) {
        double[] d = BigdlParity.data(rows * cols, salt);
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) (d[i] * 0.03);
        }
        return BigdlParity.tensor(f, cols == 1 ? new int[] {rows} : new int[] {rows, cols}, true);
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    public static void main(String[] args) {
        int batch = 32;
        float[] x = BigdlParity.floats(BigdlParity.data(batch * 8, 11));
        float[] y = new float[batch];
        for (int b = 0; b < batch; b++) {
            for (int k = 0; k < 8; k++) {
                y[b] += x[b * 8 + k] * (k % 3 - 1) * 0.2f;
            }
        }
        Tensor input = BigdlParity.tensor(x, new int[] {batch, 8}, true);
        Tensor target = BigdlParity.tensor(y, new int[] {batch, 1}, true);

        Sequential theirs = model(new com.intel.analytics.bigdl.dllib.nn.Dropout(
                0.3, false, true, BigdlParity.FLOAT, BigdlParity.NF));
        DropkitModule<Object> wrapped = DropkitModule.floats(() -> new Dropout(0.3));
        Sequential ours = model(wrapped);
        MSECriterion criterion = new MSECriterion(BigdlParity.FLOAT, BigdlParity.NF);
        float lr = 0.02f;
        int steps = 300;
        int failures = 0;
        int lossMismatches = 0;
        float first = Float.NaN;
        float last = Float.NaN;
        for (int step = 0; step < steps; step++) {
            float[] losses = new float[2];
            Sequential[] models = {theirs, ours};
            for (int k = 0; k < 2; k++) {
                Sequential m = models[k];
                if (k == 0) {
                    RandomGenerator$.MODULE$.RNG().setSeed(1000 + step);
                } else {
                    wrapped.layer().setSeed(1000 + step, Generator.BIGDL);
                }
                Tensor out = (Tensor) m.forward(input);
                losses[k] = (Float) criterion.forward(out, target);
                m.zeroGradParameters();
                m.backward(input, criterion.backward(out, target));
                Tuple2<Tensor, Tensor> p = m.getParameters();
                p._1().add(Float.valueOf(-lr), p._2());
            }
            if (Float.floatToRawIntBits(losses[0]) != Float.floatToRawIntBits(losses[1])
                    && lossMismatches++ < 5) {
                System.out.println("FAIL step " + step + ": loss BigDL " + losses[0]
                        + ", dropkit " + losses[1]);
            }
            if (step == 0) {
                first = losses[1];
            }
            last = losses[1];
        }
        if (lossMismatches > 0) {
            failures++;
            System.out.println("FAIL the losses differ at " + lossMismatches + " steps");
        }
        long[] a = BigdlParity.bits((Tensor) theirs.getParameters()._1());
        long[] b = BigdlParity.bits((Tensor) ours.getParameters()._1());
        String weights = BigdlParity.mismatch(a, b, true, new double[a.length], 0);
        if (weights != null) {
            failures++;
            System.out.println("FAIL weights after training: " + weights);
        }
        if (!(last < first * 0.5f)) {
            failures++;
            System.out.println("FAIL the loss did not halve: " + first + " -> " + last);
        }
        theirs.evaluate();
        ours.evaluate();
        String eval = BigdlParity.mismatch(BigdlParity.bits((Tensor) theirs.forward(input)),
                BigdlParity.bits((Tensor) ours.forward(input)), true, new double[batch], 0);
        if (eval != null) {
            failures++;
            System.out.println("FAIL evaluation output: " + eval);
        }
        System.out.println("trained " + steps + " SGD steps with BigDL's Dropout and with"
                + " dropkit's (DropkitModule): loss " + first + " -> " + last + ", equal at every"
                + " step and in the weights: " + (failures == 0));
        System.out.println((4 - failures) + " passed, " + failures + " failed");
        if (failures > 0) {
            System.exit(1);
        }
    }
}
