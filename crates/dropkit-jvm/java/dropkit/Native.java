package dropkit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.Buffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The native methods (crates/dropkit-jvm/src/exports.rs) and the loader of the library
 * packed in the jar at {@code dropkit/native/<os>-<arch>/}. The system property
 * {@code dropkit.library} names a library file to load instead.
 */
final class Native {
    private Native() {}

    /** The jar's folder for this machine, such as {@code linux-x86_64}. */
    static String platform() {
        String os = System.getProperty("os.name", "unknown").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "unknown").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        }
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    static {
        String override = System.getProperty("dropkit.library");
        if (override != null) {
            System.load(override);
        } else {
            load();
        }
    }

    private static void load() {
        String platform = platform();
        String file = System.mapLibraryName("dropkit_jvm");
        String resource = "/dropkit/native/" + platform + "/" + file;
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("dropkit: no native library for platform "
                        + platform + " in this jar (no " + resource + "; it holds: "
                        + builtFor() + "); build the jar on this platform with `make jvm`,"
                        + " or name a library with -Ddropkit.library=/path/to/" + file);
            }
            Path tmp = Files.createTempFile("dropkit_jvm", "-" + file);
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                System.load(tmp.toAbsolutePath().toString());
            } finally {
                // The loaded library stays mapped; on Windows the file stays until exit.
                if (!tmp.toFile().delete()) {
                    tmp.toFile().deleteOnExit();
                }
            }
        } catch (IOException e) {
            UnsatisfiedLinkError error = new UnsatisfiedLinkError(
                    "dropkit: cannot extract " + resource + " to a temporary file: " + e);
            error.initCause(e);
            throw error;
        }
    }

    /** The platforms the jar holds libraries for, as its build listed them. */
    private static String builtFor() {
        try (InputStream in = Native.class.getResourceAsStream("/dropkit/native/PLATFORMS")) {
            if (in == null) {
                return "none listed";
            }
            java.io.ByteArrayOutputStream text = new java.io.ByteArrayOutputStream();
            byte[] chunk = new byte[256];
            for (int n; (n = in.read(chunk)) > 0; ) {
                text.write(chunk, 0, n);
            }
            return new String(text.toByteArray(), "UTF-8").trim().replace('\n', ' ');
        } catch (IOException e) {
            return "unreadable: " + e;
        }
    }

    static native long newDropout(
            double initP, boolean inplace, boolean scale, int[] noiseShape);

    static native long newGaussianDropout(double rate, int[] noiseShape);

    static native long newGaussianNoise(double stddev, int[] noiseShape);

    static native long newSpatial(int dims, double initP, String format);

    static native long newAlphaDropout(double p);

    static native long newFeatureAlphaDropout(double p, String format);

    static native void free(long handle);

    static native void setSeed(long handle, long seed, int generator);

    static native void setDefaultSeed(long seed, int generator);

    static native void setTraining(long handle, boolean on);

    static native boolean isTraining(long handle);

    static native boolean isInplace(long handle);

    static native String describe(long handle);

    static native void forwardF(long handle, float[] input, float[] output, int[] shape);

    static native void forwardD(long handle, double[] input, double[] output, int[] shape);

    static native void backwardF(
            long handle, int inputLength, float[] gradOutput, float[] gradInput, int[] shape);

    static native void backwardD(
            long handle, int inputLength, double[] gradOutput, double[] gradInput, int[] shape);

    static native void forwardBufF(long handle, Buffer input, int inputPosition,
            int inputLength, Buffer output, int outputPosition, int outputLength, int[] shape);

    static native void forwardBufD(long handle, Buffer input, int inputPosition,
            int inputLength, Buffer output, int outputPosition, int outputLength, int[] shape);

    static native void backwardBufF(long handle, int inputLength, Buffer gradOutput,
            int gradOutputPosition, int gradOutputLength, Buffer gradInput,
            int gradInputPosition, int gradInputLength, int[] shape);

    static native void backwardBufD(long handle, int inputLength, Buffer gradOutput,
            int gradOutputPosition, int gradOutputLength, Buffer gradInput,
            int gradInputPosition, int gradInputLength, int[] shape);
}
