//! Kernel launches: the device analogues of `crate::kernels` (scale, dropout, apply_mask,
//! noise, noise_broadcast, keep_bits). Each takes the tensors' device pointers, checks nothing it can get
//! wrong (lengths come from the tensors) and queues one kernel on the device's stream.

use std::sync::Arc;

use cudarc::driver::{
    CudaStream, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg,
};

use super::device::{CudaDevice, THREADS};
use super::driver::driver_error;
use super::tensor::{same_device, CudaElement, DeviceBits, DeviceIo};
use crate::error::Result;
use crate::ops::{Kept, MaskMap, NoiseOp, BROADCAST_GROUPS};
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

/// A [`MaskMap`] as the kernels take it, by value: `dk_map` of kernels.cu, field for field
/// (its `static_assert` checks the size, a test here the offsets).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeviceMap {
    /// 0 elementwise, 1 channels first, 2 channels last, 3 a general broadcast.
    kind: u32,
    /// Kind 3: the number of groups of axes.
    groups: u32,
    /// Kinds 1 and 2: elements per feature map (per channel per sample).
    inner: u64,
    /// Kind 2: C.
    channels: u64,
    /// Kind 3: each group's size, outermost first.
    dims: [u64; BROADCAST_GROUPS],
    /// Kind 3: each group's stride in the mask (0 for a broadcast group).
    strides: [u64; BROADCAST_GROUPS],
}

// SAFETY: `DeviceMap` is `repr(C)`, made of integers only (no padding: two u32 then u64s),
// with the layout of kernels.cu's `dk_map`, which the kernels take by value.
unsafe impl DeviceRepr for DeviceMap {}

impl DeviceMap {
    /// The kernels' form of `map` (unused fields: sizes 1, strides 0).
    pub(crate) fn new(map: MaskMap) -> Self {
        let mut m = DeviceMap {
            kind: 0,
            groups: 0,
            inner: 1,
            channels: 1,
            dims: [1; BROADCAST_GROUPS],
            strides: [0; BROADCAST_GROUPS],
        };
        match map {
            MaskMap::Elementwise => {}
            MaskMap::ChannelsFirst { inner } => {
                m.kind = 1;
                m.inner = inner as u64;
            }
            MaskMap::ChannelsLast { channels, inner } => {
                m.kind = 2;
                m.inner = inner as u64;
                m.channels = channels as u64;
            }
            MaskMap::Broadcast(b) => {
                m.kind = 3;
                m.groups = b.groups as u32;
                for k in 0..b.groups {
                    m.dims[k] = b.dims[k] as u64;
                    m.strides[k] = b.strides[k] as u64;
                }
            }
        }
        m
    }

    /// The fields as the host emulation's requests write a map: `kind inner channels groups`,
    /// then the groups' dims and strides.
    #[cfg(test)]
    pub(crate) fn fields(&self) -> Vec<u64> {
        let g = self.groups as usize;
        [
            u64::from(self.kind),
            self.inner,
            self.channels,
            u64::from(self.groups),
        ]
        .into_iter()
        .chain(self.dims[..g].iter().copied())
        .chain(self.strides[..g].iter().copied())
        .collect()
    }
}

