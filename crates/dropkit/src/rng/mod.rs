//! Random generators: Philox4x32-10 (default, counter-based) and BigDL's MT19937 stream;
//! per-rank seeds for data-parallel jobs ([`rank_seed`]).

mod generator;
mod jump;
mod mt19937;
mod mt_params;
pub mod normal;
mod philox;
mod rank;

pub(crate) use generator::Randomness;
pub use generator::{
    default_state, set_default_state, set_seed, take_default_philox_draw, Draw, Generator,
    GeneratorKind, GeneratorState, RngSource, DEFAULT_SEED,
};
pub use mt19937::{BigDlStream, Mt19937};
pub use philox::{block, counter_of, keep_threshold, key_of_seed, philox4x32_10, word};
pub use rank::rank_seed;
