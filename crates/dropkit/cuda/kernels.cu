// dropkit's CUDA kernels. Compiled to PTX ahead of time (kernels.ptx, see gen_ptx) and, as
// a fallback, at run time with NVRTC. Both use the options in src/cuda/source.rs:
// --fmad=false --ftz=false --prec-div=true --prec-sqrt=true.
//
// The contract: for the same (seed, draw) every output is bit-identical to the CPU reference
// (src/kernels/reference.rs, src/rng/philox.rs, src/rng/normal.rs):
// - Philox4x32-10, key = seed (k0 = low word), counter of element i = (lo(i/4), hi(i/4),
//   lo(draw), hi(draw)), element i takes word i % 4; keep iff (u64)word >= threshold, where
//   threshold = round(p * 2^32) in [0, 2^32] (2^32 drops everything).
// - Normals: the f32 Box-Muller of rng/normal.rs, written here with the correctly rounded
//   intrinsics (__fmaf_rn for every mul_add, __fmul_rn / __fadd_rn / __fsub_rn / __fdiv_rn /
//   __fsqrt_rn for the plain operations) so that nothing is contracted or approximated.
// - Element arithmetic: kept x / T(1-p) is a true IEEE division; AlphaDropout's kept
//   x * T(a) + T(b) is a product then a sum (no fma); noise is T(mean) + T(stddev) * T(n)
//   (no fma); dropped elements are set to exactly +0 (AlphaDropout's to T(a alpha' + b)).
// - Half precision (dk_half = IEEE binary16, dk_bfloat16 = bfloat16; 2-byte storage, computing
//   in float): an element is widened to float exactly, the float arithmetic above runs with
//   float constants, and the result is rounded once to nearest, ties to even (what
//   __float2half_rn / __float2bfloat16_rn do). The conversions are integer operations
//   (dk_f32_to_f16 ...), so they need no cuda_fp16.h / cuda_bf16.h, no newer PTX_ARCH than
//   the float kernels (bfloat16's cvt instructions need sm_80) and give the CPU's bits for
//   every value: a NaN stays a quiet NaN with its payload's high bits, as the `half` crate
//   keeps it.
// - The 1-bit mask: bit i of 32-bit word i / 32 is element i (little-endian), so two
//   consecutive words are the CPU BitMask's u64 word. Buffers hold 2 * ceil(n / 64) words and
//   every word is written (bits past n are 0).
//
// All of it also compiles as host C++ (DROPKIT_HOST_EMULATION, see host_emulation.cpp, which
// supplies the CUDA built-ins, runs each thread of a block as a host thread and implements
// the warp shuffle with a barrier): a test runs the kernels on the CPU against the Rust
// reference, bit for bit.

// Tuning (compile-time; `gen_ptx -D NAME=VALUE` builds variants for scripts/gpu-tune.sh):
// DK_UNROLL: tiles (warp kernels) or groups (thread kernels) each thread takes per pass of
//   the grid-stride loop; all of its loads are issued before any store, so more bytes are in
//   flight per thread (and in place, a store cannot hold back the next load).
#ifndef DK_UNROLL
#define DK_UNROLL 2 // measured best on an H100 with the grid sizes of src/cuda/device.rs
#endif

typedef unsigned int dk_u32;
typedef unsigned long long dk_u64;

#ifndef DROPKIT_HOST_EMULATION
#define DK_DEVICE __device__ __forceinline__
#define dk_umulhi(a, b) __umulhi((a), (b))
#else
#define DK_DEVICE static inline
#endif

// ---------------------------------------------------------------------------------------
// Philox4x32-10 (Random123; the same function as cuRAND's Philox4_32_10).

#define DK_M0 0xD2511F53u
#define DK_M1 0xCD9E8D57u
#define DK_W0 0x9E3779B9u
#define DK_W1 0xBB67AE85u

struct dk_words {
    dk_u32 w[4];
};

DK_DEVICE dk_words dk_philox(dk_u64 block, dk_u64 draw, dk_u64 seed) {
    dk_u32 c0 = (dk_u32)block, c1 = (dk_u32)(block >> 32);
    dk_u32 c2 = (dk_u32)draw, c3 = (dk_u32)(draw >> 32);
    dk_u32 k0 = (dk_u32)seed, k1 = (dk_u32)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += DK_W0;
            k1 += DK_W1;
        }
        const dk_u32 hi0 = dk_umulhi(DK_M0, c0), lo0 = DK_M0 * c0;
        const dk_u32 hi1 = dk_umulhi(DK_M1, c2), lo1 = DK_M1 * c2;
        const dk_u32 n0 = hi1 ^ c1 ^ k0;
        const dk_u32 n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    dk_words out;
    out.w[0] = c0;
    out.w[1] = c1;
    out.w[2] = c2;
    out.w[3] = c3;
    return out;
}

