//! The examples of BigDL's documentation of the six layers (Scala API), run twice: first
//! with the BigDL-compatible generator seeded as the documentation seeds it (100 where it
//! does not), then with dropkit's default Philox generator.
//!
//! Run with `make demo` (`cargo run --release --example quickstart`).

use dropkit::rng::BigDlStream;
use dropkit::{
    set_seed, Dropout, GaussianDropout, GaussianNoise, GeneratorKind, Module, SpatialDropout1D,
    SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayD, IxDyn};
use std::fmt::Debug;

/// Prints a tensor as BigDL's `DenseTensor.toString` does: 2-D slices, `(i,j,.,.) =`
/// headers for higher ranks (1-based), then `[DenseTensor of size AxB]`.
fn print_tensor<T: Debug + Copy>(type_name: &str, t: &ArrayD<T>) {
    let shape = t.shape().to_vec();
    let row = |v: Vec<T>| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match shape.len() {
        0 => println!("{:?}", t.iter().next().expect("a scalar")),
        1 => println!("{}", row(t.iter().copied().collect())),
        _ => {
            let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
            let outer: Vec<usize> = shape[..shape.len() - 2].to_vec();
            let count: usize = outer.iter().product();
            let flat: Vec<T> = t.iter().copied().collect();
            for o in 0..count {
                if !outer.is_empty() {
                    let mut idx = vec![0; outer.len()];
                    let mut rest = o;
                    for k in (0..outer.len()).rev() {
                        idx[k] = rest % outer[k] + 1;
                        rest /= outer[k];
                    }
                    let head: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
                    println!("({},.,.) =", head.join(","));
                }
                for r in 0..rows {
                    let start = (o * rows + r) * cols;
                    println!("{}", row(flat[start..start + cols].to_vec()));
                }
                if !outer.is_empty() {
                    println!();
                }
            }
        }
    }
    let size: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    println!(
        "[com.intel.analytics.bigdl.tensor.DenseTensor[{type_name}] of size {}]",
        size.join("x")
    );
}

/// `input.rand()`: BigDL's uniform fill, from a stream of its own (in the document it ran
/// on an unseeded generator before `RNG.setSeed(100)`, so its values cannot be reproduced;
/// the masks that follow can).
fn rand(shape: &[usize]) -> ArrayD<f64> {
    let mut s = BigDlStream::new(1);
    Array::from_shape_fn(IxDyn(shape), |_| s.uniform())
}

fn run(kind: GeneratorKind) -> dropkit::Result<()> {
    println!("=== Dropout (Scala example; seed 100)");
    set_seed(100, kind);
    let mut module = Dropout::new(0.5)?;
    let x = Array::range(1.0f32, 9.0, 1.0)
        .into_shape_with_order(IxDyn(&[2, 4]))
        .expect("8 elements");
    print_tensor("Float", &module.forward(&x)?);
    print_tensor("Float", &module.backward(&x, &x.mapv(|v| v * 0.5))?);

    println!("\n=== GaussianDropout(0.5) (seed 100)");
    set_seed(100, kind);
    let mut layer = GaussianDropout::new(0.5)?;
    layer.training();
    let input = Array::from_elem(IxDyn(&[2, 3]), 1.0f32);
    let output = layer.forward(&input)?;
    let gradout = Array::from_elem(IxDyn(&[2, 3]), 1.0f32);
    let gradin = layer.backward(&input, &gradout)?;
    print_tensor("Float", &output);
    print_tensor("Float", &gradin);
    layer.evaluate();
    print_tensor("Float", &layer.forward(&input)?);

    println!("\n=== GaussianNoise(0.2) (seed 100)");
    set_seed(100, kind);
    let mut layer = GaussianNoise::new(0.2)?;
    layer.training();
    let output = layer.forward(&input)?;
    let gradin = layer.backward(&input, &gradout)?;
    print_tensor("Float", &output);
    print_tensor("Float", &gradin);
    layer.evaluate();
    print_tensor("Float", &layer.forward(&input)?);

    println!("\n=== SpatialDropout1D[Double](0.7) on (3, 4, 5), RNG.setSeed(100)");
    let mut module = SpatialDropout1D::new(0.7)?;
    let input = rand(&[3, 4, 5]);
    set_seed(100, kind);
    print_tensor("Double", &module.forward(&input)?);
    print_tensor("Double", &module.backward(&input, &input.mapv(|_| 1.0))?);

    println!("\n=== SpatialDropout2D[Double](0.7) on (2, 3, 4, 5), RNG.setSeed(100)");
    let mut module = SpatialDropout2D::new(0.7)?;
    let input = rand(&[2, 3, 4, 5]);
    set_seed(100, kind);
    print_tensor("Double", &module.forward(&input)?);
    print_tensor("Double", &module.backward(&input, &input.mapv(|_| 1.0))?);

    println!("\n=== SpatialDropout3D[Double](0.7) on (2, 3, 2, 2, 3), RNG.setSeed(100)");
    let mut module = SpatialDropout3D::new(0.7)?;
    let input = rand(&[2, 3, 2, 2, 3]);
    set_seed(100, kind);
    print_tensor("Double", &module.forward(&input)?);
    print_tensor("Double", &module.backward(&input, &input.mapv(|_| 1.0))?);
    module.evaluate();
    println!("evaluate: x * (1 - p)");
    print_tensor("Double", &module.forward(&input)?);
    Ok(())
}

fn main() -> dropkit::Result<()> {
    println!("##### BigDL-compatible generator (MT19937, as BigDL's RNG.setSeed)\n");
    run(GeneratorKind::BigDl)?;
    println!("\n##### Philox4x32-10 generator (dropkit's default)\n");
    run(GeneratorKind::Philox)?;
    Ok(())
}
