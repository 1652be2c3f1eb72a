// Compiles kernels.cu as host C++ (with -ffp-contract=off), so a test on a machine without a
// GPU can check the CUDA source against the Rust reference bit for bit:
// - the arithmetic: the CUDA intrinsics are IEEE-754 operations with round-to-nearest, and
//   their host equivalents below are the same operations;
// - the kernels themselves: a launch runs each block's threads as host threads (blocks one
//   after another), with threadIdx/blockIdx per thread, and __shfl_xor_sync exchanges values
//   through the warp's slots between two barriers, so it needs all 32 lanes of the warp, as
//   on the GPU (a shuffle that some lane never reaches aborts with "deadlock").
//
// Protocol: one request per line on stdin, one answer per line on stdout, numbers in hex.
//   B seed draw block          -> philox words w0..w3 and the normals n0..n3 (f32 bits)
//   N w0 w1 w2 w3              -> the normals of those words (f32 bits)
//   K32 x mode k add           -> dk_kept on f32 bits;  K64 likewise on f64 bits
//   G32 x mean stddev n op     -> dk_noise_value on f32 bits (n: f32 bits); G64 likewise
//   M MAP i0                   -> the four mask indices of elements i0 .. i0 + 3
//   H x                        -> x (f32 bits) rounded to f16 and to bf16 (16-bit patterns)
//   W h                        -> h (16 bits) widened from f16 and from bf16 (f32 bits)
// A mask map (MAP above and below) is its dk_map fields: kind inner channels groups, then
// groups dims, then groups strides (groups 0 for kinds 0-2).
// Kernel launches (T is f32, f64, f16 or bf16; x[i] is input(i), below; grid and block are
// the launch shape, in hex like every number; inplace 1 makes y the same buffer as x; the
// constants k, add, dropped, mean, stddev are of the compute type: f32 bits for f16/bf16):
//   KD T grid block inplace masked n seed draw threshold mode k add dropped
//                                                         -> y bits [| mask words]
//   KA T grid block inplace n MAP mode k add dropped words..    -> y bits
//   KN T grid block inplace n seed draw mean stddev op          -> y bits
//   KS T grid block inplace n k                                 -> y bits
//   KV T grid block len seed draw mean stddev op
//                          -> dk_noise_values_T: the len values (compute-type bits)
//   KG T grid block inplace n len seed draw mean stddev op MAP
//                          -> y bits: dk_noise_values_T over len, then dk_noise_broadcast_T
//                             through MAP (the CUDA backend's noise_broadcast, both on one
//                             launch shape)
//   KB grid block len seed draw threshold                       -> mask words

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
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

// ---- CUDA built-ins ----------------------------------------------------------------------

#define __device__
#define __forceinline__ inline
#define __global__

struct dim3 {
    unsigned x, y, z;
};
struct float4 {
    float x, y, z, w;
};
struct double2 {
    double x, y;
};
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
static inline double2 make_double2(double a, double b) { return {a, b}; }

static thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

// A barrier for the 32 lanes of a warp; a lane left waiting for 10 s means a shuffle that not
// every lane reached (a loop that is not warp-uniform), which hangs a real GPU too.
struct WarpBarrier {
    std::mutex m;
    std::condition_variable cv;
    int count = 0;
    unsigned long generation = 0;
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        const unsigned long g = generation;
        if (++count == 32) {
            count = 0;
            ++generation;
            cv.notify_all();
            return;
        }
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return generation != g; })) {
            std::fprintf(stderr, "deadlock: a warp shuffle was not reached by all 32 lanes\n");
            std::abort();
        }
    }
};
struct Warp {
    WarpBarrier barrier;
    unsigned slots[32];
};
static thread_local Warp* t_warp;
static thread_local unsigned t_lane;

static unsigned __shfl_xor_sync(unsigned, unsigned v, int lane_mask) {
    t_warp->slots[t_lane] = v;
    t_warp->barrier.wait();
    const unsigned r = t_warp->slots[t_lane ^ (unsigned)lane_mask];
    t_warp->barrier.wait();
    return r;
}

template <typename F>
static void emulate_launch(unsigned grid, unsigned block, F body) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        std::vector<Warp> warps(block / 32);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([&, b, t] {
                blockIdx = {b, 1, 1};
                threadIdx = {t, 1, 1};
                t_warp = &warps[t / 32];
                t_lane = t % 32;
                body();
            });
        }
        for (auto& th : threads) {
            th.join();
        }
    }
}

#define DROPKIT_HOST_EMULATION 1
#include "kernels.cu"

