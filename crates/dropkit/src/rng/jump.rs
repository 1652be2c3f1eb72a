//! MT19937 jump-ahead: the generator at any word position without generating the words
//! before it, by the polynomial method for GF(2)-linear generators.
//!
//! MT19937's words follow `x[k + 624] = x[k + 397] ^ A(upper(x[k]) | lower(x[k + 1]))`, a
//! linear map `F` over GF(2) on the window `S_k = (upper bit of x[k], x[k + 1], ...,
//! x[k + 623])`: 19937 bits (the lower 31 bits of `x[k]` never enter it). So
//! `S_{k + J} = F^J S_k = g(F) S_k` for `g(t) = t^J mod phi(t)`, where `phi` is the
//! characteristic polynomial of `F`, of degree 19937:
//! - `phi` is computed once per process, by Berlekamp-Massey on 2 x 19937 bits of one seed's
//!   sequence (the top bit of each `x[k]`): as `phi` is irreducible, that sequence's minimal
//!   polynomial is `phi` itself;
//! - `t^J mod phi` by square-and-multiply, for `J` up to `2^64 + 623`;
//! - `g(F) S_0` by Horner's rule: 19937 steps of `F` and an addition of `S_0` per nonzero
//!   coefficient.
//!
//! A jump costs the same for any `J` (a few milliseconds); replaying is cheaper below
//! [`REPLAY_LIMIT`] words.

use std::sync::OnceLock;

use super::mt_params::{seeded_state, LOWER, M, MATRIX_A, N, UPPER};

/// Bits of MT19937's state, and the degree of `phi`.
const DEG: usize = 19937;
/// `u64` words of a polynomial of degree below `DEG`.
const POLY_WORDS: usize = DEG.div_ceil(64);
/// `u64` words of a product of two of them.
const WIDE_WORDS: usize = 2 * POLY_WORDS;

/// Up to this many words, generating them (about 2 ns each) is cheaper than a jump.
pub(super) const REPLAY_LIMIT: u64 = 1 << 20;

/// `phi(t) = t^DEG + sum of t^e for e in low`.
#[derive(Debug)]
struct CharPoly {
    /// The exponents below `DEG` whose coefficient is 1, highest first.
    low: Vec<usize>,
    /// How many of the top bits one reduction step clears: `DEG - max(low)`, at most 64.
    chunk: usize,
}

fn char_poly() -> &'static CharPoly {
    static PHI: OnceLock<CharPoly> = OnceLock::new();
    PHI.get_or_init(compute_char_poly)
}

/// The next word of the window ring `r` whose oldest word is `r[o]`, written over it.
#[inline]
fn step(r: &mut [u32; N], o: &mut usize) {
    let at = |i: usize| r[(*o + i) % N];
    let y = (at(0) & UPPER) | (at(1) & LOWER);
    let mut v = at(M) ^ (y >> 1);
    if y & 1 != 0 {
        v ^= MATRIX_A;
    }
    r[*o] = v;
    *o = (*o + 1) % N;
}

fn bit(p: &[u64], i: usize) -> bool {
    (p[i / 64] >> (i % 64)) & 1 != 0
}

/// Bits `[pos, pos + 64)` of `p` (zero past its end).
fn window(p: &[u64], pos: usize) -> u64 {
    let (w, s) = (pos / 64, pos % 64);
    let lo = p.get(w).copied().unwrap_or(0);
    if s == 0 {
        return lo;
    }
    let hi = p.get(w + 1).copied().unwrap_or(0);
    (lo >> s) | (hi << (64 - s))
}

/// `dst ^= src * t^shift`, dropping what falls past `dst`'s end.
fn xor_shifted(dst: &mut [u64], src: &[u64], shift: usize) {
    let (ws, bs) = (shift / 64, shift % 64);
    for (j, &v) in src.iter().enumerate() {
        if v == 0 {
            continue;
        }
        if let Some(d) = dst.get_mut(j + ws) {
            *d ^= v << bs;
        }
        if bs != 0 {
            if let Some(d) = dst.get_mut(j + ws + 1) {
                *d ^= v >> (64 - bs);
            }
        }
    }
}

