//! The kernels' CUDA source, the PTX shipped with the crate, and NVRTC.
//!
//! `cuda/kernels.ptx` is generated from `cuda/kernels.cu` (both in the crate's folder, next
//! to `src/`) by NVRTC ahead of time (`make ptx`, the `gen_ptx` example), so at run time only
//! the NVIDIA driver is needed: it JIT-compiles the PTX for the card. Its first line records
//! the FNV-1a hash of the source it came from; a test fails when the two drift apart. If the
//! driver rejects the PTX (a driver older than the PTX ISA), or `DROPKIT_CUDA_KERNELS=nvrtc`
//! asks for it, the source is compiled at run time with NVRTC (`libnvrtc.so`, from the CUDA
//! toolkit or the `nvidia-cuda-nvrtc` wheels).

use super::driver::{nvrtc_missing, nvrtc_present, panic_text};
use super::shared::PTX_ARCH;
use crate::error::{Error, Result};

/// The CUDA source of every kernel.
pub(crate) const KERNELS_CU: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/cuda/kernels.cu"));

/// The PTX compiled from [`KERNELS_CU`] (with a header comment line).
pub(crate) const KERNELS_PTX: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/cuda/kernels.ptx"));

/// The NVRTC options of both paths. `--fmad=false` keeps NVRTC from contracting a multiply
/// and an add into an FMA (the source also spells every operation with a `_rn` intrinsic),
/// and IEEE division, square root and denormals keep the results equal to the CPU's.
pub(crate) fn nvrtc_options(arch: &str) -> Vec<String> {
    vec![
        format!("--gpu-architecture={arch}"),
        "--fmad=false".into(),
        "--ftz=false".into(),
        "--prec-div=true".into(),
        "--prec-sqrt=true".into(),
    ]
}

/// FNV-1a (64-bit) of a text: names the source a PTX file was generated from.
pub(crate) fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The first line of `kernels.ptx`: the source hash, NVRTC's version and the options.
pub(crate) fn ptx_header(nvrtc: (i32, i32)) -> String {
    format!(
        "// dropkit kernels.ptx: generated from kernels.cu (fnv1a64 {:016x}) by NVRTC {}.{} with {}; \
         regenerate with `make ptx`, do not edit",
        fnv1a64(KERNELS_CU),
        nvrtc.0,
        nvrtc.1,
        nvrtc_options(PTX_ARCH).join(" ")
    )
}

/// The source hash recorded in the shipped PTX's header, if it has one.
#[cfg(test)]
pub(crate) fn shipped_ptx_source_hash() -> Option<u64> {
    let first = KERNELS_PTX.lines().next()?;
    let start = first.find("fnv1a64 ")? + "fnv1a64 ".len();
    u64::from_str_radix(first.get(start..start + 16)?, 16).ok()
}

/// NVRTC's version, `(major, minor)`.
///
/// # Errors
/// [`Error::CudaUnavailable`] when NVRTC cannot be loaded.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    if !nvrtc_present() {
        return Err(nvrtc_missing("NVRTC's version was asked for"));
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); nvrtcVersion writes two ints.
    let rc = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if rc != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(Error::Cuda {
            message: format!("nvrtcVersion failed: {rc:?}"),
        });
    }
    Ok((major, minor))
}

/// Compiles the kernels' source with NVRTC for `arch` (e.g. `"compute_90"`) and returns the
/// PTX text. This is what the run-time fallback does, and, with [`PTX_ARCH`], what the
/// `gen_ptx` example writes to `kernels.ptx` (after [`ptx_file`]'s header).
///
/// # Errors
/// [`Error::CudaUnavailable`] when NVRTC cannot be loaded; [`Error::Cuda`] with NVRTC's log
/// when the compilation fails.
pub fn compile_ptx(arch: &str) -> Result<String> {
    compile_ptx_with(arch, &[])
}

/// [`compile_ptx`] with `-D` definitions (`"DK_UNROLL=2"`): the tuning variants of
/// `kernels.cu` that `scripts/gpu-tune.sh` compares.
///
/// # Errors
/// As [`compile_ptx`].
pub fn compile_ptx_with(arch: &str, defines: &[&str]) -> Result<String> {
    if !nvrtc_present() {
        return Err(nvrtc_missing("the kernels must be compiled from source"));
    }
    let mut options = nvrtc_options(arch);
    options.extend(defines.iter().map(|d| format!("-D{d}")));
    let opts = cudarc::nvrtc::CompileOptions {
        options,
        name: Some("dropkit_kernels.cu".into()),
        ..Default::default()
    };
    let ptx = std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(KERNELS_CU, opts))
        .map_err(|p| Error::CudaUnavailable {
            reason: format!("NVRTC failed: {}", panic_text(&p)),
        })?
        .map_err(|e| Error::Cuda {
            message: format!("NVRTC could not compile dropkit's kernels for {arch}: {e}"),
        })?;
    Ok(ptx.to_src())
}

/// Compiles the source for a card of compute capability `(major, minor)`: for its own
/// architecture, or, when this NVRTC does not know it (older than the card), for the oldest
/// one it does among Turing (`compute_75`, the oldest CUDA 13 takes) and [`PTX_ARCH`]
/// (`compute_70`, the oldest CUDA 12 takes).
///
/// # Errors
/// As [`compile_ptx`], with the first attempt's error.
pub fn compile_ptx_for(major: i32, minor: i32) -> Result<String> {
    let native = format!("compute_{major}{minor}");
    compile_ptx(&native)
        .or_else(|first| compile_ptx("compute_75").map_err(|_| first))
        .or_else(|first| compile_ptx(PTX_ARCH).map_err(|_| first))
}

