//! The one place threading is decided: the thread count, the pool, and how a flat range is
//! cut into chunks. Chunks are fixed by the range and the chunk size alone (never by the
//! thread count), and every chunk knows its element offset, so results are bit-identical for
//! any number of threads.
//!
//! # Thread count
//! [`set_num_threads`] accepts `1..=`[`MAX_THREADS`]. One thread needs no pool: the kernels
//! run on the calling thread. A pool the system cannot build (too many threads for its
//! limits) is an [`Error::ThreadPool`] and leaves the previous setting in place; a default
//! pool (`RAYON_NUM_THREADS`, or the number of cores) that cannot be built falls back to the
//! calling thread.
//!
//! # Fork
//! A pool is owned by the process that built it: it records its pid. A forked child (Python's
//! `os.fork`, multiprocessing's "fork" context, PyTorch DataLoader workers) inherits the
//! pool's memory but none of its threads, so the first call in the child that needs the pool
//! sees another pid and builds a fresh pool with the same thread count. The parent's pool is
//! leaked in the child, never dropped: dropping it would signal threads that do not exist
//! there, through locks they may have held at the fork. For the same reason a child only
//! tries the lock on the setting: if a parent's thread held it at the fork, the child runs
//! its kernels on the calling thread (same results) and `set_num_threads` is an error there.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard, TryLockError};

use crate::error::{Error, Result};

/// The most threads [`set_num_threads`] accepts: 1024, whatever the machine. It is fixed
/// (not a multiple of the core count) so that a thread count valid on one machine is valid on
/// every other; it is far above the cores of any machine dropkit's chunks could keep busy.
pub const MAX_THREADS: usize = 1024;

/// The threads the kernels use, and the process that built their pool.
#[derive(Debug)]
struct Threads {
    /// The process this setting belongs to (a forked child sees another pid).
    pid: u32,
    /// The thread count; 1 runs on the calling thread.
    threads: usize,
    /// The pool, for `threads > 1`.
    pool: Option<Arc<rayon::ThreadPool>>,
}

static THREADS: RwLock<Option<Threads>> = RwLock::new(None);

/// Threads used when nothing was set: `RAYON_NUM_THREADS` if it is a positive integer, else
/// the number of cores, at most [`MAX_THREADS`].
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_THREADS)
}

/// A setting of `threads` threads for this process (`threads <= MAX_THREADS`).
fn build(threads: usize, pid: u32) -> Result<Threads> {
    let pool = if threads > 1 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dropkit-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool {
                threads,
                message: e.to_string(),
            })?;
        Some(Arc::new(pool))
    } else {
        None
    };
    Ok(Threads { pid, threads, pool })
}

/// The setting in `slot` for the process `pid`, made when there is none or when it belongs
/// to another process (this one is a fork of it): the parent's thread count is kept, its pool
/// leaked (see the module docs).
fn current_in(slot: &mut Option<Threads>, pid: u32) -> &Threads {
    let mut inherited = None;
    if let Some(parent) = slot.take_if(|t| t.pid != pid) {
        inherited = Some(parent.threads);
        std::mem::forget(parent);
    }
    slot.get_or_insert_with(|| {
        let threads = inherited.unwrap_or_else(default_threads);
        // A pool the system refuses runs on the calling thread instead.
        build(threads, pid).unwrap_or(Threads {
            pid,
            threads: 1,
            pool: None,
        })
    })
}

/// The process whose setting `THREADS` holds (0: none yet). Read without the lock, so that a
/// forked child knows before taking it that the lock may be held by a parent's thread that
/// does not exist in the child.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// The lock on `THREADS`, for a write. In a forked child it is only tried: a thread of the
/// parent may have held it at the fork and will never release it here; `None` then.
fn lock_for_write(pid: u32) -> Option<RwLockWriteGuard<'static, Option<Threads>>> {
    let owner = OWNER.load(Ordering::Acquire);
    if owner == 0 || owner == pid {
        return Some(THREADS.write().unwrap_or_else(|e| e.into_inner()));
    }
    match THREADS.try_write() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The pool of this process, or `None` to run on the calling thread.
