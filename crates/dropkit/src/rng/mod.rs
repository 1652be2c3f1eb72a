//! Random generators: Philox4x32-10 (default, counter-based) and BigDL's MT19937 stream.

mod generator;
mod mt19937;
pub mod normal;
mod philox;

pub use generator::{
    default_state, set_default_state, set_seed, Draw, Generator, GeneratorKind, GeneratorState,
    RngSource, DEFAULT_SEED,
};
pub(crate) use generator::Randomness;
pub use mt19937::{BigDlStream, Mt19937};
pub use philox::{block, counter_of, key_of_seed, keep_threshold, philox4x32_10, word};
