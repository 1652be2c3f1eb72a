//! Per-rank streams ([`dropkit::rank_seed`]): pinned seeds, distinct seeds over many ranks,
//! and the masks the ranks of one job draw.
//!
//! The pinned seeds were checked independently: `rank_seed(0, 1)` is SplitMix64's first
//! output from state 0 (0xe220a8397b1dcdaf, the published sequence), and all of them
//! against a separate Python implementation of the documented rule.

use std::collections::HashSet;

use dropkit::functional::{dropout, gaussian_noise, DropoutArgs, GaussianNoiseArgs};
use dropkit::{rank_seed, Dropout, GeneratorKind, Module};
use ndarray::Array2;

#[test]
fn pinned_values() {
    let pinned: [(u64, u64, u64); 8] = [
        (0, 0, 0),
        (0, 1, 0xe220_a839_7b1d_cdaf),
        (0, 2, 0x6e78_9e6a_a1b9_65f4),
        (42, 1, 0xe220_a839_7b1d_cd85),
        (42, 3, 0x06c4_5d18_8009_4565),
        (42, 1023, 0xf690_29b9_01ef_a387),
        (u64::MAX, 7, 0xd37d_6541_e0ba_cd1e),
        (123_456_789, u64::MAX, 0x3365_03c6_bf6e_73d5),
    ];
    for (seed, rank, want) in pinned {
        assert_eq!(rank_seed(seed, rank), want, "rank_seed({seed}, {rank})");
    }
}

#[test]
fn many_ranks_of_one_seed_get_distinct_seeds() {
    for seed in [0u64, 7, 1 << 40, u64::MAX] {
        let ranks = 1u64 << 16;
        let seeds: HashSet<u64> = (0..ranks).map(|r| rank_seed(seed, r)).collect();
        assert_eq!(seeds.len() as u64, ranks, "seed {seed}");
        // Large rank numbers too (a job may number its ranks sparsely).
        let sparse: HashSet<u64> = (0..ranks).map(|r| rank_seed(seed, r << 40)).collect();
        assert_eq!(sparse.len() as u64, ranks, "seed {seed}, sparse ranks");
    }
}

/// Dropout masks (as the nonzero pattern) of ranks 0..8 at draws 0..4: pairwise different
/// (with 4096 elements at p = 0.5, two independent masks agree with probability 2^-4096),
/// and each rank's masks are those of a layer seeded with its rank seed.
#[test]
fn ranks_draw_different_masks_and_replay() {
    let x = Array2::from_elem((64, 64), 1.0f32);
    let seed = 2024;
    let mut seen = HashSet::new();
    for rank in 0..8u64 {
        let mut layer = Dropout::new(0.5).unwrap();
        layer.set_seed(rank_seed(seed, rank), GeneratorKind::Philox);
        for draw in 0..4u64 {
            let y = layer.forward(&x).unwrap();
            let args = DropoutArgs {
                p: 0.5,
                seed: rank_seed(seed, rank),
                draw,
                ..Default::default()
            };
            assert_eq!(dropout(&x, &args).unwrap(), y, "rank {rank} draw {draw}");
            let mask: Vec<bool> = y.iter().map(|&v| v != 0.0).collect();
            assert!(seen.insert(mask), "rank {rank} draw {draw} repeats a mask");
        }
    }
    assert_eq!(seen.len(), 32);
}

/// Rank 0 of a job is the single-process run with the job's seed.
#[test]
fn rank_zero_is_the_single_process_stream() {
    let x = Array2::from_shape_fn((16, 16), |(i, j)| (i * 16 + j) as f64);
    let args = |seed| GaussianNoiseArgs {
        stddev: 0.5,
        seed,
        draw: 3,
        training: true,
        noise_shape: None,
    };
    assert_eq!(
        gaussian_noise(&x, &args(rank_seed(99, 0))).unwrap(),
        gaussian_noise(&x, &args(99)).unwrap()
    );
    assert_ne!(
        gaussian_noise(&x, &args(rank_seed(99, 1))).unwrap(),
        gaussian_noise(&x, &args(99)).unwrap()
    );
}
