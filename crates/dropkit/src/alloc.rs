//! Output buffers. A fresh 64 MiB buffer costs several times a copy here because every
//! 4 KiB page faults on first write (measured at 0.19 of a copy on a 2-vCPU EPYC VM). Buffers are allocated zeroed,
//! which for large sizes is a fresh mapping whose pages are untouched until the kernel writes
//! them, and from 4 MiB on they are advised as transparent huge pages (as numpy does), so a
//! page fault maps 2 MiB instead of 4 KiB. Small buffers are not advised: a huge page would
//! zero 2 MiB for a 1 MiB tensor.

#![allow(unsafe_code)]

use crate::Element;

/// Buffers from this size on are advised as huge pages.
const HUGE_FROM: usize = 4 << 20;

/// A zeroed buffer of `n` elements, huge-page advised when large.
pub(crate) fn zeroed<T: Element>(n: usize) -> Vec<T> {
    let v = vec![T::zero(); n];
    advise_huge(&v);
    v
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