/// `phi`, from the minimal polynomial of the top bits of one seed's words.
fn compute_char_poly() -> CharPoly {
    // The sequence x[0..2 DEG) from any seed: its top bits are a nonzero linear
    // recurring sequence of F.
    let len = 2 * DEG;
    let mut x: Vec<u32> = seeded_state(5489).to_vec();
    while x.len() < len {
        let k = x.len() - N;
        let y = (x[k] & UPPER) | (x[k + 1] & LOWER);
        let mut v = x[k + M] ^ (y >> 1);
        if y & 1 != 0 {
            v ^= MATRIX_A;
        }
        x.push(v);
    }
    // Reversed, so that the discrepancy at k is a dot product with a window of it.
    let mut rev = vec![0u64; (2 * len) / 64 + 4];
    for (k, &w) in x.iter().enumerate() {
        if w >> 31 != 0 {
            let i = len - 1 - k;
            rev[i / 64] |= 1 << (i % 64);
        }
    }
    // Berlekamp-Massey over GF(2): c is the connection polynomial, of degree <= l.
    let cap = len / 64 + 2;
    let mut c = vec![0u64; cap];
    c[0] = 1;
    let mut b = c.clone();
    let (mut l, mut m) = (0usize, 1usize);
    for k in 0..len {
        let off = len - 1 - k;
        let mut d = 0u64;
        for j in 0..=l / 64 {
            d ^= c[j] & window(&rev, off + 64 * j);
        }
        if d.count_ones().is_multiple_of(2) {
            m += 1;
        } else if 2 * l <= k {
            let t = c.clone();
            xor_shifted(&mut c, &b, m);
            l = k + 1 - l;
            b = t;
            m = 1;
        } else {
            xor_shifted(&mut c, &b, m);
            m += 1;
        }
    }
    // MT19937's state has 19937 bits and phi is irreducible: anything else is a bug here.
    assert_eq!(
        l, DEG,
        "MT19937's characteristic polynomial has degree 19937"
    );
    // phi(t) = t^l c(1/t): the coefficient of t^e is c[l - e].
    let low: Vec<usize> = (0..DEG).rev().filter(|&e| bit(&c, DEG - e)).collect();
    let chunk = (DEG - low[0]).min(64);
    CharPoly { low, chunk }
}

/// Reduces `p`, whose bits at `hi` and above are zero, modulo `phi`: from the top, `chunk`
/// bits at a time, each replaced by its multiples of `phi`'s lower terms.
fn reduce(p: &mut [u64], hi: usize, phi: &CharPoly) {
    let mut hi = hi;
    while hi > DEG {
        let lo = hi.saturating_sub(phi.chunk).max(DEG);
        let width = hi - lo;
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        let v = window(p, lo) & mask;
        if v != 0 {
            xor_bits(p, lo, v);
            for &e in &phi.low {
                // Below `lo`, as `e + width <= max(low) + chunk <= DEG`.
                xor_bits(p, lo - DEG + e, v);
            }
        }
        hi = lo;
    }
}

/// `p ^= v * t^pos`.
fn xor_bits(p: &mut [u64], pos: usize, v: u64) {
    let (w, s) = (pos / 64, pos % 64);
    p[w] ^= v << s;
    if s != 0 {
        let carry = v >> (64 - s);
        if carry != 0 {
            p[w + 1] ^= carry;
        }
    }
}

/// Bits 0..32 of `x` spread to the even bits of the result (squaring over GF(2)).
fn spread(x: u32) -> u64 {
    let mut x = u64::from(x);
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | x << 2) & 0x3333_3333_3333_3333;
    x = (x | x << 1) & 0x5555_5555_5555_5555;
    x
}

