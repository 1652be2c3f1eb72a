//! What the CUDA backend and its stub (`stub.rs`, the API without the `cuda` feature) share:
//! this file is compiled into both, so each item is defined once.

/// The virtual architecture the shipped PTX targets: Volta and every later card.
pub const PTX_ARCH: &str = "compute_70";

/// Where the loaded kernels came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelSource {
    /// The PTX shipped inside dropkit, JIT-compiled by the driver (needs only the driver).
    Ptx,
    /// The CUDA source compiled at run time by NVRTC (when the driver rejected the PTX, or
    /// `DROPKIT_CUDA_KERNELS=nvrtc` asked for it).
    Nvrtc,
}

/// Seals `CudaElement`: outside this crate `Sealed` cannot be named, so no other type can
/// implement it.
pub(super) mod sealed {
    /// The supertrait that limits `CudaElement` to `f32`, `f64`, `f16` and `bf16`.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

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
