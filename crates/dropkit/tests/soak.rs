//! A randomized soak over the public API: random layers, parameters (valid and not), shapes
//! (empty, rank 0 to 6, wrong ranks), layouts (transposed, reversed, sliced), element types,
//! generators, modes, in-place calls and generator-state replays. Each case checks
//! invariants instead of values:
//! - nothing panics: every bad input is an `Err`;
//! - a strided view gives the bits of its contiguous copy, and in place gives the bits of
//!   out of place;
//! - backward on a strided gradient gives the bits of the contiguous one;
//! - restoring the generator state from before a training forward replays it bit for bit.
//!
//! `cargo test` runs a few hundred cases (seeded, so a failure names a reproducible case);
//! `make fuzz` runs many more (`DROPKIT_SOAK_CASES`, `DROPKIT_SOAK_SEED`).

mod common;

use common::{assert_same_bits, data, splitmix, Float, Kind, ALL_KINDS, GENERATORS};
use dropkit::{
    Dropout, GaussianDropout, GaussianNoise, GeneratorKind, SpatialDropout1D, SpatialDropout2D,
    SpatialDropout3D,
};
use ndarray::{ArrayD, Axis, IxDyn, ShapeBuilder, Slice};

/// A small deterministic source of choices for one case.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = splitmix(self.0);
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Parameters that every constructor must take or refuse without panicking.
const ODD_VALUES: [f64; 10] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -1e-300,
    -0.0,
    1.0 + f64::EPSILON,
    1e300,
    f64::MIN_POSITIVE,
    1.0,
    0.999_999_999_999,
];

#[test]
fn constructors_accept_exactly_their_ranges() {
    for v in ODD_VALUES {
        let probability = (0.0..=1.0).contains(&v);
        assert_eq!(Dropout::new(v).is_ok(), probability, "Dropout({v})");
        assert_eq!(SpatialDropout1D::new(v).is_ok(), probability, "1D({v})");
        assert_eq!(SpatialDropout2D::new(v).is_ok(), probability, "2D({v})");
        assert_eq!(SpatialDropout3D::new(v).is_ok(), probability, "3D({v})");
        let rate = (0.0..1.0).contains(&v);
        assert_eq!(
            GaussianDropout::new(v).is_ok(),
            rate,
            "GaussianDropout({v})"
        );
        let stddev = v.is_finite() && v >= 0.0;
        assert_eq!(GaussianNoise::new(v).is_ok(), stddev, "GaussianNoise({v})");
    }
}

/// A valid parameter for `kind`, often an edge.
fn parameter(kind: Kind, dice: &mut Dice) -> f64 {
    let p = match dice.below(6) {
        0 => 0.0,
        1 => 0.5,
        2 => f64::MIN_POSITIVE,
        3 => 0.999_999,
        4 => 1.0,
        _ => (dice.next() >> 11) as f64 / (1u64 << 53) as f64,
    };
    match kind {
        Kind::GaussianDropout if p >= 1.0 => 0.9,
        Kind::GaussianNoise => p * 3.0,
        _ => p,
    }
}

/// A shape for `kind`: mostly of an accepted rank, sometimes not (the layer must refuse it).
fn shape(kind: Kind, dice: &mut Dice) -> Vec<usize> {
    let rank = if kind.is_spatial() && !dice.chance(10) {
        kind.spatial_dims() + 1 + dice.below(2)
    } else {
        dice.below(7)
    };
    let max = if rank > 3 { 4 } else { 9 };
    let mut s: Vec<usize> = (0..rank).map(|_| 1 + dice.below(max)).collect();
    if rank > 0 && dice.chance(10) {
        let axis = dice.below(rank);
        s[axis] = 0;
    }
    s
}

/// `x` seen through a random layout of the same logical data: the returned owned array is
/// laid out so that `view` (a transpose, a reversal or a slice of it) equals `x`.
fn strided<T: Float>(x: &ArrayD<T>, dice: &mut Dice) -> ArrayD<T> {
    let rank = x.ndim();
    match dice.below(4) {
        // Fortran order: the same values, transposed memory.
        0 if rank > 1 => {
            let mut out = ArrayD::<T>::zeros(IxDyn(x.shape()).f());
            out.assign(x);
            out
        }
        // Reversed along one axis: negative strides.
        1 if rank > 0 => {
            let axis = Axis(dice.below(rank));
            let mut base = x.clone();
            base.invert_axis(axis);
            let mut owned = base.as_standard_layout().into_owned();
            owned.invert_axis(axis);
            owned
        }
        // A slice with a step: gaps between elements.
        2 if rank > 0 && !x.is_empty() => {
            let axis = dice.below(rank);
            let mut wide = x.shape().to_vec();
            wide[axis] *= 2;
            let mut base = ArrayD::<T>::zeros(IxDyn(&wide));
            base.slice_axis_mut(Axis(axis), Slice::new(0, None, 2))
                .assign(x);
            let mut view = base.clone();
            view.slice_axis_inplace(Axis(axis), Slice::new(0, None, 2));
            view
        }
        _ => x.clone(),
    }
}

