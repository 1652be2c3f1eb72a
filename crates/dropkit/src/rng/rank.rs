//! Per-rank streams: the Philox seed of one data-parallel rank (one process of a
//! distributed job), derived from the job's seed and the rank.

/// SplitMix64's increment (the golden ratio), applied to the rank before the finalizer.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// The first multiplier of the finalizer.
const MIX1: u64 = 0xBF58_476D_1CE4_E5B9;
/// The second multiplier of the finalizer.
const MIX2: u64 = 0x94D0_49BB_1331_11EB;

/// The bijective 64-bit mix of a rank (`mix(0) = 0`).
#[inline]
fn mix(rank: u64) -> u64 {
    let mut z = rank.wrapping_mul(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(MIX1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX2);
    z ^ (z >> 31)
}

/// The Philox seed (key) of data-parallel rank `rank` in a job seeded with `seed`.
///
/// For a fixed `seed`, distinct ranks always get distinct seeds, so their streams never
/// share a `(key, draw)` pair and never a mask; rank 0 gets `seed` itself.
///
/// # The rule
/// `rank_seed(seed, rank) = seed XOR mix(rank)`, where `mix` is the 64-bit finalizer of
/// Steele, Lea and Flood's SplitMix64 (Stafford's "Mix13" constants) applied to
/// `rank * 0x9E3779B97F4A7C15` (all arithmetic modulo `2^64`):
///
/// ```text
/// z = rank * 0x9E3779B97F4A7C15
/// z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
/// z = (z ^ (z >> 27)) * 0x94D049BB133111EB
/// mix(rank) = z ^ (z >> 31)
/// ```
///
/// # Why it never collides
/// Every step of `mix` is a bijection of the 64-bit integers: multiplying by an odd constant
/// is invertible modulo `2^64`, and `z ^ (z >> s)` with `s > 0` is invertible (the top `s`
/// bits are unchanged, and each lower bit is recovered from the bits above it). So `mix` is
/// a bijection, and so is `rank -> seed XOR mix(rank)` for a fixed `seed`: distinct ranks
/// get distinct seeds, which are distinct Philox keys (the key is the seed). For a fixed
/// rank, distinct seeds give distinct keys as well.
///
/// A Philox draw evaluates `philox4x32_10(counter, key)` with the counter made of the draw
/// index and the element's block (see [`block`](super::block)). Two ranks of one job have
/// different keys, so no input `(counter, key)` is ever evaluated by two ranks: whatever draw indices
/// and tensor sizes the ranks use, they never share a `(key, draw)` pair, and so never a
/// mask or a noise tensor. Philox is built as a keyed family (Salmon et al., SC 2011): each
/// key selects a different pseudo-random bijection of the counters, designed so that the
/// streams of distinct keys are statistically independent; and each rank's stream replays
/// exactly from `(seed, rank)`.
///
/// `mix(0) = 0`: rank 0 uses `seed` itself, so a single-process run seeded with `seed`
/// draws what rank 0 of the distributed run draws.
///
/// Seeds of different jobs can meet (`rank_seed(s, r) == rank_seed(s', r')` for some
/// `s != s'`): 128 bits of `(seed, rank)` cannot map one to one into a 64-bit key. The
/// guarantee is per job, for one seed.
///
/// # Example
/// ```
/// use dropkit::rng::rank_seed;
/// use dropkit::{Dropout, GeneratorKind, Module};
/// let (seed, rank) = (42, 3); // e.g. torch.distributed's rank
/// let mut layer = Dropout::new(0.5)?;
/// layer.set_seed(rank_seed(seed, rank), GeneratorKind::Philox);
/// assert_eq!(rank_seed(seed, 0), seed);
/// assert_ne!(rank_seed(seed, 1), rank_seed(seed, 2));
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Reproducibility
/// The rule is part of the stable API: the same `(seed, rank)` gives the same seed in every
/// version, on every platform (tests pin values).
#[inline]
pub fn rank_seed(seed: u64, rank: u64) -> u64 {
    seed ^ mix(rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The inverse of a multiplication by an odd `a` modulo `2^64` (Newton's iteration: each
    /// step doubles the correct low bits, from 3 correct bits for `x = a`).
    fn inverse_odd(a: u64) -> u64 {
        let mut x = a;
        for _ in 0..5 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    }

    /// The inverse of `z ^ (z >> s)`: the top `s` bits are unchanged, each pass recovers `s`
    /// more.
    fn unshift(y: u64, s: u32) -> u64 {
        let mut z = y;
        for _ in 0..(64 / s + 1) {
            z = y ^ (z >> s);
        }
        z
    }

    /// `mix` undone step by step: a left inverse proves `mix` one to one.
    fn unmix(y: u64) -> u64 {
        let z = unshift(y, 31);
        let z = unshift(z.wrapping_mul(inverse_odd(MIX2)), 27);
        let z = unshift(z.wrapping_mul(inverse_odd(MIX1)), 30);
        z.wrapping_mul(inverse_odd(GOLDEN))
    }

    #[test]
    fn the_multiplier_inverses_are_inverses() {
        for a in [GOLDEN, MIX1, MIX2, 1, 3, u64::MAX] {
            assert_eq!(a.wrapping_mul(inverse_odd(a)), 1, "{a:#x}");
        }
    }

    #[test]
    fn mix_is_a_bijection_on_sampled_values() {
        // Ranks, powers of two and their neighbours, and a Weyl walk over the whole range.
        let mut values: Vec<u64> = (0..4096).collect();
        values.extend((0..64).flat_map(|b| {
            let p = 1u64 << b;
            [p - 1, p, p.wrapping_add(1)]
        }));
        values.extend((0..4096u64).map(|i| i.wrapping_mul(0xD1B5_4A32_D192_ED03)));
        values.push(u64::MAX);
        for v in values {
            assert_eq!(unmix(mix(v)), v, "rank {v}");
        }
    }

    #[test]
    fn distinct_ranks_get_distinct_seeds() {
        // 2^20 ranks for seeds that are small, large, and the images of other ranks
        // (the case a XOR rule could fold onto itself if mix were not one to one).
        let ranks = 1u64 << 20;
        for seed in [0, 1, 42, u64::MAX, mix(1), mix(7) ^ 5] {
            let keys: HashSet<u64> = (0..ranks).map(|r| rank_seed(seed, r)).collect();
            assert_eq!(keys.len() as u64, ranks, "seed {seed:#x}");
        }
    }

    #[test]
    fn rank_zero_keeps_the_seed_and_the_rule_is_xor() {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(rank_seed(seed, 0), seed);
            for rank in [1, 2, 1000, u64::MAX] {
                assert_eq!(rank_seed(seed, rank) ^ seed, mix(rank));
            }
        }
    }
}
