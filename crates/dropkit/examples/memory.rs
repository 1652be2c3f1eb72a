//! Bytes each layer keeps between forward and backward, measured with `Module::saved_bytes`
//! after a training forward on 2^20 f32 elements. Run: `cargo run --release --example memory`.

use dropkit::{
    Dropout, GaussianDropout, GaussianNoise, GeneratorKind, MaskStorage, Module, SpatialDropout1D,
    SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, IxDyn};

fn report<M: Module>(
    name: &str,
    layer: &mut M,
    shape: &[usize],
    kind: GeneratorKind,
) -> dropkit::Result<()> {
    layer.set_seed(1, kind);
    let x = Array::from_elem(IxDyn(shape), 1.0f32);
    layer.forward(&x)?;
    let n = x.len();
    let kept = layer.saved_bytes();
    println!(
        "{name:<36} {:<7} {n:>8} elements  {kept:>8} bytes kept  {:>8.4} bytes/element",
        kind.name(),
        kept as f64 / n as f64
    );
    Ok(())
}

fn main() -> dropkit::Result<()> {
    let flat = [1 << 20];
    for kind in [GeneratorKind::Philox, GeneratorKind::BigDl] {
        report(
            "Dropout (MaskStorage::Bits)",
            &mut Dropout::new(0.5)?,
            &flat,
            kind,
        )?;
        let mut regen = Dropout::new(0.5)?.with_mask_storage(MaskStorage::Regenerate);
        report("Dropout (MaskStorage::Regenerate)", &mut regen, &flat, kind)?;
        report(
            "GaussianDropout",
            &mut GaussianDropout::new(0.5)?,
            &flat,
            kind,
        )?;
        let mut stored = GaussianDropout::new(0.5)?.with_stored_noise(true);
        report("GaussianDropout (stored noise)", &mut stored, &flat, kind)?;
        report("GaussianNoise", &mut GaussianNoise::new(0.5)?, &flat, kind)?;
        report(
            "SpatialDropout1D (16, 1024, 64)",
            &mut SpatialDropout1D::new(0.5)?,
            &[16, 1024, 64],
            kind,
        )?;
        report(
            "SpatialDropout2D (16, 64, 32, 32)",
            &mut SpatialDropout2D::new(0.5)?,
            &[16, 64, 32, 32],
            kind,
        )?;
        report(
            "SpatialDropout3D (16, 64, 8, 8, 16)",
            &mut SpatialDropout3D::new(0.5)?,
            &[16, 64, 8, 8, 16],
            kind,
        )?;
    }
    Ok(())
}