// ---------------------------------------------------------------------------------------
// Normals: rng/normal.rs, operation for operation. Constants are the bit patterns of the
// Rust literals (checked by the host emulation test).

#define DK_LN2_HI __uint_as_float(0x3f317180u)
#define DK_LN2_LO __uint_as_float(0x3717f7d1u)
#define DK_L3 __uint_as_float(0x3f2aaaabu)
#define DK_L5 __uint_as_float(0x3ecccccdu)
#define DK_L7 __uint_as_float(0x3e924925u)
#define DK_L9 __uint_as_float(0x3e638e39u)
#define DK_S1 __uint_as_float(0x3fc90fdbu)
#define DK_S3 __uint_as_float(0xbf255de7u)
#define DK_S5 __uint_as_float(0x3da335e4u)
#define DK_S7 __uint_as_float(0xbb996966u)
#define DK_S9 __uint_as_float(0x39283c1au)
#define DK_C2 __uint_as_float(0xbf9de9e6u)
#define DK_C4 __uint_as_float(0x3e81e0f8u)
#define DK_C6 __uint_as_float(0xbcaae9e4u)
#define DK_C8 __uint_as_float(0x3a70fa83u)
#define DK_C10 __uint_as_float(0xb7d368f9u)
#define DK_SQRT_2 __uint_as_float(0x3fb504f3u)
#define DK_2POW_M24 __uint_as_float(0x33800000u)
#define DK_2POW_M22 __uint_as_float(0x34800000u)

// (2 * (w >> 9) + 1) * 2^-24: in (0, 1), exact.
DK_DEVICE float dk_open_uniform(dk_u32 w) {
    return __fmul_rn(__uint2float_rn((w >> 9) * 2u + 1u), DK_2POW_M24);
}

// ln of a positive normal float: exponent + 2 atanh(s) of the mantissa in [sqrt(1/2), sqrt(2)).
DK_DEVICE float dk_ln(float x) {
    const dk_u32 bits = __float_as_uint(x);
    int e = (int)((bits >> 23) & 0xffu) - 127;
    float m = __uint_as_float((bits & 0x007fffffu) | 0x3f800000u);
    if (m > DK_SQRT_2) {
        m = __fmul_rn(m, 0.5f);
        e += 1;
    }
    const float s = __fdiv_rn(__fsub_rn(m, 1.0f), __fadd_rn(m, 1.0f));
    const float z = __fmul_rn(s, s);
    float r = __fmaf_rn(z, DK_L9, DK_L7);
    r = __fmaf_rn(z, r, DK_L5);
    r = __fmaf_rn(z, r, DK_L3);
    const float lnm = __fmaf_rn(__fmul_rn(s, z), r, __fadd_rn(s, s));
    const float ef = __int2float_rn(e);
    return __fmaf_rn(ef, DK_LN2_HI, __fmaf_rn(ef, DK_LN2_LO, lnm));
}

// (sin, cos) of 2 pi k / 2^24 for k < 2^24.
DK_DEVICE void dk_sincos_turns24(dk_u32 k, float* sin_out, float* cos_out) {
    const dk_u32 q = (k + (1u << 21)) >> 22;
    const int rest = (int)k - (int)(q << 22);
    const float r = __fmul_rn(__int2float_rn(rest), DK_2POW_M22);
    const float y = __fmul_rn(r, r);
    float sp = __fmaf_rn(y, DK_S9, DK_S7);
    sp = __fmaf_rn(y, sp, DK_S5);
    sp = __fmaf_rn(y, sp, DK_S3);
    sp = __fmaf_rn(y, sp, DK_S1);
    const float s = __fmul_rn(r, sp);
    float cp = __fmaf_rn(y, DK_C10, DK_C8);
    cp = __fmaf_rn(y, cp, DK_C6);
    cp = __fmaf_rn(y, cp, DK_C4);
    cp = __fmaf_rn(y, cp, DK_C2);
    const float c = __fmaf_rn(y, cp, 1.0f);
    switch (q & 3u) {
    case 0:
        *sin_out = s;
        *cos_out = c;
        break;
    case 1:
        *sin_out = c;
        *cos_out = -s;
        break;
    case 2:
        *sin_out = -s;
        *cos_out = -c;
        break;
    default:
        *sin_out = -c;
        *cos_out = s;
        break;
    }
}

