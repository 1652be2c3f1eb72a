import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule;
import com.intel.analytics.bigdl.dllib.nn.abstractnn.DataFormat$;
import com.intel.analytics.bigdl.dllib.tensor.Tensor;
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator$;
import dropkit.Dropout;
import dropkit.GaussianDropout;
import dropkit.GaussianNoise;
import dropkit.Generator;
import dropkit.Layer;
import dropkit.SpatialDropout2D;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * `make bench-jvm`: dropkit's JVM layers against BigDL 2.4's own on 16M floats in one JVM,
 * each as the median of repeated calls, and as a ratio to System.arraycopy of the same
 * array measured in the same run (ratio 1.0 = copy speed; lower is faster than BigDL).
 * Training mode; backward is timed after a forward (each differentiates its last forward).
 * dropkit writes into preallocated arrays (forwardInto / backwardInto), BigDL into its
 * module's own output tensor, as in a model. BigDL runs with its defaults (no Engine.init:
 * one thread, the caller's); dropkit on all cores unless RAYON_NUM_THREADS says otherwise.
 */
public final class BigdlBench {
    private BigdlBench() {}

    interface Call {
        void run();
    }

    static int repeats = 7;

    /** Median seconds of {@code repeats} calls after one warm-up call. */
    static double median(Call call) {
        call.run();
        double[] t = new double[repeats];
        for (int r = 0; r < repeats; r++) {
            long start = System.nanoTime();
            call.run();
            t[r] = (System.nanoTime() - start) * 1e-9;
        }
        Arrays.sort(t);
        return t[repeats / 2];
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    public static void main(String[] args) {
        int n = 1 << 24;
        if (args.length > 0) {
            repeats = Integer.parseInt(args[0]);
        }
        int[] shape = {4096, 4096};
        int[] shape4 = {16, 256, 64, 64};
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.sin(i * 0.001);
        }
        float[] g = x.clone();
        float[] out = new float[n];
        float[] grad = new float[n];
        double copy = median(() -> System.arraycopy(x, 0, out, 0, n));
        System.out.printf("%d floats (%d MiB); System.arraycopy: %.2f ms (%.1f GB/s read+write);"
                + " median of %d; dropkit threads: RAYON_NUM_THREADS=%s%n", n, n * 4 >> 20,
                copy * 1e3, 8.0 * n / copy / 1e9, repeats,
                System.getenv().getOrDefault("RAYON_NUM_THREADS", "all cores"));
        System.out.printf("%-38s %12s %9s %12s %9s %9s%n", "layer, pass", "dropkit ms", "x copy",
                "BigDL ms", "x copy", "speed-up");

        Tensor tx = BigdlParity.tensor(x, shape, true);
        Tensor tg = BigdlParity.tensor(g, shape, true);
        Tensor tx4 = BigdlParity.tensor(x, shape4, true);
        Tensor tg4 = BigdlParity.tensor(g, shape4, true);
        Object[][] rows = {
            {"Dropout(0.5)", new Dropout(0.5),
                new com.intel.analytics.bigdl.dllib.nn.Dropout<>(0.5, false, true,
                        BigdlParity.FLOAT, BigdlParity.NF), shape, tx, tg},
            {"GaussianDropout(0.5)", new GaussianDropout(0.5),
                new com.intel.analytics.bigdl.dllib.nn.GaussianDropout<>(0.5,
                        BigdlParity.FLOAT, BigdlParity.NF), shape, tx, tg},
            {"GaussianNoise(0.5)", new GaussianNoise(0.5),
                new com.intel.analytics.bigdl.dllib.nn.GaussianNoise<>(0.5,
                        BigdlParity.FLOAT, BigdlParity.NF), shape, tx, tg},
            {"SpatialDropout2D(0.5)", new SpatialDropout2D(0.5, "NCHW"),
                new com.intel.analytics.bigdl.dllib.nn.SpatialDropout2D<>(0.5,
                        DataFormat$.MODULE$.apply("NCHW"), BigdlParity.FLOAT, BigdlParity.NF),
                shape4, tx4, tg4},
        };
        for (Object[] row : rows) {
            for (Generator gen : Generator.values()) {
                Layer<?> ours = (Layer<?>) row[1];
                AbstractModule big = (AbstractModule) row[2];
                int[] s = (int[]) row[3];
                Tensor bx = (Tensor) row[4];
                Tensor bg = (Tensor) row[5];
                ours.setSeed(1, gen);
                RandomGenerator$.MODULE$.RNG().setSeed(1);
                double of = median(() -> ours.forwardInto(x, out, s));
                // A backward differentiates the last forward: repeated, it redoes the same work.
                double ob = median(() -> ours.backwardInto(x, g, grad, s));
                String name = row[0] + " " + gen;
                if (gen == Generator.PHILOX) {
                    double bf = median(() -> big.forward(bx));
                    double bb = median(() -> big.backward(bx, bg));
                    line(name + " forward", of, bf, copy);
                    line(name + " backward", ob, bb, copy);
                } else {
                    line(name + " forward", of, Double.NaN, copy);
                    line(name + " backward", ob, Double.NaN, copy);
                }
            }
            ((Layer<?>) row[1]).close();
        }

        FloatBuffer bin = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(x);
        bin.flip();
        FloatBuffer bout = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        try (Dropout d = new Dropout(0.5).setSeed(1, Generator.PHILOX)) {
            double t = median(() -> d.forwardInto(bin, bout, shape));
            line("Dropout(0.5) PHILOX, direct buffers", t, Double.NaN, copy);
        }
    }

    static void line(String name, double ours, double bigdl, double copy) {
        if (Double.isNaN(bigdl)) {
            System.out.printf("%-38s %12.2f %9.2f %12s %9s %9s%n", name, ours * 1e3, ours / copy,
                    "", "", "");
        } else {
            System.out.printf("%-38s %12.2f %9.2f %12.2f %9.2f %8.1fx%n", name, ours * 1e3,
                    ours / copy, bigdl * 1e3, bigdl / copy, bigdl / ours);
        }
    }
}
