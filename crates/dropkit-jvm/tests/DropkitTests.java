import static java.nio.charset.StandardCharsets.UTF_8;

import dropkit.AlphaDropout;
import dropkit.Dropkit;
import dropkit.Dropout;
import dropkit.FeatureAlphaDropout;
import dropkit.GaussianDropout;
import dropkit.GaussianNoise;
import dropkit.Generator;
import dropkit.Layer;
import dropkit.SpatialDropout1D;
import dropkit.SpatialDropout2D;
import dropkit.SpatialDropout3D;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * The Java API's tests (`make test-jvm`): the quickstart against the Rust quickstart, every
 * bad argument, shapes, buffers, in place, threads, close.
 */
public final class DropkitTests {
    private DropkitTests() {}

    /** Run in a child JVM told it is another platform: prints what loading threw. */
    static final class OtherPlatform {
        public static void main(String[] args) {
            try (Dropout d = new Dropout()) {
                System.out.println("loaded " + d);
            } catch (UnsatisfiedLinkError e) {
                System.out.println("UnsatisfiedLinkError " + e.getMessage());
            }
        }
    }

    // ---- helpers

    static float[] iota(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = i + 1;
        }
        return a;
    }

    static double[] iotaD(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = i + 1;
        }
        return a;
    }

    static FloatBuffer directF(int n) {
        return ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    static DoubleBuffer directD(int n) {
        return ByteBuffer.allocateDirect(8 * n).order(ByteOrder.nativeOrder()).asDoubleBuffer();
    }

    static float[] toArray(FloatBuffer b, int from, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = b.get(from + i);
        }
        return a;
    }

    /** Every layer with a drop probability / rate of 0.5. */
    static Map<String, Supplier<Layer<?>>> layers() {
        Map<String, Supplier<Layer<?>>> m = new LinkedHashMap<>();
        m.put("Dropout", () -> new Dropout(0.5));
        m.put("GaussianDropout", () -> new GaussianDropout(0.5));
        m.put("GaussianNoise", () -> new GaussianNoise(0.5));
        m.put("SpatialDropout1D", () -> new SpatialDropout1D(0.5));
        m.put("SpatialDropout2D", () -> new SpatialDropout2D(0.5, "NCHW"));
        m.put("SpatialDropout3D", () -> new SpatialDropout3D(0.5, "NHWC"));
        m.put("AlphaDropout", () -> new AlphaDropout(0.5));
        m.put("FeatureAlphaDropout", () -> new FeatureAlphaDropout(0.5, "channels_last"));
        return m;
    }

    /** A shape each layer takes: rank 3 for 1D, 4 for 2D, 5 for 3D (and for the others). */
    static int[] shapeFor(String name) {
        if (name.equals("SpatialDropout1D")) {
            return new int[] {4, 16, 8};
        }
        if (name.equals("SpatialDropout2D")) {
            return new int[] {4, 8, 4, 4};
        }
        return new int[] {2, 4, 2, 4, 8};
    }

    static int count(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    // ---- the quickstart against the Rust quickstart

    /** The tensors each "=== Title" section prints, flattened in print order. */
    static Map<String, List<List<Double>>> sections(String text) {
        Map<String, List<List<Double>>> result = new LinkedHashMap<>();
        String[] chunks = text.split("\n=== ");
        for (String chunk : Arrays.asList(chunks).subList(1, chunks.length)) {
            int eol = chunk.indexOf('\n');
            String title = chunk.substring(0, eol).split(" ")[0];
            List<List<Double>> tensors = new ArrayList<>();
            List<Double> current = new ArrayList<>();
            for (String line : chunk.substring(eol + 1).split("\n")) {
                if (line.startsWith("[com.intel.analytics.bigdl.tensor.DenseTensor")) {
                    tensors.add(current);
                    current = new ArrayList<>();
                } else if (!line.isEmpty() && line.matches("[-+0-9.eE ]+")) {
                    for (String v : line.trim().split(" +")) {
                        current.add(Double.parseDouble(v));
                    }
                }
            }
            result.put(title, tensors);
        }
        return result;
    }

    static String rustQuickstart() throws Exception {
        String cargo = System.getenv().getOrDefault("CARGO", "cargo");
        ProcessBuilder pb = new ProcessBuilder(
                cargo, "run", "--quiet", "--release", "--example", "quickstart");
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p = pb.start();
        byte[] out;
        try (InputStream in = p.getInputStream()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            for (int n; (n = in.read(chunk)) > 0; ) {
                buf.write(chunk, 0, n);
            }
            out = buf.toByteArray();
        }
        Check.check(p.waitFor() == 0, "cargo run --example quickstart failed");
        return new String(out, UTF_8);
    }

    static void compareQuickstarts(Check t) throws Exception {
        String rust = rustQuickstart();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        new Quickstart(new PrintStream(buf, true, "UTF-8")).runBoth();
        String java = new String(buf.toByteArray(), UTF_8);
        String[] rustHalves = rust.split("##### Philox");
        String[] javaHalves = java.split("##### Philox");
        String[] names = {"BigDL", "Philox"};
        for (int h = 0; h < 2; h++) {
            Map<String, List<List<Double>>> r = sections(rustHalves[h]);
            Map<String, List<List<Double>>> j = sections(javaHalves[h]);
            int half = h;
            t.test("quickstart " + names[h] + ": the same sections as the Rust quickstart", () ->
                    Check.check(r.keySet().equals(j.keySet()) && r.size() == 6,
                            r.keySet() + " vs " + j.keySet()));
            for (String title : r.keySet()) {
                t.test("quickstart " + names[half] + " " + title + " = Rust, bit for bit", () -> {
                    List<List<Double>> rt = r.get(title);
                    List<List<Double>> jt = j.get(title);
                    Check.check(jt != null && rt.size() == jt.size() && !rt.isEmpty(),
                            "tensor counts");
                    boolean single = !title.contains("[Double]");
                    for (int k = 0; k < rt.size(); k++) {
                        Check.check(rt.get(k).size() == jt.get(k).size(), "tensor " + k + " size");
                        for (int i = 0; i < rt.get(k).size(); i++) {
                            double a = rt.get(k).get(i);
                            double b = jt.get(k).get(i);
                            boolean eq = single ? Float.floatToRawIntBits((float) a)
                                    == Float.floatToRawIntBits((float) b)
                                    : Double.doubleToRawLongBits(a) == Double.doubleToRawLongBits(b);
                            Check.check(eq, "tensor " + k + " element " + i + ": " + a + " vs " + b);
                        }
                    }
                });
            }
        }
        t.test("quickstart BigDL Dropout prints the documented mask", () -> {
            List<Double> out = sections(javaHalves[0]).get("Dropout").get(0);
            Check.check(out.equals(Arrays.asList(0.0, 0.0, 6.0, 8.0, 10.0, 0.0, 0.0, 16.0)),
                    out.toString());
        });
    }

    // ---- the alpha layers and noise shapes against the Rust layers
    // (crates/dropkit-jvm/examples/jvm_reference.rs)

    /** {@code <case> <generator> <type> <pass>} to the bits of each element, as Rust printed. */
    static Map<String, long[]> rustReference() throws Exception {
        String cargo = System.getenv().getOrDefault("CARGO", "cargo");
        ProcessBuilder pb = new ProcessBuilder(cargo, "run", "--quiet", "--release",
                "-p", "dropkit-jvm", "--example", "jvm_reference");
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p = pb.start();
        String text;
        try (InputStream in = p.getInputStream()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            byte[] chunk = new byte[8192];
            for (int n; (n = in.read(chunk)) > 0; ) {
                buf.write(chunk, 0, n);
            }
            text = new String(buf.toByteArray(), UTF_8);
        }
        Check.check(p.waitFor() == 0, "cargo run --example jvm_reference failed");
        Map<String, long[]> m = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            String[] w = line.trim().split(" ");
            if (w.length < 4) {
                continue;
            }
            long[] bits = new long[w.length - 4];
            for (int i = 0; i < bits.length; i++) {
                bits[i] = Long.parseUnsignedLong(w[4 + i], 16);
            }
            m.put(w[0] + " " + w[1] + " " + w[2] + " " + w[3], bits);
        }
        return m;
    }

    /** The Java layer of a reference case (as the Rust example builds it). */
    static Layer<?> referenceLayer(String name) {
        switch (name) {
            case "AlphaDropout":
                return new AlphaDropout(0.3);
            case "FeatureAlphaDropout_NCHW":
                return new FeatureAlphaDropout(0.3, "NCHW");
            case "FeatureAlphaDropout_channels_last":
                return new FeatureAlphaDropout(0.3, "channels_last");
            case "Dropout_noise_shape":
                return new Dropout(0.4, false, true, new int[] {-1, 1, -1});
            case "GaussianDropout_noise_shape":
                return new GaussianDropout(0.3, new int[] {1, -1});
            default:
                return new GaussianNoise(0.5, new int[] {-1, 1});
        }
    }

    static void checkBits(Map<String, long[]> rust, String key, float[] got) {
        long[] want = rust.get(key);
        Check.check(want != null && want.length == got.length, key + ": lengths");
        for (int i = 0; i < got.length; i++) {
            long bits = Float.floatToRawIntBits(got[i]) & 0xffffffffL;
            Check.check(bits == want[i], key + " element " + i + ": " + got[i] + " vs "
                    + Float.intBitsToFloat((int) want[i]));
        }
    }

    static void checkBits(Map<String, long[]> rust, String key, double[] got) {
        long[] want = rust.get(key);
        Check.check(want != null && want.length == got.length, key + ": lengths");
        for (int i = 0; i < got.length; i++) {
            Check.check(Double.doubleToRawLongBits(got[i]) == want[i], key + " element " + i
                    + ": " + got[i] + " vs " + Double.longBitsToDouble(want[i]));
        }
    }

    static void compareAlphaLayers(Check t) throws Exception {
        Map<String, long[]> rust = rustReference();
        String[][] cases = {
            {"AlphaDropout", "4", "33"},
            {"FeatureAlphaDropout_NCHW", "3", "6", "2", "5"},
            {"FeatureAlphaDropout_channels_last", "3", "2", "5", "6"},
            {"Dropout_noise_shape", "3", "4", "5"},
            {"GaussianDropout_noise_shape", "4", "6"},
            {"GaussianNoise_noise_shape", "4", "6"},
        };
        t.test("the reference has every case: 6 layers x 2 generators x 2 types x 4 passes",
                () -> Check.check(rust.size() == 96, rust.size() + " lines"));
        for (String[] c : cases) {
            int[] shape = new int[c.length - 1];
            for (int i = 1; i < c.length; i++) {
                shape[i - 1] = Integer.parseInt(c[i]);
            }
            int n = count(shape);
            for (Generator g : Generator.values()) {
                String key = c[0] + " " + g;
                t.test(key + ": forward, backward, next draw, evaluation = Rust, bit for bit",
                        () -> {
                    float[] x = new float[n];
                    float[] grad = new float[n];
                    double[] xd = new double[n];
                    double[] gradD = new double[n];
                    for (int i = 0; i < n; i++) {
                        x[i] = (i + 1) / 4f - 4f;
                        grad[i] = 1f + i / 2f;
                        xd[i] = (i + 1) / 4.0 - 4.0;
                        gradD[i] = 1.0 + i / 2.0;
                    }
                    try (Layer<?> l = referenceLayer(c[0]).setSeed(2024, g)) {
                        checkBits(rust, key + " float forward", l.forward(x, shape));
                        checkBits(rust, key + " float backward", l.backward(x, grad, shape));
                        checkBits(rust, key + " float forward2", l.forward(x, shape));
                        checkBits(rust, key + " float evaluate", l.evaluate().forward(x, shape));
                    }
                    try (Layer<?> l = referenceLayer(c[0]).setSeed(2024, g)) {
                        checkBits(rust, key + " double forward", l.forward(xd, shape));
                        checkBits(rust, key + " double backward", l.backward(xd, gradD, shape));
                        checkBits(rust, key + " double forward2", l.forward(xd, shape));
                        checkBits(rust, key + " double evaluate",
                                l.evaluate().forward(xd, shape));
                    }
                });
            }
        }
    }

    // ---- the tests

    public static void main(String[] args) throws Exception {
        Check t = new Check();
        boolean withRust = !Arrays.asList(args).contains("--no-rust");
        if (withRust) {
            compareQuickstarts(t);
            compareAlphaLayers(t);
        } else {
            System.out.println("skip the quickstart comparison (--no-rust)");
        }

        t.test("Dropout defaults are BigDL's: 0.5, not in place, scaled", () -> {
            try (Dropout d = new Dropout()) {
                Check.check(!d.isInplace() && d.isTraining(), "flags");
                Check.check(d.toString().contains("init_p=0.5"), d.toString());
                Check.check(d.toString().contains("scale=True"), d.toString());
            }
            try (Dropout d = new Dropout(0.25)) {
                Check.check(d.toString().contains("init_p=0.25"), d.toString());
            }
            try (SpatialDropout1D s = new SpatialDropout1D();
                    SpatialDropout2D s2 = new SpatialDropout2D();
                    SpatialDropout3D s3 = new SpatialDropout3D(0.5)) {
                Check.check(s.toString().contains("init_p=0.5"), s.toString());
                Check.check(s2.toString().contains("NCHW"), s2.toString());
                Check.check(s3.toString().contains("NCHW"), s3.toString());
            }
        });

        t.test("seeded layers equal the default generator seeded alike, both generators", () -> {
            for (Generator g : Generator.values()) {
                for (Map.Entry<String, Supplier<Layer<?>>> e : layers().entrySet()) {
                    int[] shape = shapeFor(e.getKey());
                    float[] x = iota(count(shape));
                    Dropkit.setSeed(42, g);
                    float[] viaDefault;
                    try (Layer<?> l = e.getValue().get()) {
                        viaDefault = l.forward(x, shape);
                    }
                    try (Layer<?> l = e.getValue().get()) {
                        Dropkit.setSeed(7, g);
                        float[] own = l.setSeed(42, g).forward(x, shape);
                        Check.same(own, viaDefault, e.getKey() + " " + g);
                    }
                }
            }
        });

        t.test("Dropkit.setSeed(long) is Philox", () -> {
            float[] x = iota(64);
            int[] shape = {64};
            Dropkit.setSeed(5);
            float[] a;
            try (Dropout d = new Dropout()) {
                a = d.forward(x, shape);
            }
            try (Dropout d = new Dropout()) {
                Check.same(d.setSeed(5, Generator.PHILOX).forward(x, shape), a, "philox");
            }
        });

        t.test("the layer's draws advance: two forwards differ, a reseed repeats", () -> {
            float[] x = iota(256);
            int[] shape = {256};
            try (Dropout d = new Dropout().setSeed(3, Generator.BIGDL)) {
                float[] a = d.forward(x, shape);
                float[] b = d.forward(x, shape);
                Check.check(!Arrays.equals(a, b), "the second draw equals the first");
                d.setSeed(3, Generator.BIGDL);
                Check.same(d.forward(x, shape), a, "reseeded");
            }
        });

        t.test("float and double draw the same masks", () -> {
            for (Generator g : Generator.values()) {
                for (Map.Entry<String, Supplier<Layer<?>>> e : layers().entrySet()) {
                    // The alpha layers set a dropped element to a non-zero value: the Rust
                    // reference comparison covers their masks in both types.
                    if (e.getKey().startsWith("Gaussian") || e.getKey().contains("Alpha")) {
                        continue;
                    }
                    int[] shape = shapeFor(e.getKey());
                    int n = count(shape);
                    try (Layer<?> a = e.getValue().get(); Layer<?> b = e.getValue().get()) {
                        float[] f = a.setSeed(9, g).forward(iota(n), shape);
                        double[] d = b.setSeed(9, g).forward(iotaD(n), shape);
                        for (int i = 0; i < n; i++) {
                            Check.check((f[i] == 0) == (d[i] == 0), e.getKey() + " " + i);
                        }
                    }
                }
            }
        });

        t.test("Dropout: kept x / (1 - p), dropped 0; backward the same mask; evaluation", () -> {
            int n = 1000;
            float[] x = iota(n);
            float[] g = new float[n];
            Arrays.fill(g, 1f);
            try (Dropout d = new Dropout(0.25).setSeed(1, Generator.BIGDL)) {
                float[] y = d.forward(x, new int[] {10, 100});
                float[] gi = d.backward(x, g, new int[] {10, 100});
                int kept = 0;
                for (int i = 0; i < n; i++) {
                    boolean k = y[i] != 0;
                    kept += k ? 1 : 0;
                    Check.check(!k || y[i] == x[i] / 0.75f, "kept value " + i);
                    Check.check(k ? gi[i] == 1f / 0.75f : gi[i] == 0, "gradient " + i);
                }
                Check.check(kept > 650 && kept < 850, "kept " + kept + " of 1000 at p = 0.25");
                Check.check(!d.evaluate().isTraining(), "evaluate");
                Check.same(d.forward(x, new int[] {n}), x, "evaluation is the identity");
                Check.check(d.training().isTraining(), "training");
            }
            try (Dropout d = new Dropout(0.25, false, false).evaluate()) {
                float[] y = d.forward(x, new int[] {n});
                for (int i = 0; i < n; i++) {
                    Check.check(y[i] == x[i] * 0.75f, "unscaled evaluation " + i);
                }
            }
        });

        t.test("SpatialDropout1D channels first (NCHW) is channels last transposed", () -> {
            int n = 3;
            int c = 5;
            int l = 4;
            float[] last = new float[n * l * c];
            float[] first = new float[n * c * l];
            for (int b = 0; b < n; b++) {
                for (int ch = 0; ch < c; ch++) {
                    for (int step = 0; step < l; step++) {
                        float v = 1 + b * 100 + ch * 10 + step;
                        last[(b * l + step) * c + ch] = v;
                        first[(b * c + ch) * l + step] = v;
                    }
                }
            }
            try (SpatialDropout1D a = new SpatialDropout1D(0.5).setSeed(8, Generator.BIGDL);
                    SpatialDropout1D b = new SpatialDropout1D(0.5, "NCHW")
                            .setSeed(8, Generator.BIGDL)) {
                float[] ya = a.forward(last, new int[] {n, l, c});
                float[] yb = b.forward(first, new int[] {n, c, l});
                for (int bb = 0; bb < n; bb++) {
                    for (int ch = 0; ch < c; ch++) {
                        for (int step = 0; step < l; step++) {
                            Check.check(ya[(bb * l + step) * c + ch] == yb[(bb * c + ch) * l + step],
                                    "sample " + bb + " channel " + ch + " step " + step);
                        }
                    }
                }
            }
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new SpatialDropout1D(0.5, "NCW"), "NCW");
        });

        t.test("chaining methods return the layer itself", () -> {
            try (Dropout d = new Dropout()) {
                Check.check(d.setSeed(1, Generator.PHILOX) == d, "setSeed");
                Check.check(d.training() == d && d.evaluate() == d, "modes");
            }
        });

        // ---- bad arguments: the exception names the parameter and the value

        t.test("bad probabilities, rates, stddevs and formats", () -> {
            Check.expectMessage(IllegalArgumentException.class, () -> new Dropout(1.5),
                    "init_p", "1.5");
            Check.expectMessage(IllegalArgumentException.class, () -> new Dropout(-0.1),
                    "init_p", "-0.1");
            Check.expectMessage(IllegalArgumentException.class, () -> new Dropout(Double.NaN),
                    "init_p", "NaN");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new GaussianDropout(1.0), "rate", "1");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new GaussianDropout(-2), "rate", "-2");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new GaussianNoise(-1), "stddev", "-1");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new GaussianNoise(Double.POSITIVE_INFINITY), "stddev", "inf");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new SpatialDropout1D(2), "init_p", "2");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new SpatialDropout2D(0.5, "NWHC"), "NWHC", "NCHW");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new SpatialDropout3D(-1, "NCHW"), "init_p", "-1");
            Check.expectMessage(NullPointerException.class,
                    () -> new SpatialDropout2D(0.5, null), "format");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new AlphaDropout(1.5), "p", "1.5");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new AlphaDropout(Double.NaN), "p", "NaN");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new FeatureAlphaDropout(-0.5), "p", "-0.5");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new FeatureAlphaDropout(0.5, "NWHC"), "NWHC", "NCHW");
            Check.expectMessage(NullPointerException.class,
                    () -> new FeatureAlphaDropout(0.5, null), "format");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new Dropout(0.5, false, true, new int[] {-1, -2}), "noiseShape[1]",
                    "-2");
            Check.expectMessage(IllegalArgumentException.class,
                    () -> new GaussianDropout(0.5, new int[] {0, 3}), "noise_shape", "0");
            Check.expectMessage(NullPointerException.class,
                    () -> new GaussianNoise(0.5, null), "noiseShape");
        });

        t.test("noise shapes: shared draws along size-1 axes; a wrong one fails at forward",
                () -> {
            int[] shape = {6, 16};
            int n = count(shape);
            for (Generator g : Generator.values()) {
                try (Dropout d = new Dropout(0.5, false, true, new int[] {-1, 1}).setSeed(2, g)) {
                    float[] y = d.forward(iota(n), shape);
                    for (int r = 0; r < 6; r++) {
                        boolean dropped = y[r * 16] == 0;
                        for (int c = 0; c < 16; c++) {
                            Check.check((y[r * 16 + c] == 0) == dropped, g + " row " + r);
                        }
                    }
                    Check.check(d.toString().contains("noise_shape"), d.toString());
                }
                try (GaussianNoise e = new GaussianNoise(1, new int[] {1, -1}).setSeed(2, g)) {
                    float[] y = e.forward(new float[n], shape);
                    for (int i = 16; i < n; i++) {
                        Check.check(y[i] == y[i % 16], g + " column " + (i % 16));
                    }
                }
            }
            try (Dropout d = new Dropout(0.5, false, true, new int[] {-1, 3})) {
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forward(iota(n), shape), "noise_shape");
            }
        });

        t.test("AlphaDropout: kept a x + b, dropped a alpha' + b; backward a or 0; p = 1", () -> {
            double p = 0.2;
            double alpha = -1.7580993408473766;
            double a = 1 / Math.sqrt((1 - p) * (1 + p * alpha * alpha));
            double b = -a * alpha * p;
            int n = 2000;
            double[] x = iotaD(n);
            double[] ones = new double[n];
            Arrays.fill(ones, 1.0);
            // The formula to a relative 1e-12 here (the bits are checked against Rust above).
            try (AlphaDropout d = new AlphaDropout(p).setSeed(6, Generator.PHILOX)) {
                double[] y = d.forward(x, new int[] {n});
                double[] gi = d.backward(x, ones, new int[] {n});
                int kept = 0;
                for (int i = 0; i < n; i++) {
                    boolean k = gi[i] != 0;
                    kept += k ? 1 : 0;
                    double want = k ? a * x[i] + b : a * alpha + b;
                    Check.check(Math.abs(y[i] - want) <= 1e-12 * Math.abs(want),
                            "value " + i + ": " + y[i] + " vs " + want);
                    Check.check(gi[i] == 0 || Math.abs(gi[i] - a) <= 1e-12 * a, "gradient " + i);
                }
                // 2000 draws at keep 0.8: mean 1600, sd 17.9; 6 sd either side.
                Check.check(kept > 1492 && kept < 1708, "kept " + kept + " of 2000");
                Check.same(d.evaluate().forward(x, new int[] {n}), x, "evaluation");
            }
            try (AlphaDropout d = new AlphaDropout(1.0)) {
                double[] y = d.forward(new double[] {1, Double.NaN, -3}, new int[] {3});
                Check.same(y, new double[] {0, 0, 0}, "p = 1: all zeros");
            }
        });

        t.test("FeatureAlphaDropout keeps SpatialDropout2D's channels; rank >= 2 in both modes",
                () -> {
            int[] shape = {3, 8, 2, 2};
            int n = count(shape);
            for (Generator g : Generator.values()) {
                try (FeatureAlphaDropout f = new FeatureAlphaDropout(0.5).setSeed(3, g);
                        SpatialDropout2D s = new SpatialDropout2D(0.5).setSeed(3, g)) {
                    float[] yf = f.forward(iota(n), shape);
                    float[] ys = s.forward(iota(n), shape);
                    for (int i = 0; i < n; i++) {
                        Check.check((ys[i] == 0) == (yf[i] < 0), g + " element " + i);
                    }
                }
            }
            try (FeatureAlphaDropout f = new FeatureAlphaDropout()) {
                Check.check(f.toString().contains("NCHW"), f.toString());
                Check.expectMessage(IllegalArgumentException.class,
                        () -> f.forward(iota(8), new int[] {8}), "FeatureAlphaDropout", "rank");
                f.evaluate();
                Check.expectMessage(IllegalArgumentException.class,
                        () -> f.forward(iota(8), new int[] {8}), "FeatureAlphaDropout", "rank");
            }
        });

        t.test("bad shapes: negative, mismatched, wrong rank, backward before forward", () -> {
            try (Dropout d = new Dropout()) {
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forward(iota(8), new int[] {2, -4}), "shape[1]", "-4");
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forward(iota(8), new int[] {3, 4}), "input", "(3, 4)");
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(iota(8), new float[7], new int[] {8}), "7");
                Check.expectMessage(IllegalStateException.class,
                        () -> d.backward(iota(8), iota(8), new int[] {8}), "forward");
                d.forward(iota(8), new int[] {8});
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.backward(iota(8), iota(8), new int[] {2, 4}), "(2, 4)");
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.backward(iota(9), iota(8), new int[] {8}), "input", "9");
                Check.expectMessage(NullPointerException.class,
                        () -> d.forward((float[]) null, new int[] {8}), "input");
                Check.expectMessage(NullPointerException.class,
                        () -> d.forward(iota(8), null), "shape");
                Check.expectMessage(NullPointerException.class,
                        () -> d.setSeed(1, null), "generator");
            }
            try (SpatialDropout2D s = new SpatialDropout2D(0.5, "NCHW")) {
                Check.expectMessage(IllegalArgumentException.class,
                        () -> s.forward(iota(8), new int[] {2, 4}), "SpatialDropout2D", "rank");
            }
            try (SpatialDropout1D s = new SpatialDropout1D()) {
                Check.expectMessage(IllegalArgumentException.class,
                        () -> s.forward(iota(16), new int[] {2, 2, 2, 2}), "rank");
            }
        });

        t.test("bad buffers: heap, byte order, read-only, partial overlap, position", () -> {
            try (Dropout d = new Dropout()) {
                int[] shape = {8};
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(FloatBuffer.allocate(8), directF(8), shape),
                        "input", "heap");
                FloatBuffer swapped = ByteBuffer.allocateDirect(32)
                        .order(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN
                                ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)
                        .asFloatBuffer();
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(directF(8), swapped, shape), "output", "order");
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(directF(8), directF(8).asReadOnlyBuffer(), shape),
                        "output", "read-only");
                FloatBuffer whole = directF(12);
                FloatBuffer a = whole.duplicate().position(0).limit(8);
                FloatBuffer b = whole.duplicate().position(4).limit(12);
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(a, b, shape), "overlap");
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(directF(8), directF(8).position(1), shape),
                        "output", "7 elements");
                ByteBuffer bytes = ByteBuffer.allocateDirect(64).order(ByteOrder.nativeOrder());
                FloatBuffer odd = bytes.position(1).slice()
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
                Check.expectMessage(IllegalArgumentException.class,
                        () -> d.forwardInto(odd, directF(odd.remaining()),
                                new int[] {odd.remaining()}), "input", "aligned");
            }
        });

        // ---- shapes

        t.test("shapes: scalar, empty, rank 1 to 5, every layer; float and double", () -> {
            for (Map.Entry<String, Supplier<Layer<?>>> e : layers().entrySet()) {
                try (Layer<?> l = e.getValue().get()) {
                    int[] shape = shapeFor(e.getKey());
                    int n = count(shape);
                    Check.check(l.forward(iota(n), shape).length == n, e.getKey());
                    Check.check(l.forward(iotaD(n), shape).length == n, e.getKey() + " double");
                    int[] empty = shape.clone();
                    empty[0] = 0;
                    Check.check(l.forward(new float[0], empty).length == 0, "empty");
                    Check.check(l.backward(new float[0], new float[0], empty).length == 0,
                            "empty backward");
                    if (!e.getKey().startsWith("Spatial")
                            && !e.getKey().startsWith("FeatureAlpha")) {
                        Check.check(l.forward(new float[] {2}, new int[0]).length == 1, "scalar");
                    }
                }
            }
        });

        // ---- caller's arrays, buffers

        t.test("forwardInto/backwardInto arrays equal forward/backward", () -> {
            for (Map.Entry<String, Supplier<Layer<?>>> e : layers().entrySet()) {
                int[] shape = shapeFor(e.getKey());
                int n = count(shape);
                float[] x = iota(n);
                float[] g = iota(n);
                try (Layer<?> a = e.getValue().get().setSeed(11, Generator.BIGDL);
                        Layer<?> b = e.getValue().get().setSeed(11, Generator.BIGDL)) {
                    float[] y = a.forward(x, shape);
                    float[] gi = a.backward(x, g, shape);
                    float[] y2 = new float[n];
                    float[] gi2 = new float[n];
                    b.forwardInto(x, y2, shape);
                    b.backwardInto(x, g, gi2, shape);
                    Check.same(y2, y, e.getKey() + " forward");
                    Check.same(gi2, gi, e.getKey() + " backward");
                }
            }
        });

        t.test("direct buffers (with positions) equal arrays, float and double", () -> {
            for (Map.Entry<String, Supplier<Layer<?>>> e : layers().entrySet()) {
                int[] shape = shapeFor(e.getKey());
                int n = count(shape);
                try (Layer<?> a = e.getValue().get().setSeed(12, Generator.PHILOX);
                        Layer<?> b = e.getValue().get().setSeed(12, Generator.PHILOX)) {
                    float[] y = a.forward(iota(n), shape);
                    float[] gi = a.backward(iota(n), iota(n), shape);
                    FloatBuffer in = directF(n + 3);
                    FloatBuffer out = directF(n + 5);
                    for (int i = 0; i < n; i++) {
                        in.put(3 + i, i + 1);
                    }
                    in.position(3);
                    out.position(5);
                    b.forwardInto(in, out, shape);
                    Check.check(in.position() == 3 && out.position() == 5, "positions moved");
                    Check.same(toArray(out, 5, n), y, e.getKey() + " forward");
                    b.backwardInto(in, in, out, shape);
                    Check.same(toArray(out, 5, n), gi, e.getKey() + " backward");

                    double[] yd = a.setSeed(13, Generator.BIGDL).forward(iotaD(n), shape);
                    DoubleBuffer ind = directD(n);
                    DoubleBuffer outd = directD(n);
                    for (int i = 0; i < n; i++) {
                        ind.put(i, i + 1);
                    }
                    b.setSeed(13, Generator.BIGDL).forwardInto(ind, outd, shape);
                    for (int i = 0; i < n; i++) {
                        Check.check(outd.get(i) == yd[i], e.getKey() + " double " + i);
                    }
                    double[] gd = a.backward(iotaD(n), iotaD(n), shape);
                    b.backwardInto(ind, ind, ind, shape); // in place on one buffer
                    for (int i = 0; i < n; i++) {
                        Check.check(ind.get(i) == gd[i], e.getKey() + " double backward " + i);
                    }
                }
            }
        });

        t.test("1M elements (the threaded kernels): buffers, arrays, in place agree", () -> {
            int n = 1 << 20;
            int[] shape = {1024, 1024};
            float[] x = iota(n);
            try (Dropout a = new Dropout(0.3).setSeed(21, Generator.PHILOX);
                    Dropout b = new Dropout(0.3).setSeed(21, Generator.PHILOX);
                    Dropout c = new Dropout(0.3).setSeed(21, Generator.PHILOX)) {
                float[] y = a.forward(x, shape);
                FloatBuffer in = directF(n).put(x);
                in.flip();
                FloatBuffer out = directF(n);
                b.forwardInto(in, out, shape);
                Check.same(toArray(out, 0, n), y, "buffer");
                float[] same = x.clone();
                c.forwardInto(same, same, shape);
                Check.same(same, y, "in place");
            }
        });

        // ---- in place

        t.test("inplace Dropout writes input on forward and gradOutput on backward", () -> {
            int[] shape = {4, 8};
            float[] x = iota(32);
            float[] expected;
            float[] expectedGrad;
            try (Dropout ref = new Dropout(0.5).setSeed(4, Generator.BIGDL)) {
                expected = ref.forward(x, shape);
                expectedGrad = ref.backward(x, iota(32), shape);
            }
            try (Dropout d = new Dropout(0.5, true, true).setSeed(4, Generator.BIGDL)) {
                Check.check(d.isInplace(), "isInplace");
                float[] input = iota(32);
                float[] y = d.forward(input, shape);
                Check.check(y == input, "forward returns its input");
                Check.same(input, expected, "input overwritten");
                float[] grad = iota(32);
                float[] gi = d.backward(input, grad, shape);
                Check.check(gi == grad, "backward returns gradOutput");
                Check.same(grad, expectedGrad, "gradOutput overwritten");
            }
            try (Dropout d = new Dropout(0.5).setSeed(4, Generator.BIGDL)) {
                float[] input = iota(32);
                d.forwardInto(input, input, shape);
                Check.same(input, expected, "forwardInto on one array");
                double[] dx = iotaD(32);
                Check.check(d.forward(dx, shape) != dx, "a layer not in place copies");
            }
        });

        // ---- threads

        t.test("threads: one layer shared by 8 threads stays consistent", () -> {
            int n = 4096;
            int[] shape = {n};
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try (Dropout d = new Dropout(0.5)) {
                List<Future<?>> jobs = new ArrayList<>();
                for (int k = 0; k < 8; k++) {
                    int seed = k;
                    jobs.add(pool.submit(() -> {
                        float[] x = iota(n);
                        for (int r = 0; r < 50; r++) {
                            float[] y = seed % 2 == 0 ? d.forward(x, shape)
                                    : d.forward(iota(n), shape);
                            for (int i = 0; i < n; i++) {
                                Check.check(y[i] == 0 || y[i] == x[i] * 2, "value");
                            }
                            d.setSeed(seed, Generator.PHILOX);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : jobs) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
        });

        t.test("threads: a layer per thread gives the sequential results", () -> {
            int n = 300000;
            int[] shape = {n};
            float[][] sequential = new float[8][];
            for (int k = 0; k < 8; k++) {
                try (Dropout d = new Dropout(0.5).setSeed(k, Generator.BIGDL)) {
                    sequential[k] = d.forward(iota(n), shape);
                }
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<float[]>> jobs = new ArrayList<>();
                for (int k = 0; k < 8; k++) {
                    int seed = k;
                    jobs.add(pool.submit(() -> {
                        try (Dropout d = new Dropout(0.5).setSeed(seed, Generator.BIGDL)) {
                            return d.forward(iota(n), shape);
                        }
                    }));
                }
                for (int k = 0; k < 8; k++) {
                    Check.same(jobs.get(k).get(), sequential[k], "thread " + k);
                }
            } finally {
                pool.shutdown();
            }
        });

        t.test("threads: close racing forwards throws IllegalStateException, never crashes", () -> {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                for (int round = 0; round < 20; round++) {
                    Dropout d = new Dropout();
                    List<Future<?>> jobs = new ArrayList<>();
                    for (int k = 0; k < 3; k++) {
                        jobs.add(pool.submit(() -> {
                            for (int r = 0; r < 100; r++) {
                                try {
                                    d.forward(iota(1024), new int[] {1024});
                                } catch (IllegalStateException closed) {
                                    return null;
                                }
                            }
                            return null;
                        }));
                    }
                    jobs.add(pool.submit(() -> {
                        d.close();
                        return null;
                    }));
                    for (Future<?> f : jobs) {
                        f.get();
                    }
                }
            } finally {
                pool.shutdown();
            }
        });

        // ---- close

        t.test("close: every method throws IllegalStateException after it; twice is fine", () -> {
            Dropout d = new Dropout();
            d.forward(iota(4), new int[] {4});
            d.close();
            d.close();
            Check.check(d.toString().equals("Dropout(closed)"), d.toString());
            Check.expectMessage(IllegalStateException.class,
                    () -> d.forward(iota(4), new int[] {4}), "Dropout", "closed");
            Check.expect(IllegalStateException.class,
                    () -> d.backward(iota(4), iota(4), new int[] {4}));
            Check.expect(IllegalStateException.class, () -> d.setSeed(1, Generator.BIGDL));
            Check.expect(IllegalStateException.class, d::training);
            Check.expect(IllegalStateException.class, d::evaluate);
            Check.expect(IllegalStateException.class, d::isTraining);
            Check.expect(IllegalStateException.class,
                    () -> d.forwardInto(directF(4), directF(4), new int[] {4}));
            Layer<?>[] kept = new Layer<?>[1];
            try (GaussianNoise g = new GaussianNoise(0.1)) {
                kept[0] = g;
            }
            Check.expect(IllegalStateException.class, () -> kept[0].forward(iota(4), new int[] {4}));
        });

        t.test("a platform the jar lacks: UnsatisfiedLinkError naming it and the jar's", () -> {
            String java = System.getProperty("java.home") + File.separator + "bin"
                    + File.separator + "java";
            Process p = new ProcessBuilder(java, "-Dos.arch=sparcv9", "-cp",
                    System.getProperty("java.class.path"), "DropkitTests$OtherPlatform")
                    .redirectErrorStream(true).start();
            String out;
            try (InputStream in = p.getInputStream()) {
                ByteArrayOutputStream buf = new ByteArrayOutputStream();
                byte[] chunk = new byte[4096];
                for (int n; (n = in.read(chunk)) > 0; ) {
                    buf.write(chunk, 0, n);
                }
                out = new String(buf.toByteArray(), UTF_8);
            }
            Check.check(p.waitFor() == 0, "the child failed: " + out);
            String built;
            try (InputStream in = DropkitTests.class.getResourceAsStream(
                    "/dropkit/native/PLATFORMS")) {
                Check.check(in != null, "the jar lists no platforms");
                byte[] b = new byte[256];
                built = new String(b, 0, Math.max(0, in.read(b)), UTF_8).trim();
            }
            Check.check(out.contains("UnsatisfiedLinkError") && out.contains("sparcv9")
                    && out.contains("it holds: " + built), out);
        });

        t.test("the jar's library loads from the jar, named by platform", () -> {
            String jar = DropkitTests.class.getProtectionDomain().getCodeSource() == null
                    ? "" : System.getProperty("java.class.path");
            Check.check(System.getProperty("dropkit.library") != null
                    || jar.contains("dropkit.jar"), "class path " + jar);
            Check.check(new File(jar.split(File.pathSeparator)[0]).exists(), "jar exists");
        });

        t.finish();
    }
}