// A storage type's compute type and its values: the compute type's value rounded once.
template <typename S>
struct Elem {
    typedef S C;
    static S from(C v) { return v; }
    static S max() { return std::numeric_limits<S>::max(); }
    static S neg_max() { return -std::numeric_limits<S>::max(); }
};
template <>
struct Elem<dk_half> {
    typedef float C;
    static dk_half from(float v) {
        dk_half h;
        dk_narrow(v, &h);
        return h;
    }
    static dk_half max() { return dk_half{0x7bff}; }
    static dk_half neg_max() { return dk_half{0xfbff}; }
};
template <>
struct Elem<dk_bfloat16> {
    typedef float C;
    static dk_bfloat16 from(float v) {
        dk_bfloat16 h;
        dk_narrow(v, &h);
        return h;
    }
    static dk_bfloat16 max() { return dk_bfloat16{0x7f7f}; }
    static dk_bfloat16 neg_max() { return dk_bfloat16{0xff7f}; }
};

// The inputs of the kernel requests: the same formula as the Rust test (in the compute type,
// then rounded to the element type), with NaN, infinity, signed zero, a denormal and the
// largest finite values (which overflow when scaled up) at fixed places.
template <typename S>
static std::vector<S> input(unsigned long long n) {
    typedef typename Elem<S>::C C;
    std::vector<S> x(n);
    for (unsigned long long i = 0; i < n; ++i) {
        x[i] = Elem<S>::from((C)((double)((i * 7919) % 2003) * 0.0137 - 13.0));
    }
    const S specials[] = {Elem<S>::from((C)NAN), Elem<S>::from((C)INFINITY),
                          Elem<S>::from((C)-0.0), Elem<S>::from((C)1e-40), Elem<S>::max(),
                          Elem<S>::neg_max()};
    for (int j = 0; j < 6; ++j) {
        if (3 + 4 * (unsigned long long)j < n) {
            x[3 + 4 * j] = specials[j];
        }
    }
    return x;
}

static unsigned long long bits_of(dk_half v) { return v.bits; }
static unsigned long long bits_of(dk_bfloat16 v) { return v.bits; }
static unsigned long long bits_of(float v) { return __float_as_uint(v); }
static unsigned long long bits_of(double v) {
    unsigned long long u;
    std::memcpy(&u, &v, 8);
    return u;
}
static float value_of(float, unsigned long long u) { return __uint_as_float((unsigned)u); }
static double value_of(double, unsigned long long u) {
    double d;
    std::memcpy(&d, &u, 8);
    return d;
}

template <typename T>
static std::string join_bits(const std::vector<T>& v) {
    std::string s;
    char buf[32];
    for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buf, sizeof buf, i ? " %llx" : "%llx", bits_of(v[i]));
        s += buf;
    }
    return s;
}

static std::string join_words(const std::vector<unsigned>& v) {
    std::string s;
    char buf[16];
    for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buf, sizeof buf, i ? " %x" : "%x", v[i]);
        s += buf;
    }
    return s;
}

// A MAP: kind inner channels groups dims.. strides.. (at most DK_MAP_GROUPS of each).
static bool read_map(std::istringstream& in, dk_map* map) {
    *map = dk_map{};
    in >> map->kind >> map->inner >> map->channels >> map->groups;
    if (!in || map->groups > DK_MAP_GROUPS) {
        return false;
    }
    for (unsigned k = 0; k < map->groups; ++k) {
        in >> map->dims[k];
    }
    for (unsigned k = 0; k < map->groups; ++k) {
        in >> map->strides[k];
    }
    return (bool)in;
}

