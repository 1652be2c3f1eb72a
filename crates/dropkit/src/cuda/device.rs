//! A CUDA device: opening it (context, stream, memory pool), counting the devices the driver
//! sees, and loading the kernels (the shipped PTX, a tuning variant, or NVRTC's).

use std::sync::{Arc, Mutex};

use cudarc::driver::sys::{CUdevice_attribute, CUresult};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule as CuModule, CudaStream};
use cudarc::nvrtc::Ptx;

use super::driver::{driver_error, driver_present, guarded, nvrtc_missing, nvrtc_present};
use super::shared::KernelSource;
use super::source::{self, KERNELS_PTX};
use crate::error::{Error, Result};

/// A handle to one CUDA device: its context, the stream dropkit's work is queued on, and the
/// loaded kernels. Cheap to clone; [`CudaDevice::new`] returns the same process-wide state
/// for the same ordinal (the kernels are loaded once).
///
/// All work is asynchronous on [`CudaDevice::stream`] (a non-blocking stream of the
/// device's primary context); copies to the host wait for it.
///
/// # Example
/// ```
/// use dropkit::cuda::CudaDevice;
/// match CudaDevice::new(0) {
///     Ok(dev) => println!("{} ({:?} kernels)", dev.name(), dev.kernel_source()),
///     // Without the driver, a device or the `cuda` feature, an error says what is missing.
///     Err(e) => assert!(e.to_string().starts_with("CUDA is unavailable: ")),
/// }
/// ```
///
/// # Errors
/// [`Error::CudaUnavailable`] names what is missing: the driver library (`libcuda.so.1`), a
/// device with that ordinal, or, when the driver cannot load the shipped PTX, NVRTC.
#[derive(Clone)]
pub struct CudaDevice {
    inner: Arc<Inner>,
}

struct Inner {
    ordinal: usize,
    name: String,
    compute_capability: (i32, i32),
    sm_count: u32,
    source: KernelSource,
    kernels: Kernels,
    /// `DROPKIT_CUDA_BLOCKS_PER_SM` when the device was opened: see [`CudaDevice::grid`].
    grid_cap_per_sm: Option<u32>,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
}

/// Threads per block of every kernel.
pub(crate) const THREADS: u32 = 256;

/// The largest grid (blocks in x) CUDA launches.
const MAX_GRID: u32 = i32::MAX as u32;

/// `DROPKIT_CUDA_BLOCKS_PER_SM`, a positive integer, if set.
fn grid_cap_per_sm() -> Option<u32> {
    std::env::var("DROPKIT_CUDA_BLOCKS_PER_SM")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&b| b > 0)
}

/// The loaded kernel functions (index [`super::CudaElement::KERNEL`]: 0 `f32`, 1 `f64`,
/// 2 `f16`, 3 `bf16`).
pub(crate) struct Kernels {
    pub(crate) dropout: [CudaFunction; 4],
    pub(crate) apply_mask: [CudaFunction; 4],
    pub(crate) noise: [CudaFunction; 4],
    /// The noise over a noise shape, in the compute type (`dk_noise_values_*`).
    pub(crate) noise_values: [CudaFunction; 4],
    /// That noise broadcast to the data (`dk_noise_broadcast_*`).
    pub(crate) noise_broadcast: [CudaFunction; 4],
    pub(crate) scale: [CudaFunction; 4],
    pub(crate) keep_bits: CudaFunction,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.inner.ordinal)
            .field("name", &self.inner.name)
            .field("compute_capability", &self.inner.compute_capability)
            .field("kernels", &self.inner.source)
            .finish()
    }
}

/// Devices opened so far, by ordinal.
static DEVICES: Mutex<Vec<CudaDevice>> = Mutex::new(Vec::new());

/// How many CUDA devices the driver sees.
///
/// # Errors
/// [`Error::CudaUnavailable`] when the driver library is missing or cannot initialize.
pub fn device_count() -> Result<usize> {
    driver_present()?;
    let count = guarded("counting devices", || {
        cudarc::driver::result::init()?;
        cudarc::driver::result::device::get_count()
    })?;
    match count {
        Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
        Err(e) if e.0 == CUresult::CUDA_ERROR_NO_DEVICE => Ok(0),
        Err(e) => Err(Error::CudaUnavailable {
            reason: format!("the NVIDIA driver did not initialize: {e}"),
        }),
    }
}

