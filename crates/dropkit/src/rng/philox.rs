//! Philox4x32-10, the counter-based generator of Random123 (Salmon et al., "Parallel random
//! numbers: as easy as 1, 2, 3", SC 2011), the same function as cuRAND's `Philox4_32_10`.
//!
//! dropkit's mapping: the key is the 64-bit seed (low word first), the
//! counter of element `i` in draw `d` is `(lo(i / 4), hi(i / 4), lo(d), hi(d))`, and element
//! `i` takes word `i % 4` of that block. A keep decision is `word >= round(p * 2^32)`.

/// Multiplier of the first lane pair.
const M0: u32 = 0xD251_1F53;
/// Multiplier of the second lane pair.
const M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (golden ratio).
pub(crate) const W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (sqrt(3) - 1).
pub(crate) const W1: u32 = 0xBB67_AE85;

/// The Philox4x32 block function with 10 rounds.
///
/// # Example
/// ```
/// // Known-answer vector from Random123's kat_vectors (also in the crate's tests/data).
/// let out = dropkit::rng::philox4x32_10([0; 4], [0; 2]);
/// assert_eq!(out, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The Philox key of a 64-bit seed: `(lo(seed), hi(seed))`.
#[inline(always)]
pub fn key_of_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox counter of block `block` (elements `4 * block .. 4 * block + 4`) in draw `draw`.
#[inline(always)]
pub fn counter_of(block: u64, draw: u64) -> [u32; 4] {
    [
        block as u32,
        (block >> 32) as u32,
        draw as u32,
        (draw >> 32) as u32,
    ]
}

/// The four words of block `block` in draw `draw` of generator `seed`.
#[inline(always)]
pub fn block(seed: u64, draw: u64, block: u64) -> [u32; 4] {
    philox4x32_10(counter_of(block, draw), key_of_seed(seed))
}

/// The random word of logical element `index` in draw `draw` of generator `seed`.
#[inline]
pub fn word(seed: u64, draw: u64, index: u64) -> u32 {
    block(seed, draw, index / 4)[(index % 4) as usize]
}

/// The keep threshold of drop probability `p` (in `[0, 1]`): an element is kept iff its
/// word, widened to `u64`, is `>=` this value. `p = 0` gives 0 (keep all), `p = 1` gives
/// `2^32` (drop all).
#[inline]
pub fn keep_threshold(p: f64) -> u64 {
    debug_assert!((0.0..=1.0).contains(&p));
    (p * 4_294_967_296.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `tests/data/philox4x32_10_kat.txt` (Random123's known-answer vectors).
    #[test]
    fn known_answer_vectors() {
        let text = include_str!("../../tests/data/philox4x32_10_kat.txt");
        let mut n = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(&f[..2], &["philox4x32", "10"]);
            let h = |s: &str| u32::from_str_radix(s, 16).unwrap();
            let ctr = [h(f[2]), h(f[3]), h(f[4]), h(f[5])];
            let key = [h(f[6]), h(f[7])];
            let want = [h(f[8]), h(f[9]), h(f[10]), h(f[11])];
            assert_eq!(philox4x32_10(ctr, key), want, "{line}");
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn mapping_uses_seed_as_key_and_draw_as_high_counter() {
        let seed = 0x0123_4567_89ab_cdef_u64;
        let b = block(seed, 7, 5);
        assert_eq!(b, philox4x32_10([5, 0, 7, 0], [0x89ab_cdef, 0x0123_4567]));
        assert_eq!(word(seed, 7, 22), b[2]);
    }

    #[test]
    fn thresholds_at_the_edges() {
        assert_eq!(keep_threshold(0.0), 0);
        assert_eq!(keep_threshold(1.0), 1 << 32);
        assert_eq!(keep_threshold(0.5), 1 << 31);
    }
}
