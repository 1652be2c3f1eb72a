//! MT19937's parameters and its seeding (the reference `init_genrand`): what the generator
//! (`mt19937.rs`) and its jump-ahead (`jump.rs`) both build on.

pub(super) const N: usize = 624;
pub(super) const M: usize = 397;
pub(super) const MATRIX_A: u32 = 0x9908_b0df;
pub(super) const UPPER: u32 = 0x8000_0000;
pub(super) const LOWER: u32 = 0x7fff_ffff;

/// The state array of the reference `init_genrand(seed)`.
pub(super) fn seeded_state(seed: u32) -> Box<[u32; N]> {
    let mut state = Box::new([0u32; N]);
    state[0] = seed;
    for i in 1..N {
        let prev = state[i - 1];
        state[i] = 1_812_433_253u32
            .wrapping_mul(prev ^ (prev >> 30))
            .wrapping_add(i as u32);
    }
    state
}
