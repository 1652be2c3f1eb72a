//! [`PointerInfo`]: where a device address lives (the same type with and without the `cuda`
//! feature).

/// Where a device address lives: the allocation the driver knows it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointerInfo {
    /// The device's ordinal.
    pub ordinal: usize,
    /// The first address of the allocation holding the pointer.
    pub start: u64,
    /// The allocation's size in bytes.
    pub size: u64,
}

impl PointerInfo {
    /// Whether `bytes` bytes from `ptr` lie inside this allocation.
    pub fn holds(&self, ptr: u64, bytes: u64) -> bool {
        ptr >= self.start
            && ptr
                .checked_add(bytes)
                .is_some_and(|end| end <= self.start.saturating_add(self.size))
    }
}

#[cfg(test)]
mod tests {
    use super::PointerInfo;

    #[test]
    fn holds_only_ranges_inside_the_allocation() {
        let info = PointerInfo {
            ordinal: 0,
            start: 0x1000,
            size: 0x100,
        };
        assert!(info.holds(0x1000, 0x100));
        assert!(info.holds(0x10f0, 0x10));
        assert!(info.holds(0x1100, 0)); // an empty range at the end
        assert!(!info.holds(0x10f0, 0x11));
        assert!(!info.holds(0x0ff0, 0x10));
        assert!(!info.holds(u64::MAX - 1, 4)); // no overflow
    }
}
