//! GPU benchmark: dropkit's layers on 2^28 `f32` elements (1 GiB) against a device-to-device
//! copy of the same bytes (and Dropout and GaussianNoise on 2^28 `f16` and `bf16` elements,
//! their bytes against the same copy's bandwidth), timed with CUDA events, median of 30 runs after 3 warm-ups.
//!
//! Prints one line per operation (milliseconds, GB/s of bytes read + written, ratio to the
//! copy's GB/s) and, with `--tsv PATH`, writes the same rows for `scripts/gpu_peers.py`,
//! which prints them beside PyTorch's. Outputs go into preallocated tensors
//! (`forward_cuda_into`), so a row times the kernel, plus the 1-bit mask's allocation from
//! the memory pool where the layer keeps one.
//!
//! Usage: `gpu_bench [--tsv PATH] [--log2 N] [--runs R]` (defaults: no file, 28, 30).
//! Build: `cargo build --release --features cuda --example gpu_bench` (`make gpu-build`).

use std::error::Error;

use dropkit::cuda::cudarc::driver::sys::CUevent_flags;
use dropkit::cuda::{CudaDevice, CudaElement, CudaModule, DeviceTensor};
use dropkit::{
    Dropout, GaussianDropout, GaussianNoise, GeneratorKind, MaskStorage, Module, SpatialDropout2D,
};

struct Args {
    tsv: Option<String>,
    log2: u32,
    runs: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        tsv: None,
        log2: 28,
        runs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tsv" => a.tsv = Some(value()?),
            "--log2" => a.log2 = value()?.parse().map_err(|e| format!("--log2: {e}"))?,
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if !(12..=32).contains(&a.log2) || a.runs < 1 {
        return Err("--log2 must be in 12..=32 and --runs at least 1".into());
    }
    Ok(a)
}