/// The text of a fresh `kernels.ptx`: the header line, then the PTX for [`PTX_ARCH`].
///
/// # Errors
/// As [`compile_ptx`].
pub fn ptx_file() -> Result<String> {
    ptx_file_with(PTX_ARCH, &[])
}

/// [`ptx_file`] for a tuning variant: another `arch` or `defines` (as in
/// [`compile_ptx_with`]; the header names them). Such a file is loaded in place of the shipped PTX with `DROPKIT_CUDA_PTX=path`.
///
/// # Errors
/// As [`compile_ptx`].
pub fn ptx_file_with(arch: &str, defines: &[&str]) -> Result<String> {
    let version = nvrtc_version()?;
    let ptx = compile_ptx_with(arch, defines)?;
    let mut header = ptx_header(version);
    if arch != PTX_ARCH {
        header.push_str(&format!(" --gpu-architecture={arch}"));
    }
    for d in defines {
        header.push_str(&format!(" -D{d}"));
    }
    Ok(format!("{header}\n{}", ptx.trim_end_matches('\0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_ptx_was_generated_from_this_source() {
        assert_eq!(
            shipped_ptx_source_hash(),
            Some(fnv1a64(KERNELS_CU)),
            "kernels.cu changed since kernels.ptx was generated: run `make ptx`"
        );
        let typed = [
            "dk_dropout",
            "dk_apply_mask",
            "dk_noise",
            "dk_noise_values",
            "dk_noise_broadcast",
            "dk_scale",
        ]
        .into_iter()
        .flat_map(|k| ["f32", "f64", "f16", "bf16"].map(|t| format!("{k}_{t}")));
        for name in typed.chain(["dk_keep_bits".to_string()]) {
            assert!(
                KERNELS_PTX.contains(&format!(".entry {name}(")),
                "{name} is missing from kernels.ptx"
            );
        }
    }

    /// The half types convert with integer operations: no half-precision instruction (the
    /// bfloat16 ones need sm_80), so the PTX loads on every card `PTX_ARCH` names.
    #[test]
    fn shipped_ptx_has_no_half_precision_instructions() {
        assert!(KERNELS_PTX.contains(&format!(".target {}", PTX_ARCH.replace("compute", "sm"))));
        for ty in [".f16", ".bf16", ".f16x2", ".bf16x2"] {
            let used = KERNELS_PTX
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| {
                    l.split_whitespace()
                        .next()
                        .is_some_and(|op| op.contains(ty))
                });
            assert!(!used, "kernels.ptx has a {ty} instruction");
        }
    }

    /// Every kernel keeps its arrays (loaded groups, the general map's coordinates) in
    /// registers: a `.local` depot would be per-thread memory traffic in the element loop.
    #[test]
    fn shipped_ptx_uses_no_local_memory() {
        let local = KERNELS_PTX
            .lines()
            .find(|l| !l.trim_start().starts_with("//") && l.contains(".local"));
        assert_eq!(local, None, "kernels.ptx uses local memory");
    }

    #[test]
    fn the_launches_size_grids_for_the_sources_unroll() {
        let line = KERNELS_CU
            .lines()
            .find(|l| l.starts_with("#define DK_UNROLL "))
            .expect("kernels.cu defines DK_UNROLL");
        let value = line["#define DK_UNROLL ".len()..].split_whitespace().next();
        assert_eq!(
            value,
            Some(super::super::launch::UNROLL.to_string().as_str())
        );
    }

    #[test]
    fn shipped_ptx_has_no_contracted_or_approximate_float_operations() {
        // Every f32 multiply, add and divide must be the `.rn` form (never contracted or
        // approximated), and no `mad`/`fma` other than the explicit `fma.rn`.
        for line in KERNELS_PTX.lines().map(str::trim) {
            for op in [
                "mul.f32",
                "add.f32",
                "sub.f32",
                "mul.f64",
                "add.f64",
                "sub.f64",
                "div.approx",
                "div.full",
                "mad.f32",
                "mad.f64",
                "fma.f32",
            ] {
                assert!(!line.starts_with(op), "{line}");
            }
            assert!(
                !line.contains("ex2.approx") && !line.contains("lg2.approx"),
                "{line}"
            );
        }
    }

    #[test]
    fn nvrtc_compiles_the_source_when_present() {
        if !nvrtc_present() {
            eprintln!("skipped: NVRTC (libnvrtc.so) not found; `make ptx` sets it up");
            return;
        }
        let (major, minor) = nvrtc_version().unwrap();
        // CUDA 13's NVRTC starts at Turing; CUDA 12's at compute_50.
        let arch = if major >= 13 { "compute_75" } else { PTX_ARCH };
        let ptx = compile_ptx(arch).expect("the kernels compile");
        let shipped = KERNELS_PTX.split_once('\n').map_or("", |(_, rest)| rest);
        if KERNELS_PTX.contains(&format!("by NVRTC {major}.{minor} ")) {
            assert_eq!(ptx.trim_end_matches('\0').trim(), shipped.trim());
        }
        let ptx = compile_ptx_for(9, 0).expect("the kernels compile for an H100");
        assert!(ptx.contains(".entry dk_dropout_f32("));
    }
}
