import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule;
import com.intel.analytics.bigdl.dllib.nn.abstractnn.DataFormat$;
import com.intel.analytics.bigdl.dllib.tensor.Tensor;
import com.intel.analytics.bigdl.dllib.tensor.Tensor$;
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath;
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator$;
import dropkit.Dropout;
import dropkit.GaussianDropout;
import dropkit.GaussianNoise;
import dropkit.Generator;
import dropkit.Layer;
import dropkit.SpatialDropout1D;
import dropkit.SpatialDropout2D;
import dropkit.SpatialDropout3D;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * Every dropkit layer against BigDL 2.4's own layer in the same JVM (`make test-bigdl`): the
 * BIGDL generator seeded as {@code RandomGenerator.RNG().setSeed(s)}, several seeds and
 * shapes, float and double, training and evaluation, forward and backward, bit for bit.
 * Cases BigDL cannot run (its backward in evaluation throws) are skipped and counted;
 * GaussianDropout's training backward is not compared: BigDL draws fresh noise there, dropkit
 * uses the forward's (a documented deviation).
 */
public final class BigdlParity {
    private BigdlParity() {}

    /** One layer, built both ways. */
    @SuppressWarnings("rawtypes")
    static final class Case {
        final String name;
        final Supplier<AbstractModule> bigdlFloat;
        final Supplier<AbstractModule> bigdlDouble;
        final Supplier<Layer<?>> dropkit;
        final int[][] shapes;

        Case(String name, Supplier<AbstractModule> f, Supplier<AbstractModule> d,
                Supplier<Layer<?>> dropkit, int[][] shapes) {
            this.name = name;
            this.bigdlFloat = f;
            this.bigdlDouble = d;
            this.dropkit = dropkit;
            this.shapes = shapes;
        }
    }

    static final ClassTag<Object> FLOAT = erase(ClassTag$.MODULE$.Float());
    static final ClassTag<Object> DOUBLE = erase(ClassTag$.MODULE$.Double());
    static final TensorNumericMath.TensorNumeric<Object> NF = numeric("NumericFloat$");
    static final TensorNumericMath.TensorNumeric<Object> ND = numeric("NumericDouble$");

    /** A Scala object nested in TensorNumeric, which javac cannot name: by reflection. */
    static TensorNumericMath.TensorNumeric<Object> numeric(String name) {
        try {
            return erase(Class.forName(
                    "com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath$TensorNumeric$"
                            + name).getField("MODULE$").get(null));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("BigDL's " + name + " is missing", e);
        }
    }

    @SuppressWarnings("unchecked")
    static <T> T erase(Object o) {
        return (T) o;
    }

