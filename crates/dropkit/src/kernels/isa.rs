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
}

/// The best path this CPU has (detected once). `DROPKIT_KERNEL=portable` forces the scalar
/// path (for benchmarks).
pub(crate) fn best_path() -> Path {
    static BEST: OnceLock<Path> = OnceLock::new();
    *BEST.get_or_init(|| {
        if std::env::var("DROPKIT_KERNEL").is_ok_and(|v| v.eq_ignore_ascii_case("portable")) {
            return Path::Portable;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi2")
        {
            return Path::Avx2;
        }
        Path::Portable
    })
}
