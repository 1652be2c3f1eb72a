//! Kernel launches: the device analogues of `crate::kernels` (scale, dropout, apply_mask,
//! noise, keep_bits). Each takes the tensors' device pointers, checks nothing it can get
//! wrong (lengths come from the tensors) and queues one kernel on the device's stream.

use std::sync::Arc;

use cudarc::driver::{CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

use super::device::{CudaDevice, THREADS};
use super::driver::driver_error;
use super::tensor::{same_device, CudaElement, DeviceBits, DeviceIo};
use crate::error::Result;
use crate::ops::{Kept, MaskMap, NoiseOp};
use crate::Element;

/// Groups (or tiles) a thread (or warp) takes per pass: `DK_UNROLL` of kernels.cu. The grid
/// covers the tensor in one pass with it (a variant built with another value stays correct:
/// its kernels loop).
pub(crate) const UNROLL: u64 = 2;
/// Groups of four elements per block in a thread kernel, per pass.
const GROUPS_PER_BLOCK: u64 = THREADS as u64 * UNROLL;
/// Tiles of 32 groups per block in a warp kernel, per pass.
const TILES_PER_BLOCK: u64 = (THREADS / 32) as u64 * UNROLL;

fn config(blocks: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `(mode, k, add, dropped)` of a kept-element rule, as the kernels take it (simplified as
/// on the CPU: a division by a power of two is the exact multiplication, a tenth of the
/// instructions).
fn kept_args<T: Element>(kept: Kept<T>) -> (u32, T, T, T) {
    let dropped = kept.dropped();
    match kept.simplified() {
        Kept::Identity => (0, T::one(), T::zero(), dropped),
        Kept::Div(k) => (1, k, T::zero(), dropped),
        Kept::Mul(k) => (2, k, T::zero(), dropped),
        Kept::Affine { mul, add, .. } => (3, mul, add, dropped),
    }
}

/// The kernels load and store groups of four elements as 16-byte vectors.
fn check_aligned(ptr: u64) -> Result<()> {
    if ptr.is_multiple_of(16) {
        Ok(())
    } else {
        Err(crate::Error::Cuda {
            message: format!("device buffer at {ptr:#x} is not 16-byte aligned"),
        })
    }
}

/// Runs `f(src, dst)` with the device pointers of `io` (the same pointer twice in place),
/// keeping cudarc's stream-ordering records alive until the launch is queued.
fn with_ptrs<T: CudaElement, R>(
    stream: &Arc<CudaStream>,
    io: DeviceIo<'_, T>,
    f: impl FnOnce(u64, u64) -> Result<R>,
) -> Result<R> {
    match io {
        DeviceIo::Copy { src, dst } => {
            same_device(src.device(), dst.device())?;
            let (s, _read) = src.data.device_ptr(stream);
            let (d, _write) = dst.data.device_ptr_mut(stream);
            check_aligned(s)?;
            check_aligned(d)?;
            f(s, d)
        }
        DeviceIo::InPlace(buf) => {
            let (d, _write) = buf.data.device_ptr_mut(stream);
            check_aligned(d)?;
            f(d, d)
        }
    }
}

/// The result of queuing a kernel.
fn queued<E>(r: std::result::Result<E, cudarc::driver::DriverError>) -> Result<()> {
    r.map(|_| ())
        .map_err(|e| driver_error("launching a kernel", e))
}

/// A copy, or nothing in place.
pub(crate) fn copy<T: CudaElement>(io: DeviceIo<'_, T>) -> Result<()> {
    match io {
        DeviceIo::Copy { src, dst } => dst.copy_from(src),
        DeviceIo::InPlace(_) => Ok(()),
    }
}

/// `x * factor`, or a copy when `factor` is `None` (`dk_scale_*`).
pub(crate) fn scale<T: CudaElement>(io: DeviceIo<'_, T>, factor: Option<T::Compute>) -> Result<()> {
    let Some(k) = factor else { return copy(io) };
    let dev = io.device();
    let n = io.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let kernel = &dev.kernels().scale[T::KERNEL];
    let (func, blocks) = (kernel, dev.grid(n.div_ceil(4), GROUPS_PER_BLOCK));
    with_ptrs(dev.stream(), io, |x, y| {
        let mut a = dev.stream().launch_builder(func);
        a.arg(&x).arg(&y).arg(&n).arg(&k);
        // SAFETY: the arguments match dk_scale_T(const T* x, T* y, u64 n, C k) (C: T's compute type); x and y hold
        // n elements.
        queued(unsafe { a.launch(config(blocks)) })
    })
}

/// Dropout with fresh randomness from `(seed, draw)`; fills `mask` (of `io.len()` elements)
/// when given (`dk_dropout_*`).
pub(crate) fn dropout<T: CudaElement>(
    io: DeviceIo<'_, T>,
    mask: Option<&mut DeviceBits>,
    (seed, draw): (u64, u64),
    threshold: u64,
    kept: Kept<T::Compute>,
) -> Result<()> {
    let dev = io.device();
    let n = io.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let (mode, k, add, dropped) = kept_args(kept);
    let kernel = &dev.kernels().dropout[T::KERNEL];
    let tiles = n.div_ceil(4).div_ceil(32);
    let (func, blocks) = (kernel, dev.grid(tiles, TILES_PER_BLOCK));
    let stream = Arc::clone(dev.stream());
    with_ptrs(&stream, io, |x, y| {
        let mut record = None;
        let m = match mask {
            Some(bits) => {
                debug_assert_eq!(bits.len() as u64, n);
                same_device(bits.device(), &dev)?;
                let (p, r) = bits.words.device_ptr_mut(&stream);
                record = Some(r);
                p
            }
            None => 0u64,
        };
        let mut a = stream.launch_builder(func);
        a.arg(&x).arg(&y).arg(&m).arg(&n).arg(&seed).arg(&draw);
        a.arg(&threshold).arg(&mode).arg(&k).arg(&add).arg(&dropped);
        // SAFETY: the arguments match dk_dropout_T(const T* x, T* y, u32* mask, u64 n,
        // u64 seed, u64 draw, u64 threshold, u32 mode, C k, C add, C dropped) (C: T's compute
        // type); x and y hold
        // n elements, the
        // mask (when not null) 2 * ceil(n / 64) words.
        let r = queued(unsafe { a.launch(config(blocks)) });
        drop(record);
        r
    })
}

/// The keep mask of `len` elements from `(seed, draw)` (`dk_keep_bits`).
pub(crate) fn keep_bits(
    dev: &CudaDevice,
    len: usize,
    (seed, draw): (u64, u64),
    threshold: u64,
) -> Result<DeviceBits> {
    let mut bits = DeviceBits::uninit(dev, len)?;
    if len == 0 {
        return Ok(bits);
    }
    let n = len as u64;
    let kernel = &dev.kernels().keep_bits;
    let blocks = dev.grid(n.div_ceil(4).div_ceil(32), TILES_PER_BLOCK);
    let stream = Arc::clone(dev.stream());
    let (m, record) = bits.words.device_ptr_mut(&stream);
    let mut a = stream.launch_builder(kernel);
    a.arg(&m).arg(&n).arg(&seed).arg(&draw).arg(&threshold);
    // SAFETY: the arguments match dk_keep_bits(u32* mask, u64 len, u64 seed, u64 draw,
    // u64 threshold); the mask holds 2 * ceil(len / 64) words.
    let r = queued(unsafe { a.launch(config(blocks)) });
    drop(record);
    r.map(|()| bits)
}

/// Applies a stored mask through `map` (`dk_apply_mask_*`).
pub(crate) fn apply_mask<T: CudaElement>(
    io: DeviceIo<'_, T>,
    bits: &DeviceBits,
    map: MaskMap,
    kept: Kept<T::Compute>,
) -> Result<()> {
    let dev = io.device();
    same_device(bits.device(), &dev)?;
    let n = io.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let (mode, k, add, dropped) = kept_args(kept);
    let (map_kind, inner, channels): (u32, u64, u64) = match map {
        MaskMap::Elementwise => (0, 1, 1),
        MaskMap::ChannelsFirst { inner } => (1, inner as u64, 1),
        MaskMap::ChannelsLast { channels, inner } => (2, inner as u64, channels as u64),
        MaskMap::Broadcast(_) => panic!("a broadcast mask is expanded by the backend first"),
    };
    let kernel = &dev.kernels().apply_mask[T::KERNEL];
    let (func, blocks) = (kernel, dev.grid(n.div_ceil(4), GROUPS_PER_BLOCK));
    let stream = Arc::clone(dev.stream());
    with_ptrs(&stream, io, |x, y| {
        let (m, record) = bits.words.device_ptr(&stream);
        let mut a = stream.launch_builder(func);
        a.arg(&x).arg(&y).arg(&m).arg(&n).arg(&map_kind);
        a.arg(&inner)
            .arg(&channels)
            .arg(&mode)
            .arg(&k)
            .arg(&add)
            .arg(&dropped);
        // SAFETY: the arguments match dk_apply_mask_T(const T* x, T* y, const u32* mask,
        // u64 n, u32 map, u64 inner, u64 channels, u32 mode, C k, C add, C dropped) (C: T's
        // compute type); x and
        // y hold n elements;
        // the mask holds every index the map yields for i < n (the layer computed both).
        let r = queued(unsafe { a.launch(config(blocks)) });
        drop(record);
        r
    })
}

/// Gaussian noise from `(seed, draw)`: `x * e` or `x + e`, `e = mean + stddev * n`
/// (`dk_noise_*`).
pub(crate) fn noise<T: CudaElement>(
    io: DeviceIo<'_, T>,
    (seed, draw): (u64, u64),
    mean: T::Compute,
    stddev: T::Compute,
    op: NoiseOp,
) -> Result<()> {
    let dev = io.device();
    let n = io.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let op: u32 = match op {
        NoiseOp::Mul => 0,
        NoiseOp::Add => 1,
    };
    let kernel = &dev.kernels().noise[T::KERNEL];
    let (func, blocks) = (kernel, dev.grid(n.div_ceil(4), GROUPS_PER_BLOCK));
    with_ptrs(dev.stream(), io, |x, y| {
        let mut a = dev.stream().launch_builder(func);
        a.arg(&x).arg(&y).arg(&n).arg(&seed).arg(&draw);
        a.arg(&mean).arg(&stddev).arg(&op);
        // SAFETY: the arguments match dk_noise_T(const T* x, T* y, u64 n, u64 seed, u64 draw,
        // C mean, C stddev, u32 op) (C: T's compute type); x and y hold n elements.
        queued(unsafe { a.launch(config(blocks)) })
    })
}
