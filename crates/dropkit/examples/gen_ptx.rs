//! Regenerates `cuda/kernels.ptx` from `cuda/kernels.cu` with NVRTC (`make ptx`).
//!
//! NVRTC must be loadable: `make ptx` installs the `nvidia-cuda-nvrtc-cu12` wheel (pinned)
//! into `.nvrtc/` and puts its lib folder on `LD_LIBRARY_PATH`. No GPU is needed.
//!
//! Usage: `cargo run --features cuda --example gen_ptx -- [--arch compute_NN] [-D NAME=VALUE]... [OUTPUT]`
//! (default output: the crate's `cuda/kernels.ptx`). `-D` builds a tuning variant (see
//! the top of `kernels.cu` and `scripts/gpu-tune.sh`), loaded with `DROPKIT_CUDA_PTX=OUTPUT`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut defines = Vec::new();
    let mut arch = dropkit::cuda::PTX_ARCH.to_string();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--arch" {
            arch = args
                .next()
                .ok_or("--arch needs a value such as compute_90")?;
        } else if arg == "-D" {
            defines.push(args.next().ok_or("-D needs NAME=VALUE")?);
        } else if let Some(d) = arg.strip_prefix("-D") {
            defines.push(d.to_string());
        } else {
            out = Some(arg);
        }
    }
    let out =
        out.unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/cuda/kernels.ptx").to_string());
    let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
    let text = dropkit::cuda::ptx_file_with(&arch, &defines)?;
    std::fs::write(&out, text.as_bytes())?;
    let (major, minor) = dropkit::cuda::nvrtc_version()?;
    println!(
        "wrote {out} ({} lines) with NVRTC {major}.{minor} for {}",
        text.lines().count(),
        arch
    );
    Ok(())
}