impl CudaDevice {
    /// Opens device `ordinal` (0 is the first GPU), or returns the handle opened before.
    ///
    /// Checks for the driver library before touching the driver API, so a machine without
    /// CUDA gets an error, never a panic. Loading the kernels JIT-compiles the shipped PTX
    /// (cached by the driver across runs); set `DROPKIT_CUDA_KERNELS=nvrtc` to compile the
    /// CUDA source with NVRTC instead, or `=ptx` to forbid the NVRTC fallback.
    ///
    /// # Errors
    /// [`Error::CudaUnavailable`] naming what is missing (driver library, device, NVRTC when
    /// the PTX was rejected); [`Error::Cuda`] when a driver call fails.
    pub fn new(ordinal: usize) -> Result<Self> {
        let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dev) = devices.iter().find(|d| d.inner.ordinal == ordinal) {
            return Ok(dev.clone());
        }
        let dev = Self::open(ordinal)?;
        devices.push(dev.clone());
        Ok(dev)
    }

    fn open(ordinal: usize) -> Result<Self> {
        driver_present()?;
        let ctx = guarded("opening the device", || CudaContext::new(ordinal))?.map_err(|e| {
            let reason = if e.0 == CUresult::CUDA_ERROR_NO_DEVICE {
                "the NVIDIA driver is installed but sees no CUDA device".to_string()
            } else if e.0 == CUresult::CUDA_ERROR_INVALID_DEVICE {
                match device_count() {
                    Ok(n) => format!("there is no CUDA device {ordinal}: the driver sees {n}"),
                    Err(_) => format!("there is no CUDA device {ordinal}"),
                }
            } else {
                format!("CUDA device {ordinal} could not be opened: {e}")
            };
            Error::CudaUnavailable { reason }
        })?;
        let name = ctx
            .name()
            .map_err(|e| driver_error("reading the name", e))?;
        let compute_capability = ctx
            .compute_capability()
            .map_err(|e| driver_error("reading the compute capability", e))?;
        let sm_count = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| driver_error("reading the multiprocessor count", e))?;
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_error("creating a stream", e))?;
        keep_freed_memory_pooled(&ctx);
        let (module, source) = load_module(&ctx, compute_capability)?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| driver_error(&format!("finding kernel {name}"), e))
        };
        // A kernel's four element variants, in `CudaElement::KERNEL` order.
        let typed = |kernel: &str| -> Result<[CudaFunction; 4]> {
            Ok([
                f(&format!("{kernel}_f32"))?,
                f(&format!("{kernel}_f64"))?,
                f(&format!("{kernel}_f16"))?,
                f(&format!("{kernel}_bf16"))?,
            ])
        };
        let kernels = Kernels {
            dropout: typed("dk_dropout")?,
            apply_mask: typed("dk_apply_mask")?,
            noise: typed("dk_noise")?,
            noise_values: typed("dk_noise_values")?,
            noise_broadcast: typed("dk_noise_broadcast")?,
            scale: typed("dk_scale")?,
            keep_bits: f("dk_keep_bits")?,
        };
        Ok(CudaDevice {
            inner: Arc::new(Inner {
                ordinal,
                name,
                compute_capability,
                sm_count: u32::try_from(sm_count).unwrap_or(1).max(1),
                source,
                kernels,
                grid_cap_per_sm: grid_cap_per_sm(),
                stream,
                ctx,
            }),
        })
    }

    /// The cap on blocks per multiprocessor that `DROPKIT_CUDA_BLOCKS_PER_SM` set, or `None`:
    /// grids cover the tensor in one pass (the default).
    pub fn grid_cap_per_multiprocessor(&self) -> Option<u32> {
        self.inner.grid_cap_per_sm
    }

    /// Blocks for `units` work items, `per_block` per block per pass: enough to cover the work
    /// in one pass, so that each block does one chunk and exits (on an H100 that ran every
    /// kernel at 0.98-1.00 of the device copy, where one resident wave looping over the tensor,
    /// 3 to 8 blocks per multiprocessor, reached 0.86-0.95: README, "Kernel tuning"). With
    /// `DROPKIT_CUDA_BLOCKS_PER_SM` at most that many per multiprocessor (the kernels loop).
    pub(crate) fn grid(&self, units: u64, per_block: u64) -> u32 {
        let max = self.inner.grid_cap_per_sm.map_or(MAX_GRID, |per_sm| {
            self.inner.sm_count.saturating_mul(per_sm).min(MAX_GRID)
        });
        units.div_ceil(per_block).clamp(1, u64::from(max)) as u32
    }

    /// The device's ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }

    /// The device's name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The compute capability `(major, minor)`, e.g. `(9, 0)` for an H100.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.inner.compute_capability
    }

    /// Where the loaded kernels came from.
    pub fn kernel_source(&self) -> KernelSource {
        self.inner.source
    }

    /// Waits until all work queued on the device's stream has finished.
    ///
    /// # Errors
    /// [`Error::Cuda`] when the work failed.
    pub fn synchronize(&self) -> Result<()> {
        self.inner
            .stream
            .synchronize()
            .map_err(|e| driver_error("synchronizing", e))
    }

    /// The cudarc context (for interop: events, other kernels).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }

    /// The cudarc stream dropkit queues its work on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }

    /// Whether two handles are the same device state.
    pub fn same_device(&self, other: &CudaDevice) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn kernels(&self) -> &Kernels {
        &self.inner.kernels
    }

    /// The number of multiprocessors.
    pub fn multiprocessors(&self) -> u32 {
        self.inner.sm_count
    }
}

