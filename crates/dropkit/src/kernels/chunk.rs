//! Runs of a tensor as raw pointers, so that disjoint runs of one buffer can go to different
//! threads, and the mask word pointer their chunks write through.

use crate::ops::FlatIo;

/// A run of elements as raw pointers, so disjoint runs of one buffer can go to different
/// threads. `src == dst` means in place.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) src: *const T,
    pub(crate) dst: *mut T,
    pub(crate) len: usize,
}

impl<T> Clone for Chunk<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Chunk<T> {}

// SAFETY: a Chunk is only made from a FlatIo borrowed for the whole kernel call, and the
// threads it is split over write disjoint ranges of `dst`.
unsafe impl<T: Send> Send for Chunk<T> {}
// SAFETY: as above; shared access only reads `src` or hands out disjoint sub-chunks.
unsafe impl<T: Sync> Sync for Chunk<T> {}

impl<T: 'static> Chunk<T> {
    /// The whole of `io`.
    pub(crate) fn of(io: FlatIo<'_, T>) -> Self {
        match io {
            FlatIo::Copy { src, dst } => {
                assert_eq!(src.len(), dst.len(), "FlatIo::Copy needs equal lengths");
                Chunk {
                    src: src.as_ptr(),
                    dst: dst.as_mut_ptr(),
                    len: dst.len(),
                }
            }
            FlatIo::InPlace(buf) => Chunk {
                src: buf.as_ptr(),
                dst: buf.as_mut_ptr(),
                len: buf.len(),
            },
        }
    }

    /// The chunk as slices: one buffer in place (`src == dst`), else a source and a
    /// destination.
    ///
    /// # Safety
    /// For `'a`, `src` must be valid for `len` reads and `dst` for `len` writes, nothing else
    /// may access those elements, and the two ranges are one range or disjoint (as for a
    /// chunk of a [`FlatIo`]'s buffers).
    pub(crate) unsafe fn io<'a>(self) -> FlatIo<'a, T> {
        if self.src == self.dst.cast_const() {
            // SAFETY: one range, valid and exclusively ours for 'a (the caller's contract).
            FlatIo::InPlace(unsafe { std::slice::from_raw_parts_mut(self.dst, self.len) })
        } else {
            // SAFETY: two disjoint ranges, valid and exclusively ours for 'a (the caller's
            // contract).
            let (src, dst) = unsafe {
                (
                    std::slice::from_raw_parts(self.src, self.len),
                    std::slice::from_raw_parts_mut(self.dst, self.len),
                )
            };
            FlatIo::Copy { src, dst }
        }
    }

    /// Elements `start .. start + len` (within bounds).
    pub(crate) fn sub(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.len);
        Chunk {
            src: self.src.wrapping_add(start),
            dst: self.dst.wrapping_add(start),
            len,
        }
    }

    /// Elements from `start` to the end (the scalar tail of a vector kernel).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn offset(self, start: usize) -> Self {
        self.sub(start, self.len - start)
    }
}

/// A mask word pointer that chunks on several threads write disjoint words through.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BitsPtr(pub(crate) *mut u64);
// SAFETY: each chunk writes only the words of its own (64-aligned) element range.
unsafe impl Send for BitsPtr {}
// SAFETY: as above.
unsafe impl Sync for BitsPtr {}

impl BitsPtr {
    /// The pointer to mask word `word`, or null when there is no mask.
    pub(crate) fn at(self, word: usize) -> *mut u64 {
        if self.0.is_null() {
            self.0
        } else {
            self.0.wrapping_add(word)
        }
    }
}