// Box-Muller on one word pair: (rho cos, rho sin).
DK_DEVICE void dk_box_muller(dk_u32 w_rho, dk_u32 w_angle, float* a, float* b) {
    const float rho = __fsqrt_rn(__fmul_rn(-2.0f, dk_ln(dk_open_uniform(w_rho))));
    float s, c;
    dk_sincos_turns24(w_angle >> 8, &s, &c);
    *a = __fmul_rn(rho, c);
    *b = __fmul_rn(rho, s);
}

// The four standard normals of one Philox block, in element order.
DK_DEVICE void dk_normals4(dk_words w, float n[4]) {
    dk_box_muller(w.w[0], w.w[1], &n[0], &n[1]);
    dk_box_muller(w.w[2], w.w[3], &n[2], &n[3]);
}

// ---------------------------------------------------------------------------------------
// Element arithmetic for float and double.

// What happens to a kept element: 0 identity, 1 x / k, 2 x * k, 3 x * k + add (rounded
// after the product and after the sum).
#define DK_KEPT_IDENTITY 0u
#define DK_KEPT_DIV 1u
#define DK_KEPT_MUL 2u
#define DK_KEPT_AFFINE 3u

DK_DEVICE float dk_kept(float x, dk_u32 mode, float k, float add) {
    if (mode == DK_KEPT_AFFINE) {
        return __fadd_rn(__fmul_rn(x, k), add);
    }
    return mode == DK_KEPT_DIV ? __fdiv_rn(x, k) : (mode == DK_KEPT_MUL ? __fmul_rn(x, k) : x);
}
DK_DEVICE double dk_kept(double x, dk_u32 mode, double k, double add) {
    if (mode == DK_KEPT_AFFINE) {
        return __dadd_rn(__dmul_rn(x, k), add);
    }
    return mode == DK_KEPT_DIV ? __ddiv_rn(x, k) : (mode == DK_KEPT_MUL ? __dmul_rn(x, k) : x);
}

// x * k.
DK_DEVICE float dk_mul(float x, float k) { return __fmul_rn(x, k); }
DK_DEVICE double dk_mul(double x, double k) { return __dmul_rn(x, k); }

// Noise combination: 0 multiply (GaussianDropout), 1 add (GaussianNoise).
#define DK_NOISE_MUL 0u
#define DK_NOISE_ADD 1u

// x * e or x + e.
DK_DEVICE float dk_noise_combine(float x, float e, dk_u32 op) {
    return op == DK_NOISE_ADD ? __fadd_rn(x, e) : __fmul_rn(x, e);
}
DK_DEVICE double dk_noise_combine(double x, double e, dk_u32 op) {
    return op == DK_NOISE_ADD ? __dadd_rn(x, e) : __dmul_rn(x, e);
}

// T(mean) + T(stddev) * T(n), then x * e or x + e.
DK_DEVICE float dk_noise_value(float x, float mean, float stddev, float n, dk_u32 op) {
    return dk_noise_combine(x, __fadd_rn(mean, __fmul_rn(stddev, n)), op);
}
DK_DEVICE double dk_noise_value(double x, double mean, double stddev, float n, dk_u32 op) {
    return dk_noise_combine(x, __dadd_rn(mean, __dmul_rn(stddev, (double)n)), op);
}

// ---------------------------------------------------------------------------------------
// Half-precision storage: 16-bit patterns, computed on as float.

struct dk_half {
    unsigned short bits;
};
struct dk_bfloat16 {
    unsigned short bits;
};