/// The kernels' code of a noise op.
fn noise_op(op: NoiseOp) -> u32 {
    match op {
        NoiseOp::Mul => 0,
        NoiseOp::Add => 1,
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
    let map = DeviceMap::new(map);
    let kernel = &dev.kernels().apply_mask[T::KERNEL];
    let (func, blocks) = (kernel, dev.grid(n.div_ceil(4), GROUPS_PER_BLOCK));
    let stream = Arc::clone(dev.stream());
    with_ptrs(&stream, io, |x, y| {
        let (m, record) = bits.words.device_ptr(&stream);
        let mut a = stream.launch_builder(func);
        a.arg(&x).arg(&y).arg(&m).arg(&n).arg(&map);
        a.arg(&mode).arg(&k).arg(&add).arg(&dropped);
        // SAFETY: the arguments match dk_apply_mask_T(const T* x, T* y, const u32* mask,
        // u64 n, dk_map map, u32 mode, C k, C add, C dropped) (C: T's compute type; dk_map is
        // DeviceMap); x and y hold n elements; the mask holds every index the map yields for
        // i < n (the layer computed both).
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
    let op = noise_op(op);
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

/// Gaussian noise drawn over a noise shape of `len` elements and broadcast through `map`:
/// `x * e[map(i)]` or `x + e[map(i)]`, `e[j]` the value the unbroadcast noise gives element
/// `j` (`dk_noise_values_*` into a device buffer of the compute type, then
/// `dk_noise_broadcast_*`; the buffer is freed after the launches, in stream order).
///
/// # Errors
/// [`crate::Error::Cuda`] when the buffer cannot be allocated or a launch fails.
pub(crate) fn noise_broadcast<T: CudaElement>(
    io: DeviceIo<'_, T>,
    (seed, draw): (u64, u64),
    (mean, stddev, op): (T::Compute, T::Compute, NoiseOp),
    len: usize,
    map: MaskMap,
) -> Result<()> {
    let dev = io.device();
    let n = io.len() as u64;
    if n == 0 {
        return Ok(());
    }
    let op = noise_op(op);
    let map = DeviceMap::new(map);
    let stream = Arc::clone(dev.stream());
    // SAFETY: dk_noise_values writes all `len` values before dk_noise_broadcast, queued after
    // it on the same stream, reads any.
    let mut values = unsafe { stream.alloc::<T::Compute>(len.max(1)) }
        .map_err(|e| driver_error("allocating the noise values on the device", e))?;
    let len = len as u64;
    let kernels = dev.kernels();
    {
        let (v, record) = values.device_ptr_mut(&stream);
        let mut a = stream.launch_builder(&kernels.noise_values[T::KERNEL]);
        a.arg(&v).arg(&len).arg(&seed).arg(&draw);
        a.arg(&mean).arg(&stddev).arg(&op);
        let blocks = dev.grid(len.div_ceil(4), u64::from(THREADS));
        // SAFETY: the arguments match dk_noise_values_T(C* values, u64 len, u64 seed,
        // u64 draw, C mean, C stddev, u32 op) (C: T's compute type); values holds len
        // elements of C.
        let r = queued(unsafe { a.launch(config(blocks)) });
        drop(record);
        r?;
    }
    let blocks = dev.grid(n.div_ceil(4), GROUPS_PER_BLOCK);
    with_ptrs(&stream, io, |x, y| {
        let (v, record) = values.device_ptr(&stream);
        let mut a = stream.launch_builder(&kernels.noise_broadcast[T::KERNEL]);
        a.arg(&x).arg(&y).arg(&v).arg(&n).arg(&map).arg(&op);
        // SAFETY: the arguments match dk_noise_broadcast_T(const T* x, T* y, const C* values,
        // u64 n, dk_map map, u32 op) (C: T's compute type; dk_map is DeviceMap); x and y hold
        // n elements; values holds every index the map yields for i < n (the layer computed
        // both from one shape).
        let r = queued(unsafe { a.launch(config(blocks)) });
        drop(record);
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::BroadcastMap;

    /// `DeviceMap` has `dk_map`'s layout: the offsets kernels.cu's fields have.
    #[test]
    fn device_maps_have_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<DeviceMap>(), 152);
        assert_eq!(std::mem::offset_of!(DeviceMap, groups), 4);
        assert_eq!(std::mem::offset_of!(DeviceMap, inner), 8);
        assert_eq!(std::mem::offset_of!(DeviceMap, channels), 16);
        assert_eq!(std::mem::offset_of!(DeviceMap, dims), 24);
        assert_eq!(std::mem::offset_of!(DeviceMap, strides), 88);
        let b = BroadcastMap {
            groups: 3,
            dims: [2, 3, 4, 1, 1, 1, 1, 1],
            strides: [0, 4, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(
            DeviceMap::new(MaskMap::Broadcast(b)).fields(),
            [3, 1, 1, 3, 2, 3, 4, 0, 4, 0]
        );
        assert_eq!(
            DeviceMap::new(MaskMap::ChannelsLast {
                channels: 5,
                inner: 7
            })
            .fields(),
            [2, 7, 5, 0]
        );
    }
}
