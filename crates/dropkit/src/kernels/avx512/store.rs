//! Stores of whole vectors: plain, or non-temporal whole 64-byte lines at any alignment.

use std::arch::x86_64::*;

/// Where a kernel's output vectors go, one 64-byte vector after the other in element order.
///
/// Plain (`NT = false`): unaligned stores. Non-temporal (`NT`): stores that write around the
/// cache, which need 64-byte aligned lines; the output may start at any multiple of 4 bytes
/// (`a` bytes into a line). The first vector's bytes up to the first line boundary are a
/// masked plain store; from then on each aligned line is the end of the previous vector and
/// the start of this one, joined by one two-source permute; [`Stores::finish`] writes the
/// last vector's remaining `a` bytes (a masked plain store) and fences. Only the output's own
/// bytes are written.
#[derive(Debug)]
pub(crate) struct Stores<const NT: bool> {
    /// Lane `i`: lane `i + lead / 4` of the 32 lanes of (previous vector, this vector).
    join: __m512i,
    /// The lanes of the first vector before the first line boundary.
    head: __mmask16,
    /// Bytes from a vector's address to the line boundary inside or after it (`64 - a`).
    lead: usize,
    /// The last vector put, not yet fully stored (`NT` only), and its address (null: none).
    prev: __m512i,
    prev_at: *mut u8,
}

impl<const NT: bool> Stores<NT> {
    /// Stores for an output starting at `dst` (4-byte aligned with `NT`; plain stores take
    /// any address).
    #[inline(always)]
    pub(super) unsafe fn new(dst: *mut u8) -> Self {
        debug_assert!(!NT || (dst as usize).is_multiple_of(4));
        let lead = 64 - dst as usize % 64;
        let lanes = (lead / 4) as i32;
        // SAFETY: register arithmetic; the caller enabled AVX-512F.
        unsafe {
            let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            Stores {
                join: _mm512_add_epi32(iota, _mm512_set1_epi32(lanes)),
                head: ((1u32 << lanes) - 1) as __mmask16,
                lead,
                prev: _mm512_setzero_si512(),
                prev_at: std::ptr::null_mut(),
            }
        }
    }

    /// Writes `v` (64 bytes) at `at`: the output's first vector, or the one right after the
    /// previous `put`.
    #[inline(always)]
    pub(super) unsafe fn put(&mut self, at: *mut u8, v: __m512i) {
        // SAFETY: the caller guarantees 64 writable output bytes at `at` and AVX-512F; with
        // NT, the joined line lies within the previous vector and this one (the line boundary
        // `lead` bytes after the previous vector's address), so it is 64-byte aligned output.
        unsafe {
            if !NT {
                _mm512_storeu_si512(at.cast(), v);
                return;
            }
            if self.prev_at.is_null() {
                _mm512_mask_storeu_epi32(at.cast(), self.head, v);
            } else {
                debug_assert_eq!(at, self.prev_at.wrapping_add(64));
                let line = _mm512_permutex2var_epi32(self.prev, self.join, v);
                _mm512_stream_si512(self.prev_at.add(self.lead).cast(), line);
            }
        }
        self.prev = v;
        self.prev_at = at;
    }

    /// Writes what is left of the last vector and, after non-temporal stores, fences (they
    /// are weakly ordered): the chunk then counts as done.
    #[inline(always)]
    pub(super) unsafe fn finish(self) {
        if NT {
            // SAFETY: the last vector's own bytes, after the line boundary `put` stopped at;
            // AVX-512F is enabled by the caller.
            unsafe {
                if !self.prev_at.is_null() {
                    _mm512_mask_storeu_epi32(self.prev_at.cast(), !self.head, self.prev);
                }
                _mm_sfence();
            }
        }
    }
}

/// The 64 bytes at `p`, by a plain load that the compiler cannot fold into a masked
/// instruction. The masked kernels select lanes after loading: a zero-masking load, or a
/// masked instruction with a memory operand, streaming from memory ran at half the speed of a
/// plain load here (AMD Zen 5).
///
/// # Safety
/// `p` must be valid for 64 bytes of reads; the CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn load_plain(p: *const u8) -> __m512i {
    let v: __m512i;
    // SAFETY: reads the 64 bytes at p (the caller's contract) into a register; no other
    // effect.
    unsafe {
        std::arch::asm!(
            "vmovdqu64 {v}, [{p}]",
            v = out(zmm_reg) v,
            p = in(reg) p,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    v
}