/// Median milliseconds of `runs` timed calls of `op` (after 3 untimed ones).
fn time(
    dev: &CudaDevice,
    runs: usize,
    mut op: impl FnMut() -> dropkit::Result<()>,
) -> Result<f64, Box<dyn Error>> {
    let ctx = dev.context();
    let start = ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let end = ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    for _ in 0..3 {
        op()?;
    }
    dev.synchronize()?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        start.record(dev.stream())?;
        op()?;
        end.record(dev.stream())?;
        end.synchronize()?;
        ms.push(f64::from(start.elapsed_ms(&end)?));
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

struct Row {
    key: &'static str,
    what: &'static str,
    ms: f64,
    bytes: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    let dev = match CudaDevice::new(0) {
        Ok(dev) => dev,
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            std::process::exit(2);
        }
    };
    let n = 1usize << args.log2;
    let shape = [n];
    let runs = args.runs;
    println!(
        "device: {} (compute {}.{}, {} SMs), kernels: {:?}, n = 2^{} f32, median of {runs} runs",
        dev.name(),
        dev.compute_capability().0,
        dev.compute_capability().1,
        dev.multiprocessors(),
        dev.kernel_source(),
        args.log2
    );

    match dev.grid_cap_per_multiprocessor() {
        Some(cap) => println!("grid: at most {cap} blocks per SM (DROPKIT_CUDA_BLOCKS_PER_SM)"),
        None => println!("grid: one pass over the tensor"),
    }

    // Inputs filled with normals on the device (no 1 GiB host transfer).
    let mut fill = GaussianNoise::new(1.0)?;
    fill.set_seed(1, GeneratorKind::Philox);
    let mut x = DeviceTensor::<f32>::zeros(&dev, &shape)?;
    fill.forward_cuda_inplace(&mut x)?;
    let mut g = DeviceTensor::<f32>::zeros(&dev, &shape)?;
    fill.forward_cuda_inplace(&mut g)?;
    let mut y = DeviceTensor::<f32>::zeros(&dev, &shape)?;
    let mut gi = DeviceTensor::<f32>::zeros(&dev, &shape)?;
    dev.synchronize()?;

    let data = 8.0 * n as f64; // 4 bytes read + 4 written per element
    let mask = n as f64 / 8.0;
    let mut rows = Vec::new();

    let ms = time(&dev, runs, || y.copy_from(&x))?;
    rows.push(Row {
        key: "copy",
        what: "device copy (cuMemcpyDtoD)",
        ms,
        bytes: data,
    });

    let mut bits = Dropout::new(0.5)?.with_mask_storage(MaskStorage::Bits);
    bits.set_seed(2, GeneratorKind::Philox);
    let ms = time(&dev, runs, || bits.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: "dropout_fwd_bits",
        what: "Dropout forward, 1-bit mask",
        ms,
        bytes: data + mask,
    });
    let ms = time(&dev, runs, || bits.backward_cuda_into(&x, &g, &mut gi))?;
    rows.push(Row {
        key: "dropout_bwd_bits",
        what: "Dropout backward, 1-bit mask",
        ms,
        bytes: data + mask,
    });

    let mut regen = Dropout::new(0.5)?.with_mask_storage(MaskStorage::Regenerate);
    regen.set_seed(3, GeneratorKind::Philox);
    let ms = time(&dev, runs, || regen.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: "dropout_fwd_nomask",
        what: "Dropout forward, no mask (regenerate)",
        ms,
        bytes: data,
    });
    let ms = time(&dev, runs, || regen.backward_cuda_into(&x, &g, &mut gi))?;
    rows.push(Row {
        key: "dropout_bwd_nomask",
        what: "Dropout backward, no mask (regenerate)",
        ms,
        bytes: data,
    });

    let ms = time(&dev, runs, || bits.forward_cuda_inplace(&mut y))?;
    rows.push(Row {
        key: "dropout_inplace_bits",
        what: "Dropout forward in place, 1-bit mask",
        ms,
        bytes: data + mask,
    });
    let ms = time(&dev, runs, || regen.forward_cuda_inplace(&mut y))?;
    rows.push(Row {
        key: "dropout_inplace_nomask",
        what: "Dropout forward in place, no mask",
        ms,
        bytes: data,
    });

    // The plainest streaming kernel (load, multiply, store): the ceiling of this kernel design.
    let mut eval = Dropout::with_options(0.3, false, false)?;
    eval.evaluate();
    let ms = time(&dev, runs, || eval.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: "dropout_eval_noscale",
        what: "Dropout(0.3, scale off) evaluate: x * 0.7",
        ms,
        bytes: data,
    });

    let mut noise = GaussianNoise::new(0.2)?;
    noise.set_seed(4, GeneratorKind::Philox);
    let ms = time(&dev, runs, || noise.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: "gaussian_noise",
        what: "GaussianNoise(0.2) forward",
        ms,
        bytes: data,
    });
    let mut gd = GaussianDropout::new(0.5)?;
    gd.set_seed(5, GeneratorKind::Philox);
    let ms = time(&dev, runs, || gd.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: "gaussian_dropout",
        what: "GaussianDropout(0.5) forward",
        ms,
        bytes: data,
    });

    // The half types: 2 bytes read + 2 written per element, computed in f32 on the device.
    half_rows::<half::f16>(
        &dev,
        &shape,
        runs,
        ["dropout_fwd_bits_f16", "gaussian_noise_f16"],
        &mut rows,
    )?;
    half_rows::<half::bf16>(
        &dev,
        &shape,
        runs,
        ["dropout_fwd_bits_bf16", "gaussian_noise_bf16"],
        &mut rows,
    )?;

    if args.log2 >= 22 {
        // (N, C, H, W) = (64, 256, 128, 128) at 2^28; H and W shrink with --log2.
        let hw = 1usize << ((args.log2 - 14) / 2);
        let shape4 = [64, 256, hw, n / (64 * 256 * hw)];
        let x4 = reshape(&dev, &x, &shape4)?;
        let mut y4 = DeviceTensor::<f32>::zeros(&dev, &shape4)?;
        let mut sd = SpatialDropout2D::new(0.5)?.with_scale(true);
        sd.set_seed(6, GeneratorKind::Philox);
        let ms = time(&dev, runs, || sd.forward_cuda_into(&x4, &mut y4))?;
        rows.push(Row {
            key: "spatial2d",
            what: "SpatialDropout2D(0.5) forward, NCHW",
            ms,
            bytes: data,
        });
        println!("SpatialDropout2D shape: {shape4:?}");
    }

    let copy_gbps = rows[0].bytes / rows[0].ms / 1e6;
    println!(
        "{:<42} {:>9} {:>9} {:>8}",
        "operation", "ms", "GB/s", "vs copy"
    );
    let mut tsv = String::from("key\twhat\tms\tbytes\tgbps\tratio\n");
    for r in &rows {
        let gbps = r.bytes / r.ms / 1e6;
        println!(
            "{:<42} {:>9.4} {:>9.1} {:>8.3}",
            r.what,
            r.ms,
            gbps,
            gbps / copy_gbps
        );
        tsv.push_str(&format!(
            "{}\t{}\t{:.6}\t{:.0}\t{:.3}\t{:.4}\n",
            r.key,
            r.what,
            r.ms,
            r.bytes,
            gbps,
            gbps / copy_gbps
        ));
    }
    if let Some(path) = args.tsv {
        std::fs::write(&path, tsv)?;
        println!("wrote {path}");
    }
    Ok(())
}

