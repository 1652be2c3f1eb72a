//! Regenerates `src/cuda/kernels.ptx` from `src/cuda/kernels.cu` with NVRTC (`make ptx`).
//!
//! NVRTC must be loadable: `make ptx` installs the `nvidia-cuda-nvrtc-cu12` wheel (pinned)
//! into `.nvrtc/` and puts its lib folder on `LD_LIBRARY_PATH`. No GPU is needed.
//!
//! Usage: `cargo run --features cuda --example gen_ptx -- [OUTPUT]` (default: the crate's
//! `src/cuda/kernels.ptx`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/cuda/kernels.ptx").to_string()
    });
    let text = dropkit::cuda::ptx_file()?;
    std::fs::write(&out, text.as_bytes())?;
    let (major, minor) = dropkit::cuda::nvrtc_version()?;
    println!(
        "wrote {out} ({} lines) with NVRTC {major}.{minor} for {}",
        text.lines().count(),
        dropkit::cuda::PTX_ARCH
    );
    Ok(())
}