/// Makes the device's default memory pool keep freed memory for reuse instead of returning
/// it to the driver at every synchronization (the pool's default), as PyTorch's caching
/// allocator does: a forward allocates its output and mask from the pool without mapping
/// pages each time. Best effort: a device without memory pools keeps synchronous
/// allocation, and a failure here only costs speed.
fn keep_freed_memory_pooled(ctx: &Arc<CudaContext>) {
    use cudarc::driver::sys;
    if !ctx.has_async_alloc() {
        return;
    }
    let _ = guarded("configuring the memory pool", || {
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        // SAFETY: `pool` is a valid out-pointer and `cu_device` a device handle of a live
        // context; the driver writes the default pool's handle.
        let rc = unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) };
        if rc != CUresult::CUDA_SUCCESS {
            return;
        }
        let mut threshold = u64::MAX;
        // SAFETY: the release threshold attribute takes a pointer to a cuuint64_t, which
        // `threshold` is, alive for the call.
        unsafe {
            sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
        };
    });
}

/// Loads the shipped PTX, or compiles the source with NVRTC.
fn load_module(
    ctx: &Arc<CudaContext>,
    (major, minor): (i32, i32),
) -> Result<(Arc<CuModule>, KernelSource)> {
    let mode = std::env::var("DROPKIT_CUDA_KERNELS").unwrap_or_default();
    let mode = mode.trim().to_ascii_lowercase();
    if let Some(path) = std::env::var_os("DROPKIT_CUDA_PTX").filter(|p| !p.is_empty()) {
        // A tuning variant (gen_ptx -D ...): that file or an error, never a silent fallback.
        let text = std::fs::read_to_string(&path).map_err(|e| Error::CudaUnavailable {
            reason: format!("DROPKIT_CUDA_PTX={}: {e}", path.to_string_lossy()),
        })?;
        let module = ctx.load_module(Ptx::from_src(text)).map_err(|e| {
            driver_error(
                &format!("loading DROPKIT_CUDA_PTX={}", path.to_string_lossy()),
                e,
            )
        })?;
        return Ok((module, KernelSource::Ptx));
    }
    let mut ptx_error = None;
    if mode != "nvrtc" {
        match ctx.load_module(Ptx::from_src(KERNELS_PTX)) {
            Ok(m) => return Ok((m, KernelSource::Ptx)),
            Err(e) if mode == "ptx" => {
                return Err(Error::CudaUnavailable {
                    reason: format!(
                        "the driver rejected dropkit's PTX ({e}; DROPKIT_CUDA_KERNELS=ptx forbids \
                         compiling the source with NVRTC): update the NVIDIA driver (CUDA 12.4 \
                         or newer)"
                    ),
                })
            }
            Err(e) => ptx_error = Some(e),
        }
    }
    let why = match &ptx_error {
        Some(e) => format!("the driver rejected dropkit's PTX ({e})"),
        None => "DROPKIT_CUDA_KERNELS=nvrtc asks to compile the kernels from source".into(),
    };
    if !nvrtc_present() {
        return Err(nvrtc_missing(&why));
    }
    let ptx = source::compile_ptx_for(major, minor)?;
    let module = ctx
        .load_module(Ptx::from_src(ptx))
        .map_err(|e| driver_error(&format!("{why}; loading NVRTC's PTX failed too"), e))?;
    Ok((module, KernelSource::Nvrtc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without the driver library, opening a device is an error naming it (not
    /// a panic). On a machine with a GPU it opens.
    #[test]
    fn new_reports_a_missing_driver_as_an_error() {
        let present = driver_present().is_ok();
        match CudaDevice::new(0) {
            Ok(dev) => {
                assert!(present);
                assert!(!dev.name().is_empty());
            }
            Err(e) => {
                assert!(matches!(e, Error::CudaUnavailable { .. }), "{e}");
                if !present {
                    assert!(e.to_string().contains("libcuda.so.1"), "{e}");
                    assert!(device_count().is_err());
                }
                eprintln!("no CUDA device here: {e}");
            }
        }
    }

    #[test]
    fn a_huge_ordinal_is_an_error_too() {
        let e = CudaDevice::new(1 << 20).unwrap_err();
        assert!(matches!(e, Error::CudaUnavailable { .. }), "{e}");
    }
}