/// Runs one case; returns whether the layer accepted the input (else both paths refused it).
fn run_case<T: Float>(case: u64, dice: &mut Dice) -> bool {
    let kind = dice.pick(&ALL_KINDS);
    let p = parameter(kind, dice);
    let gen = dice.pick(&GENERATORS);
    let seed = dice.next();
    let shape = shape(kind, dice);
    let what = format!("case {case}: {kind:?}({p}) {gen:?} seed {seed} shape {shape:?}");
    let x: ArrayD<T> = data(&shape, dice.next());
    let g: ArrayD<T> = data(&shape, dice.next());
    let xs = strided(&x, dice);
    let gs = strided(&g, dice);

    let mut a = kind.seeded(p, seed, gen);
    let mut b = kind.seeded(p, seed, gen);
    if dice.chance(25) {
        a.evaluate();
        b.evaluate();
    }
    let before = a.generator_state();
    let (ya, yb) = (a.forward(&xs), b.forward(&x));
    match (&ya, &yb) {
        (Ok(ya), Ok(yb)) => assert_same_bits(ya, yb, &format!("{what}: strided forward")),
        (Err(ea), Err(eb)) => {
            assert_eq!(ea, eb, "{what}");
            return false;
        }
        _ => panic!("{what}: strided {ya:?} vs contiguous {yb:?}"),
    }
    let y = yb.expect("checked");

    // In place, from the same generator position: the same bits.
    let mut c = kind.seeded(p, seed, gen);
    if !a.is_training() {
        c.evaluate();
    }
    let mut z = xs.clone();
    c.forward_inplace(z.view_mut())
        .unwrap_or_else(|e| panic!("{what}: in place: {e}"));
    assert_same_bits(&z, &y, &format!("{what}: in place"));

    // Backward on the strided gradient and on the contiguous one.
    let (ga, gb) = (a.backward(&xs, &gs), b.backward(&x, &g));
    match (&ga, &gb) {
        (Ok(ga), Ok(gb)) => assert_same_bits(ga, gb, &format!("{what}: strided backward")),
        _ => panic!("{what}: backward {ga:?} vs {gb:?}"),
    }
    // A gradient of another shape is an error, never a panic.
    let mut other = shape.clone();
    other.push(2);
    let bad: ArrayD<T> = ArrayD::zeros(IxDyn(&other));
    assert!(b.backward(&bad, &bad).is_err(), "{what}: wrong shape");

    // Replaying the generator state from before the forward gives the same output.
    if a.is_training() {
        let mut d = kind.make(p);
        d.set_generator_state(before);
        let again = d
            .forward(&x)
            .unwrap_or_else(|e| panic!("{what}: replay: {e}"));
        assert_same_bits(&again, &y, &format!("{what}: replay"));
    }
    true
}

#[test]
fn random_layers_shapes_and_layouts_keep_the_invariants() {
    let cases = env_u64("DROPKIT_SOAK_CASES", 400);
    let start = env_u64("DROPKIT_SOAK_SEED", 0x50A4);
    let mut accepted = 0;
    for case in 0..cases {
        let mut dice = Dice(start ^ case.wrapping_mul(0x9E37_79B9));
        let ok = if dice.chance(50) {
            run_case::<f32>(case, &mut dice)
        } else {
            run_case::<f64>(case, &mut dice)
        };
        accepted += u64::from(ok);
    }
    println!("{cases} cases, {accepted} accepted, the rest refused with the same error");
    // Most cases must reach the layout, in-place, backward and replay checks.
    assert!(
        accepted * 10 >= cases * 7,
        "only {accepted} of {cases} accepted"
    );
}

#[test]
fn the_default_generator_stays_usable_after_every_kind_of_error() {
    // Errors from every layer leave later calls working (no poisoned state).
    for kind in ALL_KINDS {
        let mut layer = kind.seeded(0.5, 1, GeneratorKind::Philox);
        let wrong: ArrayD<f32> = ArrayD::zeros(IxDyn(&[2; 7]));
        let _ = layer.forward(&wrong);
        let _ = layer.backward(&wrong, &wrong);
        let ok = kind.small_shape();
        let x: ArrayD<f32> = data(&ok, 3);
        assert!(layer.forward(&x).is_ok(), "{kind:?}");
        assert!(layer.backward(&x, &x).is_ok(), "{kind:?}");
    }
}