// binary16 -> float, exact; a NaN comes back quiet (its payload shifted up).
DK_DEVICE float dk_f16_to_f32(dk_u32 h) {
    const dk_u32 sign = (h & 0x8000u) << 16;
    const dk_u32 e = (h >> 10) & 0x1fu;
    const dk_u32 m = h & 0x3ffu;
    if (e == 0x1fu) {
        return __uint_as_float(sign | 0x7f800000u | (m != 0 ? 0x400000u : 0u) | (m << 13));
    }
    if (e == 0) {
        // Zero or subnormal: m * 2^-24 is exact in float.
        return __uint_as_float(sign | __float_as_uint(__fmul_rn(__uint2float_rn(m), DK_2POW_M24)));
    }
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

// float -> binary16, to nearest with ties to even; overflow gives infinity, a NaN stays a
// quiet NaN keeping the top 9 bits of its payload.
DK_DEVICE dk_u32 dk_f32_to_f16(float f) {
    const dk_u32 x = __float_as_uint(f);
    const dk_u32 sign = (x >> 16) & 0x8000u;
    const dk_u32 a = x & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return sign | 0x7e00u | ((a & 0x7fffffu) >> 13);
    }
    if (a >= 0x477ff000u) {
        return sign | 0x7c00u; // >= 65520 (the midpoint past 65504, a tie to even) or infinity
    }
    if (a >= 0x38800000u) {
        // Normal (>= 2^-14): rebias the exponent, round off 13 bits (a carry into the
        // exponent is the right result).
        dk_u32 h = (a - 0x38000000u) >> 13;
        const dk_u32 rest = a & 0x1fffu;
        h += (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ? 1u : 0u;
        return sign | h;
    }
    if (a <= 0x33000000u) {
        return sign; // <= 2^-25 (the midpoint to the least subnormal, a tie to even: 0)
    }
    // Subnormal result: the significand (with its implicit bit) in units of 2^-24.
    const dk_u32 m = (a & 0x7fffffu) | 0x800000u;
    const dk_u32 shift = 126u - (a >> 23); // 14 .. 24
    dk_u32 h = m >> shift;
    const dk_u32 rest = m & ((1u << shift) - 1u);
    const dk_u32 half = 1u << (shift - 1u);
    h += (rest > half || (rest == half && (h & 1u))) ? 1u : 0u;
    return sign | h;
}

// bfloat16 -> float, exact; a NaN comes back quiet.
DK_DEVICE float dk_bf16_to_f32(dk_u32 h) {
    if ((h & 0x7fffu) > 0x7f80u) {
        h |= 0x40u;
    }
    return __uint_as_float(h << 16);
}

// float -> bfloat16, to nearest with ties to even (overflow carries into infinity); a NaN
// stays a quiet NaN keeping the top bits of its payload.
DK_DEVICE dk_u32 dk_f32_to_bf16(float f) {
    const dk_u32 x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (x >> 16) | 0x40u;
    }
    const dk_u32 h = x >> 16;
    const dk_u32 rest = x & 0xffffu;
    return h + ((rest > 0x8000u || (rest == 0x8000u && (h & 1u))) ? 1u : 0u);
}

DK_DEVICE float dk_widen(dk_half v) { return dk_f16_to_f32(v.bits); }
DK_DEVICE float dk_widen(dk_bfloat16 v) { return dk_bf16_to_f32(v.bits); }
DK_DEVICE void dk_narrow(float v, dk_half* out) { out->bits = (unsigned short)dk_f32_to_f16(v); }
DK_DEVICE void dk_narrow(float v, dk_bfloat16* out) {
    out->bits = (unsigned short)dk_f32_to_bf16(v);
}

// ---------------------------------------------------------------------------------------
// Data element -> mask element (ops.rs MaskMap): 0 elementwise, 1 channels first
// (i / inner), 2 channels last ((i / (inner * C)) * C + i % C), 3 a general broadcast of a
// noise shape (ops.rs BroadcastMap: the data's axes merged into groups, outermost first, each
// with its size and its stride in the mask, 0 for a broadcast group; element i's mask index
// is the sum of its coordinates in the groups times their strides). The four elements of a
// group are mapped with one division (or two; groups - 1 for a broadcast) and increments.

#define DK_MAP_ELEMENTWISE 0u
#define DK_MAP_CHANNELS_FIRST 1u
#define DK_MAP_CHANNELS_LAST 2u
#define DK_MAP_BROADCAST 3u
#define DK_MAP_GROUPS 8 // ops.rs BROADCAST_GROUPS

// A map, passed to the kernels by value; src/cuda/launch.rs (DeviceMap) has the same layout.
// inner and channels are used by kinds 1 and 2, groups, dims and strides by kind 3.
struct dk_map {
    dk_u32 kind;
    dk_u32 groups;
    dk_u64 inner;
    dk_u64 channels;
    dk_u64 dims[DK_MAP_GROUPS];
    dk_u64 strides[DK_MAP_GROUPS];
};
static_assert(sizeof(dk_map) == 152, "dk_map's layout is DeviceMap's (src/cuda/launch.rs)");

DK_DEVICE dk_u64 dk_div(dk_u64 a, dk_u64 b) {
    // 32-bit division is several times cheaper; the result is the same.
    if (((a | b) >> 32) == 0) {
        return (dk_u64)((dk_u32)a / (dk_u32)b);
    }
    return a / b;
}