fn pool() -> Option<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    if OWNER.load(Ordering::Acquire) == pid {
        if let Some(t) = THREADS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if t.pid == pid {
                return t.pool.clone();
            }
        }
    }
    // The first call, or the first in a forked child. A child whose lock is held by a
    // thread of its parent runs on the calling thread (results do not depend on it).
    let mut guard = lock_for_write(pid)?;
    let pool = current_in(&mut guard, pid).pool.clone();
    OWNER.store(pid, Ordering::Release);
    pool
}

/// Sets how many threads the CPU kernels use (default: all cores, or `RAYON_NUM_THREADS`,
/// at most [`MAX_THREADS`]). Results do not depend on it.
///
/// # Errors
/// - [`Error::InvalidThreadCount`] for 0, [`Error::TooManyThreads`] above [`MAX_THREADS`];
/// - [`Error::ThreadPool`] when the system cannot start that many threads.
///
/// The setting is unchanged after an error.
///
/// # Example
/// ```
/// dropkit::set_num_threads(2)?;
/// assert_eq!(dropkit::num_threads(), 2);
/// assert!(dropkit::set_num_threads(0).is_err());
/// assert!(dropkit::set_num_threads(dropkit::MAX_THREADS + 1).is_err());
/// assert_eq!(dropkit::num_threads(), 2);
/// # Ok::<(), dropkit::Error>(())
/// ```
pub fn set_num_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(Error::InvalidThreadCount { value: threads });
    }
    if threads > MAX_THREADS {
        return Err(Error::TooManyThreads {
            value: threads,
            max: MAX_THREADS,
        });
    }
    let pid = std::process::id();
    // Built before taking the lock: kernels keep using the old pool meanwhile.
    let made = build(threads, pid)?;
    let Some(mut guard) = lock_for_write(pid) else {
        return Err(Error::ThreadPool {
            threads,
            message: "a thread of the parent process held the pool's lock when this process \
                      was forked"
                .to_string(),
        });
    };
    let old = guard.replace(made);
    OWNER.store(pid, Ordering::Release);
    drop(guard);
    match old {
        // A parent's pool is never dropped in a forked child (see the module docs).
        Some(parent) if parent.pid != pid => std::mem::forget(parent),
        old => drop(old),
    }
    Ok(())
}

/// How many threads the CPU kernels use.
pub fn num_threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
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
    let Some(pool) = pool() else {
        (0..chunks).for_each(f);
        return;
    };
    pool.install(|| {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().for_each(f);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_of_another_process_is_rebuilt_and_its_pool_leaked() {
        let mut slot = Some(build(2, 1).unwrap());
        let parent = Arc::downgrade(slot.as_ref().unwrap().pool.as_ref().unwrap());
        // The same process keeps its pool.
        let same = current_in(&mut slot, 1).pool.clone().unwrap();
        assert!(Arc::ptr_eq(&same, &parent.upgrade().unwrap()));
        drop(same);
        // A fork: same thread count, a pool of its own, the parent's never dropped.
        let child = current_in(&mut slot, 2);
        assert_eq!((child.pid, child.threads), (2, 2));
        let pool = child.pool.clone().unwrap();
        assert_eq!(pool.current_num_threads(), 2);
        assert!(!Arc::ptr_eq(&pool, &parent.upgrade().unwrap()));
        assert_eq!(pool.install(|| 6 * 7), 42);
    }

    #[test]
    fn a_child_whose_lock_a_parent_thread_held_never_waits_for_it() {
        let _ = pool(); // this process has its setting
                        // A fork while a parent's thread held the lock: the child sees it held forever, and
                        // another process as the owner.
        let held = THREADS.read().unwrap_or_else(|e| e.into_inner());
        let owner = OWNER.swap(u32::MAX, Ordering::AcqRel);
        let none = pool();
        let refused = set_num_threads(2);
        OWNER.store(owner, Ordering::Release);
        drop(held);
        assert!(none.is_none(), "runs on the calling thread");
        assert!(matches!(refused, Err(Error::ThreadPool { threads: 2, .. })));
    }

    #[test]
    fn one_thread_needs_no_pool() {
        let t = build(1, 7).unwrap();
        assert!(t.pool.is_none());
        let mut slot = Some(t);
        assert!(current_in(&mut slot, 8).pool.is_none());
        assert_eq!(slot.unwrap().threads, 1);
    }
}
