//! The element loops behind the layers. Layers call the entry points ([`entry`]); each chooses,
//! once per call, the instruction set ([`Path`]), whether to split the tensor over threads
//! ([`Plan`]), and the kernel function it runs for its element type ([`table`]). Chunks are cut
//! at fixed element offsets (multiples of 64, so a chunk owns whole mask words) and every chunk
//! knows its first element's index, which is all the counter-based generator needs: results do
//! not depend on the path or the thread count. [`reference`](mod@reference) is the oracle the tests compare
//! every path with.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod chunk;
mod entry;
mod half;
mod isa;
mod plan;
mod portable;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod reference;
mod table;
#[cfg(test)]
mod tests;

pub(crate) use chunk::Chunk;
pub(crate) use entry::{apply_mask, dropout, keep_bits, multiply, noise, noise_broadcast, scale};
// With an explicit plan: the tests run every path, chunk size and thread split through these.
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use entry::{
    apply_mask_with, dropout_with, multiply_with, noise_broadcast_with, noise_with, scale_with,
};
pub(crate) use isa::{best_path, Path};
pub(crate) use plan::Plan;
pub(crate) use table::KernelTable;
