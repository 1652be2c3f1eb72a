//! Buffers whose size comes from the caller (outputs, temporaries, masks, kept noise). Every
//! one is allocated fallibly: a size the allocator refuses, or whose byte count does not fit
//! an allocation, is [`Error::OutOfMemory`], never an abort of the process (which is what
//! `vec![...]` and `Vec::with_capacity` do).
//!
//! A fresh 64 MiB buffer costs several times a copy here because every 4 KiB page faults on
//! first write (measured at 0.19 of a copy on a 2-vCPU EPYC VM). Buffers are allocated zeroed,
//! which for large sizes is a fresh mapping whose pages are untouched until the kernel writes
//! them, and from 4 MiB on they are advised as transparent huge pages (as numpy does), so a
//! page fault maps 2 MiB instead of 4 KiB. Small buffers are not advised: a huge page would
//! zero 2 MiB for a 1 MiB tensor.

#![allow(unsafe_code)]

use std::alloc::Layout;

use crate::error::{Error, Result};
use crate::Element;

/// Buffers from this size on are advised as huge pages.
const HUGE_FROM: usize = 4 << 20;

/// Types whose all-zero bit pattern is a valid value (their zero), so a zeroed allocation is
/// an initialized buffer of them.
///
/// # Safety
/// Implement it only for such types.
pub(crate) unsafe trait ZeroBits: Copy {}

// SAFETY: `Element` is sealed to `f32` and `f64`, whose all-zero bits are `+0.0`.
unsafe impl<T: Element> ZeroBits for T {}
// SAFETY: all-zero bits are the integer 0.
unsafe impl ZeroBits for u64 {}
// SAFETY: all-zero bits are the integer 0.
unsafe impl ZeroBits for u32 {}

/// The error for `n` elements of `T` that cannot be allocated.
fn out_of_memory<T>(what: &'static str, n: usize) -> Error {
    Error::OutOfMemory {
        what,
        bytes: n as u128 * std::mem::size_of::<T>() as u128,
    }
}

/// A zeroed buffer of `n` elements for `what`, huge-page advised when large.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `what` and the bytes when the allocation fails or its size
/// overflows.
pub(crate) fn zeroed<T: ZeroBits>(what: &'static str, n: usize) -> Result<Vec<T>> {
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<T>(n).map_err(|_| out_of_memory::<T>(what, n))?;
    // SAFETY: the layout's size is not zero (n > 0 and T is not zero-sized).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(out_of_memory::<T>(what, n));
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `[T; n]` (T's
    // alignment, `n * size_of::<T>()` bytes), so capacity `n` matches it; its `n` elements
    // are all-zero bits, a valid `T` (`ZeroBits`), so length `n` is initialized.
    let v = unsafe { Vec::from_raw_parts(ptr, n, n) };
    advise_huge(&v);
    Ok(v)
}

/// A buffer of `n` copies of `value` for `what`.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `what` and the bytes when the allocation fails or its size
/// overflows.
pub(crate) fn filled<T: Copy>(what: &'static str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory::<T>(what, n))?;
    v.resize(n, value);
    advise_huge(&v);
    Ok(v)
}

fn advise_huge<T>(v: &[T]) {
    let bytes = std::mem::size_of_val(v);
    if bytes < HUGE_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = v.as_ptr() as usize;
        let aligned = (start + PAGE - 1) & !(PAGE - 1);
        let len = (start + bytes).saturating_sub(aligned) & !(PAGE - 1);
        // SAFETY: MADV_HUGEPAGE only tells the kernel how to back pages of a mapping this
        // process owns (the Vec's allocation, page-aligned inside it); it never changes their
        // contents. Failure (e.g. THP disabled) is harmless and ignored.
        unsafe {
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_the_allocator_refuses_or_that_overflow_are_errors() {
        // Fits usize as an element count, but not as one allocation (> isize::MAX bytes).
        let n = usize::MAX / 8 + 1;
        let e = zeroed::<f32>("the output", n).unwrap_err();
        assert_eq!(
            e,
            Error::OutOfMemory {
                what: "the output",
                bytes: n as u128 * 4
            }
        );
        // The byte count overflows usize itself: still the exact count.
        let e = zeroed::<f64>("the output", usize::MAX).unwrap_err();
        assert_eq!(
            e.to_string(),
            "out of memory: cannot allocate 147573952589676412920 bytes for the output"
        );
        let e = filled("the stored noise", usize::MAX / 4, 1.0f32).unwrap_err();
        assert!(matches!(
            e,
            Error::OutOfMemory {
                what: "the stored noise",
                ..
            }
        ));
        // A size that fits an allocation but not this machine (2^62 bytes): the allocator
        // refuses, and that is an error too.
        let e = zeroed::<u64>("the keep mask", 1 << 59).unwrap_err();
        assert_eq!(
            e,
            Error::OutOfMemory {
                what: "the keep mask",
                bytes: 1 << 62
            }
        );
        let e = filled("the stored noise", 1 << 60, 1.0f32).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 62));
    }

    #[test]
    fn buffers_are_zeroed_or_filled() {
        for n in [0, 1, 1000, (HUGE_FROM / 4) + 3] {
            let v = zeroed::<f32>("x", n).unwrap();
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x.to_bits() == 0));
            let w = filled("x", n, 1.5f64).unwrap();
            assert_eq!(w.len(), n);
            assert!(w.iter().all(|&x| x == 1.5));
        }
        assert_eq!(zeroed::<u64>("x", 3).unwrap(), [0, 0, 0]);
    }
}
