//! How a call runs: its instruction set, how it is cut into chunks, from which size it runs
//! on several threads, and from which size its stores bypass the cache.

use super::table::Kernels;
use super::{best_path, Chunk, Path};
use crate::parallel;
use crate::Element;

/// How a call runs: instruction set, chunk size (a multiple of 64) and the size from which
/// it is split over threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) path: Path,
    pub(crate) chunk: usize,
    pub(crate) min_parallel: usize,
    /// Output bytes from which stores are non-temporal.
    pub(crate) stream_from: usize,
}

/// Outputs from this size on are written with non-temporal stores on the AVX2 and AVX-512
/// paths: they cannot stay in cache anyway, and skipping the read for ownership saves a third
/// of the traffic (glibc's `memcpy`, the copy baseline, does the same for large copies).
const NON_TEMPORAL_FROM: usize = 16 << 20;

/// Elements per thread task: 64 Ki elements (256 KiB of f32) keeps tasks in L2 and many
/// enough to balance two or more threads.
const CHUNK: usize = 1 << 16;
/// Below this, one thread: a fork-join costs about 25-30 us, which a compute kernel on
/// 256 Ki elements (about 100 us on one core) can pay back.
const MIN_PARALLEL: usize = 1 << 18;

impl Plan {
    pub(crate) fn best() -> Self {
        Plan {
            path: best_path(),
            chunk: CHUNK,
            min_parallel: MIN_PARALLEL,
            stream_from: NON_TEMPORAL_FROM,
        }
    }

    /// The kernels a call writing `out` (its whole output) runs: those of this plan's path,
    /// with non-temporal stores when the output is large and 16-byte aligned (every chunk's
    /// output then is too, chunks starting at multiples of 64 elements).
    pub(crate) fn kernels<T: Element>(&self, out: &Chunk<T>) -> Kernels<T> {
        let stream = out.len * std::mem::size_of::<T>() >= self.stream_from
            && (out.dst as usize).is_multiple_of(16);
        T::kernels(self.path, stream)
    }

    /// Runs `f(first element, chunk)` over `c`, on one thread or on the pool.
    pub(crate) fn run<T: Send + Sync + 'static>(
        &self,
        c: Chunk<T>,
        f: impl Fn(usize, Chunk<T>) + Sync + Send,
    ) {
        debug_assert!(self.chunk.is_multiple_of(64) && self.chunk > 0);
        if c.len < self.min_parallel || parallel::num_threads() == 1 {
            f(0, c);
            return;
        }
        let chunks = c.len.div_ceil(self.chunk);
        parallel::for_each_chunk(chunks, |k| {
            let start = k * self.chunk;
            f(start, c.sub(start, self.chunk.min(c.len - start)));
        });
    }
}
