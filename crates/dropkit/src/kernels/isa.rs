//! The instruction sets the kernels run on, detected once per process.

use std::sync::OnceLock;

/// The instruction set a kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Scalar Rust, any CPU.
    Portable,
    /// AVX2 + FMA + BMI2 (x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512F, with AVX2 + FMA + BMI2 (x86-64; every CPU with AVX-512F has those).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Path {
    /// Every path, best first.
    pub(crate) fn all() -> Vec<Path> {
        vec![
            #[cfg(target_arch = "x86_64")]
            Path::Avx512,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2,
            Path::Portable,
        ]
    }

    /// The name `DROPKIT_KERNEL` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => "avx512",
        }
    }

    /// Whether this CPU has the path's features.
    pub(crate) fn available(self) -> bool {
        match self {
            Path::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("bmi2")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => std::is_x86_feature_detected!("avx512f") && Path::Avx2.available(),
        }
    }
}

/// The path of this process (chosen once): [`choose`] with `DROPKIT_KERNEL`.
pub(crate) fn best_path() -> Path {
    static BEST: OnceLock<Path> = OnceLock::new();
    *BEST.get_or_init(|| choose(std::env::var("DROPKIT_KERNEL").ok().as_deref()))
}

/// The path for a `DROPKIT_KERNEL` value: `avx512`, `avx2` or `portable` (any case) forces
/// that path where the CPU has it; a path the CPU lacks, a name this build does not know
/// (`avx2` on aarch64, say) or no value gives the best path the CPU has (AVX-512, then AVX2,
/// then portable). Results never depend on it, only speed.
pub(crate) fn choose(forced: Option<&str>) -> Path {
    let forced = forced.and_then(|name| {
        Path::all()
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    });
    match forced {
        Some(p) if p.available() => p,
        _ => Path::all()
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(Path::Portable),
    }
}
