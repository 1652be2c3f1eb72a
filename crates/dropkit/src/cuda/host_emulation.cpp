// Compiles the device functions of kernels.cu as host C++ (with -ffp-contract=off), so a test
// on a machine without a GPU can check the CUDA source's arithmetic against the Rust
// reference bit for bit. The CUDA intrinsics are IEEE-754 operations with round-to-nearest;
// their host equivalents below are the same operations.
//
// Protocol: one request per line on stdin, one answer per line on stdout, numbers in hex.
//   B seed draw block          -> philox words w0..w3 and the normals n0..n3 (f32 bits)
//   N w0 w1 w2 w3              -> the normals of those words (f32 bits)
//   K32 x mode k               -> dk_kept on f32 bits;  K64 likewise on f64 bits
//   G32 x mean stddev n op     -> dk_noise_value on f32 bits (n: f32 bits); G64 likewise
//   M map inner channels i0    -> the four mask indices of elements i0 .. i0 + 3

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

static inline unsigned dk_umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
static inline float __uint_as_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    return u;
}
static inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline float __uint2float_rn(unsigned u) { return (float)u; }
static inline float __int2float_rn(int i) { return (float)i; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }

#define DROPKIT_HOST_EMULATION 1
#include "kernels.cu"

static double bits_to_f64(unsigned long long u) {
    double d;
    std::memcpy(&d, &u, 8);
    return d;
}
static unsigned long long f64_to_bits(double d) {
    unsigned long long u;
    std::memcpy(&u, &d, 8);
    return u;
}

int main() {
    std::string line;
    char out[256];
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string op;
        in >> op >> std::hex;
        if (op == "B") {
            unsigned long long seed, draw, block;
            in >> seed >> draw >> block;
            const dk_words w = dk_philox(block, draw, seed);
            float n[4];
            dk_normals4(w, n);
            std::snprintf(out, sizeof out, "%x %x %x %x %x %x %x %x", w.w[0], w.w[1], w.w[2],
                          w.w[3], __float_as_uint(n[0]), __float_as_uint(n[1]),
                          __float_as_uint(n[2]), __float_as_uint(n[3]));
        } else if (op == "N") {
            dk_words w;
            in >> w.w[0] >> w.w[1] >> w.w[2] >> w.w[3];
            float n[4];
            dk_normals4(w, n);
            std::snprintf(out, sizeof out, "%x %x %x %x", __float_as_uint(n[0]),
                          __float_as_uint(n[1]), __float_as_uint(n[2]), __float_as_uint(n[3]));
        } else if (op == "K32") {
            unsigned x, mode, k;
            in >> x >> mode >> k;
            std::snprintf(out, sizeof out, "%x",
                          __float_as_uint(dk_kept(__uint_as_float(x), mode, __uint_as_float(k))));
        } else if (op == "K64") {
            unsigned long long x, k;
            unsigned mode;
            in >> x >> mode >> k;
            std::snprintf(out, sizeof out, "%llx",
                          f64_to_bits(dk_kept(bits_to_f64(x), mode, bits_to_f64(k))));
        } else if (op == "G32") {
            unsigned x, mean, stddev, n, o;
            in >> x >> mean >> stddev >> n >> o;
            std::snprintf(out, sizeof out, "%x",
                          __float_as_uint(dk_noise_value(__uint_as_float(x), __uint_as_float(mean),
                                                         __uint_as_float(stddev),
                                                         __uint_as_float(n), o)));
        } else if (op == "G64") {
            unsigned long long x, mean, stddev;
            unsigned n, o;
            in >> x >> mean >> stddev >> n >> o;
            std::snprintf(out, sizeof out, "%llx",
                          f64_to_bits(dk_noise_value(bits_to_f64(x), bits_to_f64(mean),
                                                     bits_to_f64(stddev), __uint_as_float(n), o)));
        } else if (op == "M") {
            unsigned map;
            unsigned long long inner, channels, i0, idx[4];
            in >> map >> inner >> channels >> i0;
            dk_mask_index4(i0, map, inner, channels, idx);
            std::snprintf(out, sizeof out, "%llx %llx %llx %llx", idx[0], idx[1], idx[2], idx[3]);
        } else {
            std::snprintf(out, sizeof out, "error: unknown request %s", op.c_str());
        }
        std::puts(out);
    }
    return 0;
}
