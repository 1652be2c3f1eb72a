import java.util.ArrayList;
import java.util.List;

/** A plain test runner: named checks, a line per failure, then "N passed, N failed". */
final class Check {
    interface Body {
        void run() throws Exception;
    }

    private final List<String> failures = new ArrayList<>();
    private int passed;

    void test(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("ok   " + name);
        } catch (Throwable t) {
            failures.add(name);
            System.out.println("FAIL " + name + ": " + t);
            for (StackTraceElement e : t.getStackTrace()) {
                if (e.getClassName().startsWith("dropkit") || !e.getClassName().contains(".")) {
                    System.out.println("       at " + e);
                }
            }
        }
    }

    /** Prints the summary and exits with 1 if anything failed. */
    void finish() {
        System.out.println(passed + " passed, " + failures.size() + " failed");
        if (!failures.isEmpty()) {
            System.out.println("failed: " + String.join(", ", failures));
            System.exit(1);
        }
    }

    static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    /** Runs {@code body}, which must throw {@code type}; returns what it threw. */
    static <E extends Throwable> E expect(Class<E> type, Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
    }

    /** As {@link #expect}, and the message contains each of {@code parts}. */
    static void expectMessage(Class<? extends Throwable> type, Body body, String... parts) {
        String message = String.valueOf(expect(type, body).getMessage());
        for (String part : parts) {
            check(message.contains(part), "message \"" + message + "\" lacks \"" + part + "\"");
        }
    }

    static void same(float[] a, float[] b, String what) {
        check(a.length == b.length, what + ": lengths " + a.length + " and " + b.length);
        for (int i = 0; i < a.length; i++) {
            check(Float.floatToRawIntBits(a[i]) == Float.floatToRawIntBits(b[i]),
                    what + ": element " + i + ": " + a[i] + " != " + b[i]);
        }
    }

    static void same(double[] a, double[] b, String what) {
        check(a.length == b.length, what + ": lengths " + a.length + " and " + b.length);
        for (int i = 0; i < a.length; i++) {
            check(Double.doubleToRawLongBits(a[i]) == Double.doubleToRawLongBits(b[i]),
                    what + ": element " + i + ": " + a[i] + " != " + b[i]);
        }
    }
}
