//! The one place threading is decided: the thread count, the pool, and how a flat range is
//! cut into chunks. Chunks are fixed by the range and the chunk size alone (never by the
//! thread count), and every chunk knows its element offset, so results are bit-identical for
//! any number of threads.

use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);

/// Threads used when nothing was set: `RAYON_NUM_THREADS` if it is a positive integer, else
/// the number of cores.
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn build(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dropkit-{i}"))
            .build()
            .expect("building a thread pool"),
    )
}

fn pool() -> Arc<rayon::ThreadPool> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Arc::clone(p);
    }
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(guard.get_or_insert_with(|| build(default_threads())))
}

/// Sets how many threads the CPU kernels use (default: all cores, or `RAYON_NUM_THREADS`).
/// Results do not depend on it.
///
/// # Errors
/// [`Error::InvalidThreadCount`] for 0.
///
/// # Example
/// ```
/// dropkit::set_num_threads(2)?;
/// assert_eq!(dropkit::num_threads(), 2);
/// assert!(dropkit::set_num_threads(0).is_err());
/// # Ok::<(), dropkit::Error>(())
/// ```
pub fn set_num_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::InvalidThreadCount { value: threads });
    }
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(build(threads));
    Ok(())
}

/// How many threads the CPU kernels use.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Runs `f(chunk_index)` for `0..chunks` on the pool (on the calling thread when there is
/// one chunk or one thread).
// Used by the fast CPU kernels.
#[allow(dead_code)]
pub(crate) fn for_each_chunk(chunks: usize, f: impl Fn(usize) + Sync + Send) {
    if chunks <= 1 {
        if chunks == 1 {
            f(0);
        }
        return;
    }
    let pool = pool();
    if pool.current_num_threads() == 1 {
        (0..chunks).for_each(f);
        return;
    }
    pool.install(|| {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().for_each(f);
    });
}