    @SuppressWarnings("rawtypes")
    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        int[][] flat = {{2, 4}, {3, 5, 7}, {1000}, {64, 33}};
        for (double p : new double[] {0.5, 0.2, 0.9, 0.3, 0.7}) {
            c.add(new Case("Dropout(" + p + ")",
                    () -> new com.intel.analytics.bigdl.dllib.nn.Dropout<>(p, false, true, FLOAT, NF),
                    () -> new com.intel.analytics.bigdl.dllib.nn.Dropout<>(p, false, true, DOUBLE, ND),
                    () -> new Dropout(p), flat));
        }
        c.add(new Case("Dropout(0.3, inplace, no scale)",
                () -> new com.intel.analytics.bigdl.dllib.nn.Dropout<>(0.3, true, false, FLOAT, NF),
                () -> new com.intel.analytics.bigdl.dllib.nn.Dropout<>(0.3, true, false, DOUBLE, ND),
                () -> new Dropout(0.3, true, false), flat));
        for (double r : new double[] {0.5, 0.1}) {
            c.add(new Case("GaussianDropout(" + r + ")",
                    () -> new com.intel.analytics.bigdl.dllib.nn.GaussianDropout<>(r, FLOAT, NF),
                    () -> new com.intel.analytics.bigdl.dllib.nn.GaussianDropout<>(r, DOUBLE, ND),
                    () -> new GaussianDropout(r), flat));
        }
        for (double s : new double[] {0.2, 1.5}) {
            c.add(new Case("GaussianNoise(" + s + ")",
                    () -> new com.intel.analytics.bigdl.dllib.nn.GaussianNoise<>(s, FLOAT, NF),
                    () -> new com.intel.analytics.bigdl.dllib.nn.GaussianNoise<>(s, DOUBLE, ND),
                    () -> new GaussianNoise(s), flat));
        }
        c.add(new Case("SpatialDropout1D(0.7)",
                () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout1D<>(0.7, FLOAT, NF),
                () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout1D<>(0.7, DOUBLE, ND),
                () -> new SpatialDropout1D(0.7), new int[][] {{3, 4, 5}, {2, 7, 3}, {5, 2, 40}}));
        for (String f : new String[] {"NCHW", "NHWC"}) {
            c.add(new Case("SpatialDropout2D(0.4, " + f + ")",
                    () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout2D<>(
                            0.4, DataFormat$.MODULE$.apply(f), FLOAT, NF),
                    () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout2D<>(
                            0.4, DataFormat$.MODULE$.apply(f), DOUBLE, ND),
                    () -> new SpatialDropout2D(0.4, f),
                    new int[][] {{2, 3, 4, 5}, {4, 8, 3, 2}, {1, 50, 2, 2}}));
            c.add(new Case("SpatialDropout3D(0.6, " + f + ")",
                    () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout3D<>(
                            0.6, DataFormat$.MODULE$.apply(f), FLOAT, NF),
                    () -> new com.intel.analytics.bigdl.dllib.nn.SpatialDropout3D<>(
                            0.6, DataFormat$.MODULE$.apply(f), DOUBLE, ND),
                    () -> new SpatialDropout3D(0.6, f),
                    new int[][] {{2, 3, 2, 2, 3}, {3, 4, 1, 2, 5}}));
        }
        return c;
    }

    /** Inputs: varied signs and magnitudes, from a fixed formula. */
    static double[] data(int n, int salt) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = Math.sin(0.37 * i + salt) * (1 + (i % 7));
        }
        return x;
    }

    static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    static Tensor tensor(Object data, int[] shape, boolean single) {
        Object copy = single ? ((float[]) data).clone() : ((double[]) data).clone();
        return Tensor$.MODULE$.apply(copy, shape.clone(), single ? FLOAT : DOUBLE,
                single ? NF : ND);
    }

    /** A BigDL tensor's elements, row-major, as float or double bits. */
    @SuppressWarnings("rawtypes")
    static long[] bits(Tensor t) {
        Tensor c = t.isContiguous() ? t : t.contiguous();
        Object array = c.storage().array();
        int offset = c.storageOffset() - 1;
        int n = c.nElement();
        long[] b = new long[n];
        for (int i = 0; i < n; i++) {
            b[i] = array instanceof float[]
                    ? Float.floatToRawIntBits(((float[]) array)[offset + i])
                    : Double.doubleToRawLongBits(((double[]) array)[offset + i]);
        }
        return b;
    }

    static long[] bits(Object a) {
        if (a instanceof float[]) {
            float[] f = (float[]) a;
            long[] b = new long[f.length];
            for (int i = 0; i < f.length; i++) {
                b[i] = Float.floatToRawIntBits(f[i]);
            }
            return b;
        }
        double[] d = (double[]) a;
        long[] b = new long[d.length];
        for (int i = 0; i < d.length; i++) {
            b[i] = Double.doubleToRawLongBits(d[i]);
        }
        return b;
    }

    static String show(long bits, boolean single) {
        return Long.toHexString(bits) + " ("
                + (single ? Float.intBitsToFloat((int) bits) : Double.longBitsToDouble(bits)) + ")";
    }

    static double value(long bits, boolean single) {
        return single ? Float.intBitsToFloat((int) bits) : Double.longBitsToDouble(bits);
    }

    /** Elements equal but for the sign of a zero; elements within the normals' tolerance. */
    static long signedZeros;
    static long lastBits;

    /**
     * Why dropkit's elements differ from BigDL's, or null. Equal bits pass; so do zeros of
     * opposite signs (BigDL multiplies a dropped element by 0, dropkit writes +0), counted in
     * {@link #signedZeros}; with {@code tolerance > 0} (double normals, see the class doc),
     * elements within {@code tolerance * (1 + |x|)} pass, counted in {@link #lastBits}.
     */
    static String mismatch(long[] bigdl, long[] ours, boolean single, double[] x,
            double tolerance) {
        if (bigdl.length != ours.length) {
            return "lengths " + bigdl.length + " and " + ours.length;
        }
        for (int i = 0; i < bigdl.length; i++) {
            if (bigdl[i] == ours[i]) {
                continue;
            }
            double a = value(bigdl[i], single);
            double b = value(ours[i], single);
            if (a == 0 && b == 0) {
                signedZeros++;
                continue;
            }
            if (tolerance > 0 && Math.abs(a - b) <= tolerance * (1 + Math.abs(x[i]))) {
                lastBits++;
                continue;
            }
            return "element " + i + " of " + bigdl.length + " differs: BigDL "
                    + show(bigdl[i], single) + ", dropkit " + show(ours[i], single);
        }
        return null;
    }

    /**
     * Dropped non-finite and negative elements, a documented deviation: BigDL multiplies by
     * its 0 mask where dropkit sets the element. For the Dropout and Spatial cases (training,
     * float and double, seed 100, each case's first shape), inputs and gradients whose every
     * third element is NaN, +Inf or -Inf: an element may differ only where BigDL gives NaN or
     * -0.0 and dropkit +0.0 (counted per layer family and pass in {@code counts}); NaNs of any
     * payload count as equal. Returns the failures.
     */
    @SuppressWarnings({"rawtypes", "unchecked"})
    static List<String> nonFinite(java.util.Map<String, long[]> counts) {
        List<String> failures = new ArrayList<>();
        double[] special = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
        for (Case c : cases()) {
            if (!c.name.startsWith("Dropout") && !c.name.startsWith("Spatial")) {
                continue;
            }
            String family = c.name.startsWith("Dropout") ? "Dropout" : "Spatial";
            int[] shape = c.shapes[0];
            int n = 1;
            for (int d : shape) {
                n *= d;
            }
            double[] xd = data(n, 100);
            double[] gd = data(n, 7);
            for (int i = 0; i < n; i += 3) {
                xd[i] = special[(i / 3) % 3];
                gd[i] = special[(i / 3 + 1) % 3];
            }
            for (boolean single : new boolean[] {true, false}) {
                Object x = single ? floats(xd) : xd;
                Object g = single ? floats(gd) : gd;
                AbstractModule b = single ? c.bigdlFloat.get() : c.bigdlDouble.get();
                RandomGenerator$.MODULE$.RNG().setSeed(100);
                long[][] big = {
                    bits((Tensor) b.forward(tensor(x, shape, single))),
                    bits((Tensor) b.backward(tensor(x, shape, single), tensor(g, shape, single))),
                };
                long[][] ours = new long[2][];
                try (Layer<?> l = c.dropkit.get()) {
                    l.setSeed(100, Generator.BIGDL);
                    Object xo = single ? ((float[]) x).clone() : ((double[]) x).clone();
                    Object go = single ? ((float[]) g).clone() : ((double[]) g).clone();
                    ours[0] = bits(single ? l.forward((float[]) xo, shape)
                            : l.forward((double[]) xo, shape));
                    ours[1] = bits(single ? l.backward((float[]) xo, (float[]) go, shape)
                            : l.backward((double[]) xo, (double[]) go, shape));
                }
                String[] passes = {"forward", "backward"};
                for (int pass = 0; pass < 2; pass++) {
                    long[] k = counts.computeIfAbsent(family + " " + passes[pass],
                            key -> new long[2]);
                    for (int i = 0; i < n; i++) {
                        double a = value(big[pass][i], single);
                        double o = value(ours[pass][i], single);
                        boolean plusZero = ours[pass][i] == 0;
                        if (big[pass][i] == ours[pass][i] || (Double.isNaN(a) && Double.isNaN(o))) {
                            continue;
                        } else if (plusZero && Double.isNaN(a)) {
                            k[0]++;
                        } else if (plusZero && a == 0) {
                            k[1]++;
                        } else {
                            failures.add(c.name + (single ? " float " : " double ") + passes[pass]
                                    + " with non-finite inputs: element " + i + ": BigDL " + a
                                    + ", dropkit " + o);
                            break;
                        }
                    }
                }
            }
        }
        return failures;
    }

    @SuppressWarnings({"rawtypes", "unchecked"})
    public static void main(String[] args) {
        long[] seeds = {1, 100, 20240607, -5};
        int compared = 0;
        int skipped = 0;
        List<String> failures = new ArrayList<>();
        for (Case c : cases()) {
            for (int[] shape : c.shapes) {
                int n = 1;
                for (int d : shape) {
                    n *= d;
                }
                for (boolean single : new boolean[] {true, false}) {
                    for (boolean train : new boolean[] {true, false}) {
                        for (long seed : seeds) {
                            String what = c.name + " " + java.util.Arrays.toString(shape)
                                    + (single ? " float" : " double")
                                    + (train ? " training" : " evaluation") + " seed " + seed;
                            double[] xd = data(n, (int) seed);
                            double[] gd = data(n, 7);
                            Object x = single ? floats(xd) : xd;
                            Object g = single ? floats(gd) : gd;

                            AbstractModule b = single ? c.bigdlFloat.get() : c.bigdlDouble.get();
                            if (!train) {
                                b.evaluate();
                            }
                            RandomGenerator$.MODULE$.RNG().setSeed(seed);
                            long[] bigOut = bits((Tensor) b.forward(tensor(x, shape, single)));
                            long[] bigGrad = null;
                            try {
                                bigGrad = bits((Tensor) b.backward(tensor(x, shape, single),
                                        tensor(g, shape, single)));
                            } catch (Exception e) { // BigDL throws Scala exceptions, checked ones too
                                if (train) {
                                    failures.add(what + ": BigDL's backward threw " + e);
                                    continue;
                                }
                                skipped++; // BigDL: backward only defined while training
                            }

                            try (Layer<?> ours = c.dropkit.get()) {
                                ours.setSeed(seed, Generator.BIGDL);
                                if (!train) {
                                    ours.evaluate();
                                }
                                Object xo = single ? ((float[]) x).clone() : ((double[]) x).clone();
                                Object go = single ? ((float[]) g).clone() : ((double[]) g).clone();
                                Object out = single ? ours.forward((float[]) xo, shape)
                                        : ours.forward((double[]) xo, shape);
                                // BigDL's normals use Math.log/sin/cos, which HotSpot
                                // replaces by its intrinsics; dropkit's use Rust's f64
                                // ln/sin/cos (the platform's libm): they differ in the last
                                // bit for some arguments, so a double normal may too.
                                double tol = !single && train
                                        && c.name.startsWith("Gaussian") ? 1e-13 : 0;
                                String m = mismatch(bigOut, bits(out), single, xd, tol);
                                if (m != null) {
                                    failures.add(what + " forward: " + m);
                                }
                                compared++;
                                boolean freshNoise = train && c.name.startsWith("GaussianDropout");
                                if (bigGrad != null && !freshNoise) {
                                    Object gi = single
                                            ? ours.backward((float[]) xo, (float[]) go, shape)
                                            : ours.backward((double[]) xo, (double[]) go, shape);
                                    m = mismatch(bigGrad, bits(gi), single, gd, 0);
                                    if (m != null) {
                                        failures.add(what + " backward: " + m);
                                    }
                                    compared++;
                                } else if (freshNoise) {
                                    skipped++;
                                }
                            }
                        }
                    }
                }
            }
        }
        java.util.Map<String, long[]> counts = new java.util.TreeMap<>();
        failures.addAll(nonFinite(counts));
        StringBuilder found = new StringBuilder();
        for (java.util.Map.Entry<String, long[]> e : counts.entrySet()) {
            found.append("; ").append(e.getKey()).append(": ").append(e.getValue()[0])
                    .append(" NaN (BigDL) vs +0.0, ").append(e.getValue()[1])
                    .append(" -0.0 (BigDL) vs +0.0");
        }
        System.out.println("dropped elements of inputs with NaN/Inf (Dropout and Spatial cases,"
                + " float and double)" + found);
        for (String f : failures) {
            System.out.println("FAIL " + f);
        }
        System.out.println("compared with BigDL 2.4: " + compared + " forwards and backwards, "
                + skipped + " cases skipped (BigDL throws, or draws fresh noise); elements"
                + " equal but for the sign of zero: " + signedZeros + "; double normals within"
                + " 1e-13 (1 + |x|), not bit for bit: " + lastBits);
        System.out.println(compared - failures.size() + " passed, " + failures.size() + " failed");
        if (!failures.isEmpty()) {
            System.exit(1);
        }
    }
}
