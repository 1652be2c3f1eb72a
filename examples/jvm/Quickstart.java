import dropkit.Dropkit;
import dropkit.Dropout;
import dropkit.GaussianDropout;
import dropkit.GaussianNoise;
import dropkit.Generator;
import dropkit.SpatialDropout1D;
import dropkit.SpatialDropout2D;
import dropkit.SpatialDropout3D;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The examples of BigDL's documentation of the six layers (Scala API), run twice: first with
 * the BigDL-compatible generator seeded as the documentation seeds it (100 where it does
 * not), then with dropkit's default Philox generator. The same steps and output as the Rust
 * quickstart (crates/dropkit/examples/quickstart.rs, {@code make demo}).
 *
 * <p>Run with {@code make jvm-demo}.
 */
public final class Quickstart {
    private final PrintStream out;

    Quickstart(PrintStream out) {
        this.out = out;
    }

    /** Prints a tensor as BigDL's DenseTensor.toString: 2-D slices under (i,j,.,.) heads. */
    private void print(String type, Object data, int[] shape) {
        List<String> values = new ArrayList<>();
        if (data instanceof float[]) {
            for (float v : (float[]) data) {
                values.add(Float.toString(v));
            }
        } else {
            for (double v : (double[]) data) {
                values.add(Double.toString(v));
            }
        }
        int rank = shape.length;
        if (rank == 1) {
            out.println(String.join(" ", values));
        } else if (rank >= 2) {
            int rows = shape[rank - 2];
            int cols = shape[rank - 1];
            int outer = 1;
            for (int k = 0; k < rank - 2; k++) {
                outer *= shape[k];
            }
            for (int o = 0; o < outer; o++) {
                if (rank > 2) {
                    int[] idx = new int[rank - 2];
                    int rest = o;
                    for (int k = rank - 3; k >= 0; k--) {
                        idx[k] = rest % shape[k] + 1;
                        rest /= shape[k];
                    }
                    StringBuilder head = new StringBuilder("(");
                    for (int k = 0; k < idx.length; k++) {
                        head.append(idx[k]).append(',');
                    }
                    out.println(head.append(".,.) =").toString());
                }
                for (int r = 0; r < rows; r++) {
                    int start = (o * rows + r) * cols;
                    out.println(String.join(" ", values.subList(start, start + cols)));
                }
                if (rank > 2) {
                    out.println();
                }
            }
        }
        StringBuilder size = new StringBuilder();
        for (int k = 0; k < rank; k++) {
            size.append(k == 0 ? "" : "x").append(shape[k]);
        }
        out.println("[com.intel.analytics.bigdl.tensor.DenseTensor[" + type + "] of size "
                + size + "]");
    }

    /**
     * {@code input.rand()}: BigDL's uniform fill (MT19937 word times 2^-32) from a stream
     * seeded with 1, as the Rust quickstart makes it (in the document it ran on an unseeded
     * generator, so its values cannot be reproduced; the masks that follow can).
     */
    static double[] rand(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        int[] mt = new int[624];
        mt[0] = 1;
        for (int i = 1; i < 624; i++) {
            mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        }
        double[] values = new double[n];
        int next = 624;
        for (int k = 0; k < n; k++) {
            if (next == 624) {
                for (int i = 0; i < 624; i++) {
                    int y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
                    mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908b0df : 0);
                }
                next = 0;
            }
            int y = mt[next++];
            y ^= y >>> 11;
            y ^= (y << 7) & 0x9d2c5680;
            y ^= (y << 15) & 0xefc60000;
            y ^= y >>> 18;
            values[k] = (y & 0xffffffffL) * 0x1p-32;
        }
        return values;
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static double[] ones(int n) {
        double[] a = new double[n];
        java.util.Arrays.fill(a, 1.0);
        return a;
    }

    /** One half of the quickstart: every example with the generator {@code kind}. */
    void run(Generator kind) {
        out.println("=== Dropout (Scala example; seed 100)");
        Dropkit.setSeed(100, kind);
        try (Dropout module = new Dropout(0.5)) {
            int[] shape = {2, 4};
            float[] x = {1, 2, 3, 4, 5, 6, 7, 8};
            float[] half = new float[8];
            for (int i = 0; i < 8; i++) {
                half[i] = x[i] * 0.5f;
            }
            print("Float", module.forward(x, shape), shape);
            print("Float", module.backward(x, half, shape), shape);
        }

        int[] shape = {2, 3};
        float[] input = filled(6, 1f);
        float[] gradout = filled(6, 1f);
        out.println("\n=== GaussianDropout(0.5) (seed 100)");
        Dropkit.setSeed(100, kind);
        try (GaussianDropout layer = new GaussianDropout(0.5)) {
            layer.training();
            float[] output = layer.forward(input, shape);
            float[] gradin = layer.backward(input, gradout, shape);
            print("Float", output, shape);
            print("Float", gradin, shape);
            print("Float", layer.evaluate().forward(input, shape), shape);
        }

        out.println("\n=== GaussianNoise(0.2) (seed 100)");
        Dropkit.setSeed(100, kind);
        try (GaussianNoise layer = new GaussianNoise(0.2)) {
            layer.training();
            float[] output = layer.forward(input, shape);
            float[] gradin = layer.backward(input, gradout, shape);
            print("Float", output, shape);
            print("Float", gradin, shape);
            print("Float", layer.evaluate().forward(input, shape), shape);
        }

        out.println("\n=== SpatialDropout1D[Double](0.7) on (3, 4, 5), RNG.setSeed(100)");
        try (SpatialDropout1D module = new SpatialDropout1D(0.7)) {
            int[] s = {3, 4, 5};
            double[] x = rand(s);
            Dropkit.setSeed(100, kind);
            print("Double", module.forward(x, s), s);
            print("Double", module.backward(x, ones(x.length), s), s);
        }

        out.println("\n=== SpatialDropout2D[Double](0.7) on (2, 3, 4, 5), RNG.setSeed(100)");
        try (SpatialDropout2D module = new SpatialDropout2D(0.7)) {
            int[] s = {2, 3, 4, 5};
            double[] x = rand(s);
            Dropkit.setSeed(100, kind);
            print("Double", module.forward(x, s), s);
            print("Double", module.backward(x, ones(x.length), s), s);
        }

        out.println("\n=== SpatialDropout3D[Double](0.7) on (2, 3, 2, 2, 3), RNG.setSeed(100)");
        try (SpatialDropout3D module = new SpatialDropout3D(0.7)) {
            int[] s = {2, 3, 2, 2, 3};
            double[] x = rand(s);
            Dropkit.setSeed(100, kind);
            print("Double", module.forward(x, s), s);
            print("Double", module.backward(x, ones(x.length), s), s);
            module.evaluate();
            out.println("evaluate: x * (1 - p)");
            print("Double", module.forward(x, s), s);
        }
    }

    /** Both halves, as the Rust quickstart prints them. */
    void runBoth() {
        out.println("##### BigDL-compatible generator (MT19937, as BigDL's RNG.setSeed)\n");
        run(Generator.BIGDL);
        out.println("\n##### Philox4x32-10 generator (dropkit's default)\n");
        run(Generator.PHILOX);
    }

    public static void main(String[] args) {
        new Quickstart(System.out).runBoth();
    }
}