// One kernel request after its type: the shared fields, then the kernel's own.
template <typename S>
static std::string kernel_request(const std::string& op, std::istringstream& in) {
    typedef typename Elem<S>::C C;
    unsigned grid, block, inplace = 0;
    unsigned long long n;
    in >> grid >> block;
    if (op == "KV") {
        unsigned long long seed, draw, mean, stddev;
        unsigned o;
        in >> n >> seed >> draw >> mean >> stddev >> o;
        // Garbage first: the kernel must write every value.
        std::vector<C> values(n, (C)-7);
        emulate_launch(grid, block, [&] {
            dk_noise_values<C>(values.data(), n, seed, draw, value_of(C(), mean),
                               value_of(C(), stddev), o);
        });
        return join_bits(values);
    }
    in >> inplace;
    if (op == "KD") {
        unsigned masked, mode;
        unsigned long long seed, draw, threshold, k, add, dropped;
        in >> masked >> n >> seed >> draw >> threshold >> mode >> k >> add >> dropped;
        std::vector<S> x = input<S>(n), y(n, Elem<S>::from((C)-7));
        // Mask words start as garbage: the kernel must write every one.
        std::vector<unsigned> mask(2 * ((n + 63) / 64), 0xdeadbeefu);
        S* out = inplace ? x.data() : y.data();
        emulate_launch(grid, block, [&] {
            dk_dropout<S, C>(x.data(), out, masked ? mask.data() : nullptr, n, seed, draw,
                                 threshold, mode, value_of(C(), k), value_of(C(), add),
                                 value_of(C(), dropped));
        });
        std::string r = join_bits(inplace ? x : y);
        if (masked) {
            r += " | " + join_words(mask);
        }
        return r;
    }
    if (op == "KA") {
        dk_map map;
        unsigned mode;
        unsigned long long k, add, dropped;
        in >> n;
        if (!read_map(in, &map)) {
            return "error: bad map";
        }
        in >> mode >> k >> add >> dropped;
        std::vector<unsigned> mask;
        unsigned w;
        while (in >> w) {
            mask.push_back(w);
        }
        std::vector<S> x = input<S>(n), y(n, Elem<S>::from((C)-7));
        S* out = inplace ? x.data() : y.data();
        emulate_launch(grid, block, [&] {
            dk_apply_mask<S, C>(x.data(), out, mask.data(), n, map, mode, value_of(C(), k),
                                value_of(C(), add), value_of(C(), dropped));
        });
        return join_bits(inplace ? x : y);
    }
    if (op == "KN") {
        unsigned long long seed, draw, mean, stddev;
        unsigned o;
        in >> n >> seed >> draw >> mean >> stddev >> o;
        std::vector<S> x = input<S>(n), y(n, Elem<S>::from((C)-7));
        S* out = inplace ? x.data() : y.data();
        emulate_launch(grid, block, [&] {
            dk_noise<S, C>(x.data(), out, n, seed, draw, value_of(C(), mean),
                               value_of(C(), stddev), o);
        });
        return join_bits(inplace ? x : y);
    }
    if (op == "KG") {
        unsigned long long len, seed, draw, mean, stddev;
        unsigned o;
        dk_map map;
        in >> n >> len >> seed >> draw >> mean >> stddev >> o;
        if (!read_map(in, &map)) {
            return "error: bad map";
        }
        std::vector<C> values(len, (C)-7);
        emulate_launch(grid, block, [&] {
            dk_noise_values<C>(values.data(), len, seed, draw, value_of(C(), mean),
                               value_of(C(), stddev), o);
        });
        std::vector<S> x = input<S>(n), y(n, Elem<S>::from((C)-7));
        S* out = inplace ? x.data() : y.data();
        emulate_launch(grid, block, [&] {
            dk_noise_broadcast<S, C>(x.data(), out, values.data(), n, map, o);
        });
        return join_bits(inplace ? x : y);
    }
    if (op == "KS") {
        unsigned long long k;
        in >> n >> k;
        std::vector<S> x = input<S>(n), y(n, Elem<S>::from((C)-7));
        S* out = inplace ? x.data() : y.data();
        emulate_launch(grid, block, [&] { dk_scale<S, C>(x.data(), out, n, value_of(C(), k)); });
        return join_bits(inplace ? x : y);
    }
    return "error: unknown kernel request " + op;
}

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
            unsigned x, mode, k, add;
            in >> x >> mode >> k >> add;
            std::snprintf(out, sizeof out, "%x",
                          __float_as_uint(dk_kept(__uint_as_float(x), mode, __uint_as_float(k),
                                                  __uint_as_float(add))));
        } else if (op == "K64") {
            unsigned long long x, k, add;
            unsigned mode;
            in >> x >> mode >> k >> add;
            std::snprintf(out, sizeof out, "%llx",
                          f64_to_bits(dk_kept(bits_to_f64(x), mode, bits_to_f64(k),
                                              bits_to_f64(add))));
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
        } else if (op == "H") {
            unsigned x;
            in >> x;
            std::snprintf(out, sizeof out, "%x %x", dk_f32_to_f16(__uint_as_float(x)),
                          dk_f32_to_bf16(__uint_as_float(x)));
        } else if (op == "W") {
            unsigned h;
            in >> h;
            std::snprintf(out, sizeof out, "%x %x", __float_as_uint(dk_f16_to_f32(h)),
                          __float_as_uint(dk_bf16_to_f32(h)));
        } else if (op == "M") {
            dk_map map;
            unsigned long long i0, idx[4];
            if (!read_map(in, &map)) {
                std::puts("error: bad map");
                continue;
            }
            in >> i0;
            dk_mask_index4(i0, map, idx);
            std::snprintf(out, sizeof out, "%llx %llx %llx %llx", idx[0], idx[1], idx[2], idx[3]);
        } else if (op == "KB") {
            unsigned grid, block;
            unsigned long long len, seed, draw, threshold;
            in >> grid >> block >> len >> seed >> draw >> threshold;
            std::vector<unsigned> mask(2 * ((len + 63) / 64), 0xdeadbeefu);
            emulate_launch(grid, block,
                           [&] { dk_keep_bits(mask.data(), len, seed, draw, threshold); });
            std::puts(join_words(mask).c_str());
            continue;
        } else if (op.size() == 2 && op[0] == 'K') {
            std::string t;
            in >> t;
            const std::string r = t == "f32"   ? kernel_request<float>(op, in)
                                  : t == "f64" ? kernel_request<double>(op, in)
                                  : t == "f16" ? kernel_request<dk_half>(op, in)
                                               : kernel_request<dk_bfloat16>(op, in);
            std::puts(r.c_str());
            continue;
        } else {
            std::snprintf(out, sizeof out, "error: unknown request %s", op.c_str());
        }
        std::puts(out);
    }
    return 0;
}
