//! Keep masks stored at one bit per mask element.

use crate::error::Result;

/// A keep mask: bit `i` set means mask element `i` is kept. Bits are little-endian within
/// 64-bit words: element `i` is bit `i % 64` of word `i / 64`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BitMask {
    len: usize,
    words: Vec<u64>,
}

impl BitMask {
    /// A mask of `len` elements, all dropped.
    ///
    /// # Errors
    /// [`crate::Error::OutOfMemory`] when its `ceil(len / 64) * 8` bytes cannot be allocated.
    pub fn zeros(len: usize) -> Result<Self> {
        Ok(BitMask {
            len,
            words: crate::alloc::zeroed("the keep mask", len.div_ceil(64))?,
        })
    }

    /// Number of mask elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether element `i` is kept.
    #[inline(always)]
    pub fn get(&self, i: usize) -> bool {
        (self.words[i / 64] >> (i % 64)) & 1 != 0
    }

    /// Sets element `i` to kept (`true`) or dropped.
    #[inline(always)]
    pub fn set(&mut self, i: usize, keep: bool) {
        let bit = 1u64 << (i % 64);
        if keep {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
    }

    /// The packed words (bits past `len` are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The packed words, for kernels that fill whole words.
    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Number of kept elements.
    pub fn count_kept(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Heap bytes this mask holds (`ceil(len / 64) * 8`).
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut m = BitMask::zeros(130).unwrap();
        assert_eq!(m.heap_bytes(), 24);
        for i in (0..130).step_by(3) {
            m.set(i, true);
        }
        assert!(m.get(129) && !m.get(128) && m.get(0));
        assert_eq!(m.count_kept(), 44);
        m.set(0, false);
        assert_eq!(m.count_kept(), 43);
    }
}

/// What Dropout keeps between forward and backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaskStorage {
    /// One bit per element (`n / 8` bytes): backward reads the bits. The default, because
    /// reading 1 bit is cheaper than recomputing a Philox word.
    #[default]
    Bits,
    /// Nothing but the draw (16 bytes for Philox): backward regenerates the mask. With the
    /// BigDL stream the stream's state (about 2.5 KiB) is kept and replayed.
    Regenerate,
}