/// Dropout forward (1-bit mask) and GaussianNoise forward on `T` tensors of `shape`, as
/// the rows `keys`.
fn half_rows<T: CudaElement>(
    dev: &CudaDevice,
    shape: &[usize],
    runs: usize,
    keys: [&'static str; 2],
    rows: &mut Vec<Row>,
) -> Result<(), Box<dyn Error>> {
    let n: usize = shape.iter().product();
    let data = (2 * std::mem::size_of::<T>() * n) as f64; // read + written
    let mut fill = GaussianNoise::new(1.0)?;
    fill.set_seed(7, GeneratorKind::Philox);
    let mut x = DeviceTensor::<T>::zeros(dev, shape)?;
    fill.forward_cuda_inplace(&mut x)?;
    let mut y = DeviceTensor::<T>::zeros(dev, shape)?;
    dev.synchronize()?;
    let (dropout, noise) = match T::NAME {
        "float16" => (
            "Dropout forward, 1-bit mask, f16",
            "GaussianNoise(0.2) forward, f16",
        ),
        _ => (
            "Dropout forward, 1-bit mask, bf16",
            "GaussianNoise(0.2) forward, bf16",
        ),
    };
    let mut bits = Dropout::new(0.5)?.with_mask_storage(MaskStorage::Bits);
    bits.set_seed(8, GeneratorKind::Philox);
    let ms = time(dev, runs, || bits.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: keys[0],
        what: dropout,
        ms,
        bytes: data + n as f64 / 8.0,
    });
    let mut g = GaussianNoise::new(0.2)?;
    g.set_seed(9, GeneratorKind::Philox);
    let ms = time(dev, runs, || g.forward_cuda_into(&x, &mut y))?;
    rows.push(Row {
        key: keys[1],
        what: noise,
        ms,
        bytes: data,
    });
    Ok(())
}

/// A copy of `x` with another shape of the same element count.
fn reshape(
    dev: &CudaDevice,
    x: &DeviceTensor<f32>,
    shape: &[usize],
) -> dropkit::Result<DeviceTensor<f32>> {
    let mut out = DeviceTensor::<f32>::zeros(dev, shape)?;
    let (src, dst) = (x.cuda_slice(), out.cuda_slice_mut());
    dev.stream()
        .memcpy_dtod(src, dst)
        .map_err(|e| dropkit::Error::Cuda {
            message: e.to_string(),
        })?;
    Ok(out)
}
