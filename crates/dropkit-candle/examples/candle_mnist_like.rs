//! A small candle MLP trained twice on the same synthetic classification problem: once with
//! `candle_nn::Dropout`, once with `dropkit_candle::Dropout`. Prints the loss, the time per
//! step, the test accuracy and the bytes each dropout keeps for backward.
//!
//! The data: 10 classes in 64 dimensions, each class a Gaussian cloud around its own centre
//! (MNIST-sized in spirit: many features, 10 classes), drawn from a fixed-seed xorshift
//! generator, so every run trains on the same data from the same initial weights.
//! candle_nn's dropout draws from an unseeded generator; dropkit's from its seed.
//!
//! `cargo run --release -p dropkit-candle --example candle_mnist_like` (`make candle-demo`).

use std::time::Instant;

use candle_core::{DType, Device, ModuleT, Result, Tensor, Var, D};
use candle_nn::{Linear, Module, Optimizer};

const FEATURES: usize = 64;
const CLASSES: usize = 10;
const HIDDEN: usize = 256;
const BATCH: usize = 256;
const STEPS: usize = 300;
const P: f32 = 0.3;

/// xorshift64*: the example's only randomness, for the data and the initial weights.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32
    }

    /// A standard normal (Box-Muller on two uniforms).
    fn normal(&mut self) -> f32 {
        let u = self.next_f32().max(1e-7);
        let v = self.next_f32();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// `n` samples: a class label and its point near the class's centre.
fn dataset(rng: &mut Rng, centres: &[Vec<f32>], n: usize) -> Result<(Tensor, Tensor)> {
    let mut xs = Vec::with_capacity(n * FEATURES);
    let mut ys = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % CLASSES;
        ys.push(class as u32);
        xs.extend(centres[class].iter().map(|c| c + 1.6 * rng.normal()));
    }
    let xs = Tensor::from_vec(xs, (n, FEATURES), &Device::Cpu)?;
    let ys = Tensor::from_vec(ys, n, &Device::Cpu)?;
    Ok((xs, ys))
}

/// A linear layer with weights `N(0, 2 / fan_in)` from `rng` (the same in both runs).
fn linear(rng: &mut Rng, fan_in: usize, fan_out: usize) -> Result<(Linear, Vec<Var>)> {
    let scale = (2.0 / fan_in as f32).sqrt();
    let w: Vec<f32> = (0..fan_in * fan_out)
        .map(|_| rng.normal() * scale)
        .collect();
    let w = Var::from_vec(w, (fan_out, fan_in), &Device::Cpu)?;
    let b = Var::zeros(fan_out, DType::F32, &Device::Cpu)?;
    let layer = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
    Ok((layer, vec![w, b]))
}

/// The MLP: 64 -> 256 -> 256 -> 10 with ReLU and a dropout after each hidden layer.
struct Mlp<Drop> {
    layers: [Linear; 3],
    drop: Drop,
}

impl<Drop: ModuleT> Mlp<Drop> {
    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.layers[0].forward(xs)?.relu()?;
        let h = self.drop.forward_t(&h, train)?;
        let h = self.layers[1].forward(&h)?.relu()?;
        let h = self.drop.forward_t(&h, train)?;
        self.layers[2].forward(&h)
    }
}

struct Run {
    name: &'static str,
    losses: Vec<f32>,
    ms_per_step: f64,
    accuracy: f32,
    kept_bytes: String,
}

fn train<Drop: ModuleT>(
    name: &'static str,
    drop: Drop,
    kept_bytes: String,
    (train_x, train_y, test_x, test_y): (&Tensor, &Tensor, &Tensor, &Tensor),
) -> Result<Run> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (l1, mut vars) = linear(&mut rng, FEATURES, HIDDEN)?;
    let (l2, v2) = linear(&mut rng, HIDDEN, HIDDEN)?;
    let (l3, v3) = linear(&mut rng, HIDDEN, CLASSES)?;
    vars.extend(v2.into_iter().chain(v3));
    let mlp = Mlp {
        layers: [l1, l2, l3],
        drop,
    };
    let mut sgd = candle_nn::SGD::new(vars, 0.05)?;
    let n = train_x.dim(0)?;
    let mut losses = Vec::new();
    let start = Instant::now();
    for step in 0..STEPS {
        let at = (step * BATCH) % n;
        let xs = train_x.narrow(0, at, BATCH)?;
        let ys = train_y.narrow(0, at, BATCH)?;
        let logits = mlp.forward(&xs, true)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &ys)?;
        sgd.backward_step(&loss)?;
        if step % 50 == 0 || step == STEPS - 1 {
            losses.push(loss.to_scalar::<f32>()?);
        }
    }
    let ms_per_step = start.elapsed().as_secs_f64() * 1e3 / STEPS as f64;
    let predicted = mlp.forward(test_x, false)?.argmax(D::Minus1)?;
    let right = predicted.eq(test_y)?.to_dtype(DType::F32)?.mean_all()?;
    Ok(Run {
        name,
        losses,
        ms_per_step,
        accuracy: right.to_scalar::<f32>()?,
        kept_bytes,
    })
}

fn main() -> Result<()> {
    let mut rng = Rng(0x0dd5_eed5_0000_0042);
    let centres: Vec<Vec<f32>> = (0..CLASSES)
        .map(|_| (0..FEATURES).map(|_| rng.normal() * 0.5).collect())
        .collect();
    let (train_x, train_y) = dataset(&mut rng, &centres, 8192)?;
    let (test_x, test_y) = dataset(&mut rng, &centres, 2048)?;
    let data = (&train_x, &train_y, &test_x, &test_y);

    // Each step runs two dropouts on (BATCH, HIDDEN) activations.
    let elements = 2 * BATCH * HIDDEN;
    let candle_kept = format!("{} B (an f32 mask)", elements * 4);
    let dropkit_kept = format!(
        "0 B ({} B of arguments per op)",
        std::mem::size_of::<dropkit_candle::LayerArgs>()
    );
    println!(
        "MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES}, dropout p = {P} after each hidden layer, \
         batch {BATCH}, {STEPS} SGD steps, CPU"
    );
    let runs = [
        train(
            "candle_nn::Dropout",
            candle_nn::Dropout::new(P),
            candle_kept,
            data,
        )?,
        train(
            "dropkit_candle::Dropout",
            dropkit_candle::Dropout::new(P, 7)?,
            dropkit_kept,
            data,
        )?,
    ];
    for run in &runs {
        let losses: Vec<String> = run.losses.iter().map(|l| format!("{l:.3}")).collect();
        println!("{}:", run.name);
        println!("  loss every 50 steps: {}", losses.join(" "));
        println!(
            "  {:.2} ms/step, test accuracy {:.1}%, kept for backward per step: {}",
            run.ms_per_step,
            run.accuracy * 100.0,
            run.kept_bytes
        );
    }
    Ok(())
}
