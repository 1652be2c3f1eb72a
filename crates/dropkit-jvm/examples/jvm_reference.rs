//! The Rust layers' results that the Java tests (`make test-jvm`) compare the JVM classes
//! against, bit for bit: for each layer below (the alpha layers, and the layers that take a
//! noise shape, with one), each generator and each element type, a layer
//! seeded with `set_seed(2024, generator)` runs a training forward, its backward, a second
//! training forward (the next draw) and an evaluation forward.
//!
//! One line per result: `<case> <generator> <type> <pass> <bits>...`, the bits of each element
//! (row-major) in hexadecimal (`f32::to_bits`, `f64::to_bits`). The input is
//! `x[i] = (i + 1) / 4 - 4` and the gradient `g[i] = 1 + i / 2`, exact in both types.
//!
//! `cargo run --release -p dropkit-jvm --example jvm_reference`

use dropkit::{
    AlphaDropout, Dropout, Element, FeatureAlphaDropout, GaussianDropout, GaussianNoise,
    GeneratorKind, Module,
};
use ndarray::{ArrayD, IxDyn};

/// The bits of an element as hexadecimal.
trait Hex {
    fn hex(self) -> String;
}

impl Hex for f32 {
    fn hex(self) -> String {
        format!("{:08x}", self.to_bits())
    }
}

impl Hex for f64 {
    fn hex(self) -> String {
        format!("{:016x}", self.to_bits())
    }
}

/// Prints one line of results.
fn line<T: Hex + Copy>(key: &str, pass: &str, values: &ArrayD<T>) {
    let bits: Vec<String> = values.iter().map(|v| v.hex()).collect();
    println!("{key} {pass} {}", bits.join(" "));
}

/// The four passes of one case, generator and element type.
fn run<T: Element + Hex, M: Module>(
    key: &str,
    mut layer: M,
    shape: &[usize],
    kind: GeneratorKind,
) -> dropkit::Result<()> {
    let n: usize = shape.iter().product();
    let x: Vec<T> = (0..n)
        .map(|i| T::from_f64((i + 1) as f64 / 4.0 - 4.0))
        .collect();
    let g: Vec<T> = (0..n).map(|i| T::from_f64(1.0 + i as f64 / 2.0)).collect();
    let x = ArrayD::from_shape_vec(IxDyn(shape), x).expect("n elements");
    let g = ArrayD::from_shape_vec(IxDyn(shape), g).expect("n elements");
    layer.set_seed(2024, kind);
    line(key, "forward", &layer.forward(&x)?);
    line(key, "backward", &layer.backward(&x, &g)?);
    line(key, "forward2", &layer.forward(&x)?);
    layer.evaluate();
    line(key, "evaluate", &layer.forward(&x)?);
    Ok(())
}

fn main() -> dropkit::Result<()> {
    for (kind, generator) in [
        (GeneratorKind::Philox, "PHILOX"),
        (GeneratorKind::BigDl, "BIGDL"),
    ] {
        let cases: [(&str, &[usize]); 6] = [
            ("AlphaDropout", &[4, 33]),
            ("FeatureAlphaDropout_NCHW", &[3, 6, 2, 5]),
            ("FeatureAlphaDropout_channels_last", &[3, 2, 5, 6]),
            ("Dropout_noise_shape", &[3, 4, 5]),
            ("GaussianDropout_noise_shape", &[4, 6]),
            ("GaussianNoise_noise_shape", &[4, 6]),
        ];
        for (case, shape) in cases {
            for ty in ["float", "double"] {
                let key = format!("{case} {generator} {ty}");
                macro_rules! each {
                    ($layer:expr) => {
                        if ty == "float" {
                            run::<f32, _>(&key, $layer, shape, kind)?
                        } else {
                            run::<f64, _>(&key, $layer, shape, kind)?
                        }
                    };
                }
                match case {
                    "AlphaDropout" => each!(AlphaDropout::new(0.3)?),
                    "FeatureAlphaDropout_NCHW" => {
                        each!(FeatureAlphaDropout::with_format(0.3, "NCHW")?)
                    }
                    "FeatureAlphaDropout_channels_last" => {
                        each!(FeatureAlphaDropout::with_format(0.3, "channels_last")?)
                    }
                    "Dropout_noise_shape" => {
                        each!(Dropout::new(0.4)?.with_noise_shape(&[None, Some(1), None])?)
                    }
                    "GaussianDropout_noise_shape" => {
                        each!(GaussianDropout::new(0.3)?.with_noise_shape(&[Some(1), None])?)
                    }
                    _ => each!(GaussianNoise::new(0.5)?.with_noise_shape(&[None, Some(1)])?),
                }
            }
        }
    }
    Ok(())
}