// Mask indices of elements i0 .. i0 + 3 (indices past the end are computed but unused).
DK_DEVICE void dk_mask_index4(dk_u64 i0, const dk_map& map, dk_u64 idx[4]) {
    const dk_u64 inner = map.inner, channels = map.channels;
    if (map.kind == DK_MAP_CHANNELS_FIRST) {
        dk_u64 q = dk_div(i0, inner);
        dk_u64 r = i0 - q * inner;
        for (int j = 0; j < 4; ++j) {
            idx[j] = q;
            if (++r == inner) {
                r = 0;
                ++q;
            }
        }
    } else if (map.kind == DK_MAP_CHANNELS_LAST) {
        // i = (n * inner + t) * C + c: q = i / C = n * inner + t, c = i % C.
        const dk_u64 q = dk_div(i0, channels);
        dk_u64 c = i0 - q * channels;
        dk_u64 n = dk_div(q, inner);
        dk_u64 t = q - n * inner;
        for (int j = 0; j < 4; ++j) {
            idx[j] = n * channels + c;
            if (++c == channels) {
                c = 0;
                if (++t == inner) {
                    t = 0;
                    ++n;
                }
            }
        }
    } else if (map.kind == DK_MAP_BROADCAST) {
        // i0's coordinate in each group, innermost first (the outermost one is what is left),
        // and its mask index; then the next element is the innermost coordinate plus one,
        // carried outwards. The loops run over all DK_MAP_GROUPS slots, skipping those past
        // groups, so that once unrolled every coord[k] is a register, not local memory.
        const int groups = (int)map.groups;
        dk_u64 coord[DK_MAP_GROUPS] = {0, 0, 0, 0, 0, 0, 0, 0};
        dk_u64 rest = i0, m = 0;
#pragma unroll
        for (int k = DK_MAP_GROUPS - 1; k > 0; --k) {
            if (k < groups) {
                const dk_u64 q = dk_div(rest, map.dims[k]);
                coord[k] = rest - q * map.dims[k];
                m += coord[k] * map.strides[k];
                rest = q;
            }
        }
        coord[0] = rest;
        m += rest * map.strides[0];
        for (int j = 0; j < 4; ++j) {
            idx[j] = m;
#pragma unroll
            for (int k = DK_MAP_GROUPS - 1; k >= 0; --k) {
                if (k < groups) {
                    m += map.strides[k];
                    if (++coord[k] < map.dims[k] || k == 0) {
                        break;
                    }
                    m -= map.dims[k] * map.strides[k];
                    coord[k] = 0;
                }
            }
        }
    } else {
        for (int j = 0; j < 4; ++j) {
            idx[j] = i0 + (dk_u64)j;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Loads and stores of one group of four elements (16 bytes for float, 32 for double, 8 for
// the half types).
// The launches check that buffers are 16-byte aligned (dropkit's own come from the pool,
// 256-byte aligned), so group g is too. A partial last group goes element by element.


DK_DEVICE void dk_load4(const float* p, dk_u64 g, dk_u64 n, float v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        const float4 t = reinterpret_cast<const float4*>(p)[g];
        v[0] = t.x;
        v[1] = t.y;
        v[2] = t.z;
        v[3] = t.w;
    } else {
        for (int j = 0; j < 4; ++j) {
            v[j] = i0 + j < n ? p[i0 + j] : 0.0f;
        }
    }
}

DK_DEVICE void dk_store4(float* p, dk_u64 g, dk_u64 n, const float v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        reinterpret_cast<float4*>(p)[g] = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        for (int j = 0; j < 4; ++j) {
            if (i0 + j < n) {
                p[i0 + j] = v[j];
            }
        }
    }
}

DK_DEVICE void dk_load4(const double* p, dk_u64 g, dk_u64 n, double v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        const double2 a = reinterpret_cast<const double2*>(p)[2 * g];
        const double2 b = reinterpret_cast<const double2*>(p)[2 * g + 1];
        v[0] = a.x;
        v[1] = a.y;
        v[2] = b.x;
        v[3] = b.y;
    } else {
        for (int j = 0; j < 4; ++j) {
            v[j] = i0 + j < n ? p[i0 + j] : 0.0;
        }
    }
}

DK_DEVICE void dk_store4(double* p, dk_u64 g, dk_u64 n, const double v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        reinterpret_cast<double2*>(p)[2 * g] = make_double2(v[0], v[1]);
        reinterpret_cast<double2*>(p)[2 * g + 1] = make_double2(v[2], v[3]);
    } else {
        for (int j = 0; j < 4; ++j) {
            if (i0 + j < n) {
                p[i0 + j] = v[j];
            }
        }
    }
}