/// `t^j mod phi`, in `POLY_WORDS` words.
fn t_power(j: u128, phi: &CharPoly) -> Vec<u64> {
    let mut g = vec![0u64; WIDE_WORDS];
    g[0] = 1;
    for i in (0..128 - j.leading_zeros()).rev() {
        // g = g^2: from the top word down, so every word is read before it is written.
        for w in (0..POLY_WORDS).rev() {
            let v = g[w];
            g[2 * w] = spread(v as u32);
            g[2 * w + 1] = spread((v >> 32) as u32);
        }
        reduce(&mut g, 2 * DEG - 1, phi);
        if (j >> i) & 1 != 0 {
            // g = g * t.
            let mut carry = 0;
            for w in g.iter_mut().take(POLY_WORDS) {
                let next = *w >> 63;
                *w = (*w << 1) | carry;
                carry = next;
            }
            reduce(&mut g, DEG + 1, phi);
        }
    }
    g.truncate(POLY_WORDS);
    g
}

/// The state array and index of an [`super::Mt19937`] seeded with `init` (its state after
/// `init_genrand`) that has produced `words` words, for `words >= 1`.
///
/// After `b` twists the state array holds `x[624 b .. 624 b + 624)`, and the word at
/// position `w` is `temper(x[624 + w])`; position `words` is reached with
/// `b = ceil(words / 624)` and index `words - 624 (b - 1)` (in `1..=624`). That window,
/// whose oldest word must be whole, is one step after `S_{624 b - 1}`.
pub(super) fn state_at(init: &[u32; N], words: u64) -> (Box<[u32; N]>, usize) {
    debug_assert!(words >= 1);
    let twists = u128::from(words).div_ceil(N as u128);
    let g = t_power(N as u128 * twists - 1, char_poly());
    // Horner: acc = (...((g_d F + g_{d-1}) F + ...) F + g_0) S_0, on a ring of 624 words.
    let mut r = [0u32; N];
    let mut o = 0usize;
    let top = (0..DEG).rev().find(|&i| bit(&g, i));
    for i in (0..=top.unwrap_or(0)).rev() {
        step(&mut r, &mut o);
        if bit(&g, i) {
            let (tail, head) = r.split_at_mut(o);
            for (d, s) in head.iter_mut().chain(tail.iter_mut()).zip(init.iter()) {
                *d ^= s;
            }
        }
    }
    // r is S_{624 b - 1} in its 19937 bits (the oldest word's lower bits are not its own);
    // one more step gives x[624 b .. 624 b + 624) whole.
    step(&mut r, &mut o);
    let mut state = Box::new([0u32; N]);
    for (i, s) in state.iter_mut().enumerate() {
        *s = r[(o + i) % N];
    }
    let index = (u128::from(words) + N as u128 - N as u128 * twists) as usize;
    (state, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_has_degree_19937_and_the_published_weight() {
        let phi = char_poly();
        // MT19937's characteristic polynomial is known to have 135 nonzero coefficients
        // (t^19937 and 134 lower terms): an independent check of Berlekamp-Massey here.
        assert_eq!(phi.low.len() + 1, 135);
        assert_eq!(*phi.low.last().unwrap(), 0);
        assert!(phi.chunk >= 1 && phi.low[0] < DEG);
        assert!(phi.low.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn t_power_agrees_with_repeated_multiplication() {
        let phi = char_poly();
        // t^j by shifting one at a time, for j across the first reductions.
        let mut g = vec![0u64; WIDE_WORDS];
        g[0] = 1;
        for j in 0..(DEG as u128 + 200) {
            if j % 97 == 0 || (DEG as u128 - 2..DEG as u128 + 2).contains(&j) {
                assert_eq!(t_power(j, phi), g[..POLY_WORDS], "t^{j}");
            }
            let mut carry = 0;
            for w in g.iter_mut().take(POLY_WORDS) {
                let next = *w >> 63;
                *w = (*w << 1) | carry;
                carry = next;
            }
            reduce(&mut g, DEG + 1, phi);
        }
    }
}
