//! The CUDA backend (feature `cuda`): every layer's forward and backward on device tensors,
//! with masks and noise bit-identical to the CPU's for the same seed and draw.
//!
//! - [`CudaDevice::new`] opens a GPU (and says what is missing when it cannot);
//! - [`DeviceTensor`] holds `f32`, `f64`, `half::f16` or `half::bf16` data on it
//!   ([`DeviceTensor::from_array`], [`DeviceTensor::to_array`]);
//! - [`CudaModule`] (implemented by all six layers) runs `forward_cuda`, `forward_cuda_into`,
//!   `forward_cuda_inplace`, `backward_cuda`, `backward_cuda_into`, `backward_cuda_inplace`.
//!
//! # Reproducibility
//! The device runs the same Philox mapping as the CPU and takes its draws from the layer's
//! generator, so for the same `(seed, draw)`:
//! - keep masks are bit-identical (threshold compared in 64 bits: `p = 1` drops all);
//! - the Gaussian layers' noise is bit-identical: the normals are computed with the CPU's
//!   own `ln`/`sin`/`cos` polynomials, every operation a correctly rounded IEEE-754 one
//!   (compiled with `--fmad=false`, written with `__fmaf_rn`/`__fmul_rn`/... intrinsics);
//! - outputs are bit-identical: kept `x / T(1-p)` is an IEEE division, dropped elements are
//!   `+0`, noise is `T(mean) + T(stddev) * T(n)`; a half-precision element is widened to
//!   `f32` exactly, computed on with `f32` constants and rounded once to nearest even, with
//!   the CPU's conversions (integer operations in `kernels.cu`, tested against the `half`
//!   crate). The one exception is a NaN result: it is NaN on both sides, but the GPU returns
//!   the canonical NaN where the CPU propagates an input's payload (or, for `inf * 0`, x86's
//!   negative default NaN).
//!
//! Without a GPU this is tested by compiling `kernels.cu` as host C++ (each GPU thread a host
//! thread, the warp shuffle a barrier) and comparing every kernel with the CPU reference;
//! with one, by `tests/cuda.rs` (see `scripts/gpu-check.sh`).
//!
//! A device forward and a host backward (or the reverse) differentiate the same draw. The
//! BigDL generator (a sequential MT19937 stream) runs on the host only: a device forward with
//! it is an error.
//!
//! # Run time
//! Only the NVIDIA driver (`libcuda.so.1`, CUDA 12.4 or newer for the shipped PTX) is needed:
//! the kernels ship as PTX that the driver compiles for the card. If the driver rejects it,
//! or `DROPKIT_CUDA_KERNELS=nvrtc` is set, the CUDA source is compiled with NVRTC
//! (`libnvrtc.so.12`/`.13`), which must then be on the library path. Every missing piece is an
//! [`crate::Error::CudaUnavailable`] naming it, never a panic.
//!
//! # Tuning
//! Each kernel is launched with a grid that covers the tensor in one pass (blocks of 256
//! threads, each thread two 16-byte groups), so every block does one chunk and exits: on an
//! H100 that ran all of them at 0.98-1.00 of the device copy, where one resident wave
//! looping over the tensor reached 0.86-0.95 (README, "Kernel tuning").
//! `DROPKIT_CUDA_BLOCKS_PER_SM=N` caps the grid at N blocks per multiprocessor (the kernels
//! then loop over the rest), and `DROPKIT_CUDA_PTX=file` loads a PTX
//! variant built by `gen_ptx --arch ... -D DK_UNROLL=...` (see `scripts/gpu-tune.sh`) in
//! place of the shipped one; both are for measurements.
//!
//! # Memory
//! Dropout keeps its 1-bit mask on the device (`n / 8` bytes) with
//! [`crate::MaskStorage::Bits`], or nothing with `Regenerate`; Spatial layers keep 1 bit per
//! (sample, channel); Gaussian layers keep nothing. `*_into` and `*_inplace` allocate no
//! data tensor. Opening a device sets its default memory pool's release threshold to the
//! maximum, so memory dropkit frees stays pooled for the next allocation (as PyTorch's caching
//! allocator keeps it) instead of going back to the driver at every synchronization.

mod device;
mod driver;
mod interop;
pub(crate) mod launch;
mod module;
mod shared;
mod source;
mod tensor;

#[cfg(test)]
mod tests;

pub use cudarc;
pub use device::{device_count, CudaDevice};
pub use driver::driver_present;
pub use interop::pointer_info;
pub use module::{device_mask_to_host, CudaModule};
pub use shared::{KernelSource, PointerInfo, PTX_ARCH};
pub use source::{
    compile_ptx, compile_ptx_for, compile_ptx_with, nvrtc_version, ptx_file, ptx_file_with,
};
pub use tensor::{CudaElement, DeviceBits, DeviceIo, DeviceTensor};