// Half precision: four 2-byte elements are one 8-byte load or store (8-byte aligned like the
// group), widened to float / rounded from float.
template <typename H>
DK_DEVICE void dk_load4(const H* p, dk_u64 g, dk_u64 n, float v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        const dk_u64 t = reinterpret_cast<const dk_u64*>(p)[g];
        for (int j = 0; j < 4; ++j) {
            H h;
            h.bits = (unsigned short)(t >> (16 * j));
            v[j] = dk_widen(h);
        }
    } else {
        for (int j = 0; j < 4; ++j) {
            v[j] = i0 + j < n ? dk_widen(p[i0 + j]) : 0.0f;
        }
    }
}

template <typename H>
DK_DEVICE void dk_store4(H* p, dk_u64 g, dk_u64 n, const float v[4]) {
    const dk_u64 i0 = 4 * g;
    if (i0 + 4 <= n) {
        dk_u64 t = 0;
        for (int j = 0; j < 4; ++j) {
            H h;
            dk_narrow(v[j], &h);
            t |= (dk_u64)h.bits << (16 * j);
        }
        reinterpret_cast<dk_u64*>(p)[g] = t;
    } else {
        for (int j = 0; j < 4; ++j) {
            if (i0 + j < n) {
                dk_narrow(v[j], &p[i0 + j]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Launch geometry. Thread kernels: grid-stride over groups of four elements. Warp kernels
// (those that write a 1-bit mask): grid-stride over tiles of 32 groups (128 elements, four
// mask words) per warp, so the loop is warp-uniform and the shuffles see all 32 lanes.

DK_DEVICE dk_u64 dk_thread_id() { return (dk_u64)blockIdx.x * blockDim.x + threadIdx.x; }
DK_DEVICE dk_u64 dk_thread_count() { return (dk_u64)gridDim.x * blockDim.x; }
// A thread kernel's first group: its block's chunk of DK_UNROLL x blockDim groups, then its lane.
DK_DEVICE dk_u64 dk_block_start() {
    return (dk_u64)blockIdx.x * blockDim.x * DK_UNROLL + threadIdx.x;
}

// The lane's 4-bit nibble (bit j = element 4g + j) joined with those of the 7 lanes beside
// it: lane L holds group 32 t + L, i.e. bits 4 (L % 8) .. +3 of mask word 4 t + L / 8.
DK_DEVICE dk_u32 dk_pack_word(dk_u32 nibble, dk_u32 lane) {
    dk_u32 v = nibble << ((lane & 7u) * 4u);
    v |= __shfl_xor_sync(0xffffffffu, v, 1);
    v |= __shfl_xor_sync(0xffffffffu, v, 2);
    v |= __shfl_xor_sync(0xffffffffu, v, 4);
    return v;
}

// Dropout with fresh randomness: y = keep ? kept(x) : dropped, and the 1-bit mask if
// mask != 0.
// x == y is allowed (in place). A warp takes DK_UNROLL consecutive tiles per pass, loading
// all of them before it stores any (with 2 or more, its mask words fill whole 32-byte sectors).
// S is the storage type, C the compute type (S itself, or float for the half types).
template <typename S, typename C>
DK_DEVICE void dk_dropout(const S* x, S* y, dk_u32* mask, dk_u64 n, dk_u64 seed, dk_u64 draw,
                          dk_u64 threshold, dk_u32 mode, C k, C add, C dropped) {
    const dk_u64 groups = (n + 3) / 4;
    const dk_u64 tiles = (groups + 31) / 32;
    const dk_u64 mask_words = 2 * ((n + 63) / 64);
    const dk_u32 lane = threadIdx.x & 31u;
    const dk_u64 warps = dk_thread_count() >> 5;
    for (dk_u64 t0 = (dk_thread_id() >> 5) * DK_UNROLL; t0 < tiles; t0 += warps * DK_UNROLL) {
        C v[DK_UNROLL][4];
#pragma unroll
        for (int u = 0; u < DK_UNROLL; ++u) {
            const dk_u64 g = (t0 + u) * 32 + lane;
            if (g < groups) {
                dk_load4(x, g, n, v[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < DK_UNROLL; ++u) {
            const dk_u64 t = t0 + u;
            if (t >= tiles) {
                break; // the same t for the whole warp: the shuffles stay warp-uniform
            }
            const dk_u64 g = t * 32 + lane;
            dk_u32 nibble = 0;
            if (g < groups) {
                const dk_words w = dk_philox(g, draw, seed);
                for (int j = 0; j < 4; ++j) {
                    const bool keep = (dk_u64)w.w[j] >= threshold && 4 * g + j < n;
                    nibble |= (dk_u32)keep << j;
                    v[u][j] = keep ? dk_kept(v[u][j], mode, k, add) : dropped;
                }
                dk_store4(y, g, n, v[u]);
            }
            if (mask != 0) {
                const dk_u32 word = dk_pack_word(nibble, lane);
                const dk_u64 wi = t * 4 + (lane >> 3);
                if ((lane & 7u) == 0 && wi < mask_words) {
                    mask[wi] = word;
                }
            }
        }
    }
}

// The keep mask alone (the Spatial layers' (N, C) mask): len mask elements.
extern "C" __global__ void dk_keep_bits(dk_u32* mask, dk_u64 len, dk_u64 seed, dk_u64 draw,
                                        dk_u64 threshold) {
    const dk_u64 groups = (len + 3) / 4;
    const dk_u64 tiles = (groups + 31) / 32;
    const dk_u64 mask_words = 2 * ((len + 63) / 64);
    const dk_u32 lane = threadIdx.x & 31u;
    for (dk_u64 t = dk_thread_id() >> 5; t < tiles; t += dk_thread_count() >> 5) {
        const dk_u64 g = t * 32 + lane;
        dk_u32 nibble = 0;
        if (g < groups) {
            const dk_words w = dk_philox(g, draw, seed);
            for (int j = 0; j < 4; ++j) {
                const bool keep = (dk_u64)w.w[j] >= threshold && 4 * g + j < len;
                nibble |= (dk_u32)keep << j;
            }
        }
        const dk_u32 word = dk_pack_word(nibble, lane);
        const dk_u64 wi = t * 4 + (lane >> 3);
        if ((lane & 7u) == 0 && wi < mask_words) {
            mask[wi] = word;
        }
    }
}

// The loop of a thread kernel: per pass a block takes DK_UNROLL x blockDim consecutive groups,
// a thread every blockDim-th of them; a thread loads all of its groups of the pass before it
// transforms (f(g, v): the four values v of group g, in place) and stores any.
template <typename S, typename C, typename F>
DK_DEVICE void dk_thread_loop(const S* x, S* y, dk_u64 n, F f) {
    const dk_u64 groups = (n + 3) / 4;
    const dk_u64 stride = dk_thread_count() * DK_UNROLL;
    for (dk_u64 g0 = dk_block_start(); g0 < groups; g0 += stride) {
        C v[DK_UNROLL][4];
#pragma unroll
        for (int u = 0; u < DK_UNROLL; ++u) {
            const dk_u64 g = g0 + u * blockDim.x;
            if (g < groups) {
                dk_load4(x, g, n, v[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < DK_UNROLL; ++u) {
            const dk_u64 g = g0 + u * blockDim.x;
            if (g >= groups) {
                break;
            }
            f(g, v[u]);
            dk_store4(y, g, n, v[u]);
        }
    }
}

// A stored mask: y = keep(mask[map(i)]) ? kept(x) : dropped.
template <typename S, typename C>
DK_DEVICE void dk_apply_mask(const S* x, S* y, const dk_u32* mask, dk_u64 n, const dk_map& map,
                             dk_u32 mode, C k, C add, C dropped) {
    dk_thread_loop<S, C>(x, y, n, [&](dk_u64 g, C* v) {
        dk_u32 nibble;
        if (map.kind == DK_MAP_ELEMENTWISE) {
            nibble = (mask[g >> 3] >> ((dk_u32)(g & 7) * 4u)) & 0xfu;
        } else {
            dk_u64 idx[4];
            dk_mask_index4(4 * g, map, idx);
            nibble = 0;
            for (int j = 0; j < 4; ++j) {
                if (4 * g + j < n) {
                    nibble |= ((mask[idx[j] >> 5] >> (dk_u32)(idx[j] & 31)) & 1u) << j;
                }
            }
        }
        for (int j = 0; j < 4; ++j) {
            v[j] = (nibble >> j) & 1u ? dk_kept(v[j], mode, k, add) : dropped;
        }
    });
}

// Gaussian noise: y = x * e (op 0) or x + e (op 1), e = T(mean) + T(stddev) * T(normal).
template <typename S, typename C>
DK_DEVICE void dk_noise(const S* x, S* y, dk_u64 n, dk_u64 seed, dk_u64 draw, C mean, C stddev,
                        dk_u32 op) {
    dk_thread_loop<S, C>(x, y, n, [&](dk_u64 g, C* v) {
        float nr[4];
        dk_normals4(dk_philox(g, draw, seed), nr);
        for (int j = 0; j < 4; ++j) {
            v[j] = dk_noise_value(v[j], mean, stddev, nr[j], op);
        }
    });
}

// The noise values of a noise shape of len elements (GaussianDropout's and GaussianNoise's
// noise_shape), in the compute type C: value i is what dk_noise gives element i of an input
// of ones (op 0) or zeros (op 1), identity op e = e, as the CPU's kernels::noise_broadcast
// computes them.
template <typename C>
DK_DEVICE void dk_noise_values(C* values, dk_u64 len, dk_u64 seed, dk_u64 draw, C mean,
                               C stddev, dk_u32 op) {
    const C identity = op == DK_NOISE_ADD ? (C)0 : (C)1;
    const dk_u64 groups = (len + 3) / 4;
    for (dk_u64 g = dk_thread_id(); g < groups; g += dk_thread_count()) {
        float nr[4];
        dk_normals4(dk_philox(g, draw, seed), nr);
        C v[4];
        for (int j = 0; j < 4; ++j) {
            v[j] = dk_noise_value(identity, mean, stddev, nr[j], op);
        }
        dk_store4(values, g, len, v);
    }
}

// The noise values broadcast to the data: y = x * values[map(i)] (op 0) or
// x + values[map(i)] (op 1), in the compute type, rounded once.
template <typename S, typename C>
DK_DEVICE void dk_noise_broadcast(const S* x, S* y, const C* values, dk_u64 n, const dk_map& map,
                                  dk_u32 op) {
    dk_thread_loop<S, C>(x, y, n, [&](dk_u64 g, C* v) {
        dk_u64 idx[4];
        dk_mask_index4(4 * g, map, idx);
        for (int j = 0; j < 4; ++j) {
            if (4 * g + j < n) {
                v[j] = dk_noise_combine(v[j], values[idx[j]], op);
            }
        }
    });
}

// y = x * k (evaluation without scale).
template <typename S, typename C>
DK_DEVICE void dk_scale(const S* x, S* y, dk_u64 n, C k) {
    const dk_u64 groups = (n + 3) / 4;
    for (dk_u64 g = dk_thread_id(); g < groups; g += dk_thread_count()) {
        C v[4];
        dk_load4(x, g, n, v);
        for (int j = 0; j < 4; ++j) {
            v[j] = dk_mul(v[j], k);
        }
        dk_store4(y, g, n, v);
    }
}

// One instantiation per element type: storage S, compute type C (the constants' type).
#define DK_INSTANTIATE(S, C, SUFFIX)                                                            \
    extern "C" __global__ void dk_dropout_##SUFFIX(const S* x, S* y, dk_u32* mask, dk_u64 n,    \
                                                   dk_u64 seed, dk_u64 draw, dk_u64 threshold,  \
                                                   dk_u32 mode, C k, C add, C dropped) {        \
        dk_dropout<S, C>(x, y, mask, n, seed, draw, threshold, mode, k, add, dropped);          \
    }                                                                                           \
    extern "C" __global__ void dk_apply_mask_##SUFFIX(const S* x, S* y, const dk_u32* mask,     \
                                                      dk_u64 n, dk_map map, dk_u32 mode, C k,   \
                                                      C add, C dropped) {                       \
        dk_apply_mask<S, C>(x, y, mask, n, map, mode, k, add, dropped);                         \
    }                                                                                           \
    extern "C" __global__ void dk_noise_##SUFFIX(const S* x, S* y, dk_u64 n, dk_u64 seed,       \
                                                 dk_u64 draw, C mean, C stddev, dk_u32 op) {    \
        dk_noise<S, C>(x, y, n, seed, draw, mean, stddev, op);                                  \
    }                                                                                           \
    extern "C" __global__ void dk_noise_values_##SUFFIX(C* values, dk_u64 len, dk_u64 seed,     \
                                                        dk_u64 draw, C mean, C stddev,          \
                                                        dk_u32 op) {                            \
        dk_noise_values<C>(values, len, seed, draw, mean, stddev, op);                          \
    }                                                                                           \
    extern "C" __global__ void dk_noise_broadcast_##SUFFIX(const S* x, S* y, const C* values,   \
                                                           dk_u64 n, dk_map map, dk_u32 op) {   \
        dk_noise_broadcast<S, C>(x, y, values, n, map, op);                                     \
    }                                                                                           \
    extern "C" __global__ void dk_scale_##SUFFIX(const S* x, S* y, dk_u64 n, C k) {             \
        dk_scale<S, C>(x, y, n, k);                                                             \
    }

DK_INSTANTIATE(float, float, f32)
DK_INSTANTIATE(double, double, f64)
DK_INSTANTIATE(dk_half, float, f16)
DK_INSTANTIATE(dk_bfloat16, float, bf16)
