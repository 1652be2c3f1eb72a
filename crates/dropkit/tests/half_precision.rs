//! The half-precision element types (`f16`, `bf16`): every layer, in both modes, forward and
//! backward, in place or not, on contiguous or strided inputs and at several thread counts,
//! gives bit for bit the `f32` layer's result on the same values widened to `f32`, rounded
//! once to the half type. Masks and noise are the `f32` layer's (same seed, same draw).

mod common;

use common::{data, Kind, Layer, ALL_KINDS, GENERATORS};
use dropkit::half::{bf16, f16};
use dropkit::{set_num_threads, Element, GaussianDropout, GeneratorKind, Module};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use std::sync::Mutex;

/// Held by the test that changes the thread count.
static THREADS: Mutex<()> = Mutex::new(());

/// A half-precision type with its bits, to compare results exactly (NaN payloads, signed
/// zeros).
trait Half: Element<Compute = f32> {
    fn bits(self) -> u16;
    /// A value whose scaled results overflow the type, and a subnormal of the type.
    const HUGE: f32;
    const TINY: f32;
}

impl Half for f16 {
    fn bits(self) -> u16 {
        self.to_bits()
    }
    const HUGE: f32 = 60000.0;
    const TINY: f32 = 3.0e-7;
}

impl Half for bf16 {
    fn bits(self) -> u16 {
        self.to_bits()
    }
    const HUGE: f32 = 3.0e38;
    const TINY: f32 = 5.0e-39;
}

/// `f32` test data of `shape` with the half type's specials planted: NaN, infinities, signed
/// zeros, subnormals, values whose scaled results overflow, and values exactly halfway
/// between two half values after widening (so a double rounding would show).
fn f32_data<H: Half>(shape: &[usize], salt: u64) -> ArrayD<f32> {
    let mut x = data::<f32>(shape, salt);
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        H::TINY,
        -H::TINY,
        H::HUGE,
        -H::HUGE,
    ];
    for (i, v) in x.iter_mut().enumerate() {
        if i % 5 == 1 {
            *v = specials[(i / 5) % specials.len()];
        }
    }
    x
}

/// The half input and its exact widening.
fn inputs<H: Half>(shape: &[usize], salt: u64) -> (ArrayD<H>, ArrayD<f32>) {
    let h = f32_data::<H>(shape, salt).mapv(H::narrow);
    let f = h.mapv(H::widen);
    (h, f)
}

fn half_bits<H: Half>(a: &ArrayD<H>) -> Vec<u16> {
    a.iter().map(|v| v.bits()).collect()
}

/// The `f32` result rounded once to `H`, as bits.
fn rounded<H: Half>(a: &ArrayD<f32>) -> Vec<u16> {
    a.iter().map(|&v| H::narrow(v).bits()).collect()
}

fn assert_rounded<H: Half>(half: &ArrayD<H>, single: &ArrayD<f32>, what: &str) {
    assert_eq!(half.shape(), single.shape(), "{what}: shapes");
    let (h, f) = (half_bits(half), rounded::<H>(single));
    if let Some(i) = (0..h.len()).find(|&i| h[i] != f[i]) {
        panic!(
            "{what} ({}): element {i}: {:#06x} vs f32 then rounded {:#06x} (f32 {:?})",
            H::NAME,
            h[i],
            f[i],
            single.iter().nth(i)
        );
    }
}

/// Two training passes (forward, backward), then an evaluation pass, each compared with the
/// `f32` layer; the in-place forms compared with the copying ones.
fn check_kind<H: Half>(kind: Kind, gen: GeneratorKind, shape: &[usize]) {
    let what = format!("{kind:?} {gen:?} {shape:?}");
    let (x, xf) = inputs::<H>(shape, 1);
    let (g, gf) = inputs::<H>(shape, 2);
    let mut half = kind.seeded(0.3, 0xF00D, gen);
    let mut single = kind.seeded(0.3, 0xF00D, gen);
    let mut inplace = kind.seeded(0.3, 0xF00D, gen);
    for pass in 0..3 {
        if pass == 2 {
            half.evaluate();
            single.evaluate();
            inplace.evaluate();
        }
        let y = half.forward(&x).unwrap();
        assert_rounded(
            &y,
            &single.forward(&xf).unwrap(),
            &format!("{what} forward {pass}"),
        );
        let mut y2 = x.clone();
        inplace.forward_inplace(y2.view_mut()).unwrap();
        assert_eq!(
            half_bits(&y2),
            half_bits(&y),
            "{what} forward in place {pass}"
        );

        let gi = half.backward(&x, &g).unwrap();
        assert_rounded(
            &gi,
            &single.backward(&xf, &gf).unwrap(),
            &format!("{what} backward {pass}"),
        );
        let mut g2 = g.clone();
        inplace.backward_inplace(&x, g2.view_mut()).unwrap();
        assert_eq!(
            half_bits(&g2),
            half_bits(&gi),
            "{what} backward in place {pass}"
        );
    }
}

fn shapes(kind: Kind) -> Vec<Vec<usize>> {
    vec![
        kind.small_shape(),
        // Several conversion blocks and a ragged tail.
        kind.shape(3, 5, &kind.map(1000)),
        // Above the size that runs on several threads.
        kind.shape(2, 3, &kind.map(50_021)),
    ]
}

#[test]
fn every_layer_is_f32_then_rounded_f16() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            for shape in shapes(kind) {
                check_kind::<f16>(kind, gen, &shape);
            }
        }
    }
}

#[test]
fn every_layer_is_f32_then_rounded_bf16() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            for shape in shapes(kind) {
                check_kind::<bf16>(kind, gen, &shape);
            }
        }
    }
}

#[test]
fn thread_counts_do_not_change_half_results() {
    let _guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for threads in [1, 2, 3, 8] {
        set_num_threads(threads).unwrap();
        for kind in [Kind::Dropout, Kind::GaussianDropout, Kind::Spatial2DNhwc] {
            let shape = kind.shape(2, 3, &kind.map(70_001));
            check_kind::<f16>(kind, GeneratorKind::Philox, &shape);
            check_kind::<bf16>(kind, GeneratorKind::Philox, &shape);
        }
    }
    set_num_threads(2).unwrap();
}

/// Every second row of axis 1, axes reversed: a strided, transposed view.
fn strided<T>(a: &ArrayD<T>) -> ArrayViewD<'_, T> {
    let mut v = a.view();
    v.slice_axis_inplace(Axis(1), Slice::new(0, None, 2));
    v.reversed_axes()
}

/// A strided view (a transposed, stepped slice) gives the `f32` layer's result on the same
/// view, rounded.
fn check_strided<H: Half>(kind: Kind) {
    let shape = kind.shape(4, 6, &kind.map(9));
    let (x, xf) = inputs::<H>(&shape, 3);
    let (g, gf) = inputs::<H>(&shape, 4);
    for gen in GENERATORS {
        let mut half: Layer = kind.seeded(0.4, 77, gen);
        let mut single: Layer = kind.seeded(0.4, 77, gen);
        for train in [true, false] {
            if !train {
                half.evaluate();
                single.evaluate();
            }
            let what = format!("{kind:?} {gen:?} strided train={train}");
            // A Spatial layer refuses what is not its rank's shape; the reversed view of a
            // channels-first input is one, with other (N, C).
            let y = half.forward(&strided(&x));
            let yf = single.forward(&strided(&xf));
            match (y, yf) {
                (Ok(y), Ok(yf)) => {
                    assert_rounded(&y.into_dyn(), &yf.into_dyn(), &what);
                    let b = half.backward(&strided(&x), &strided(&g)).unwrap();
                    let bf = single.backward(&strided(&xf), &strided(&gf)).unwrap();
                    assert_rounded(&b.into_dyn(), &bf.into_dyn(), &format!("{what} backward"));
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{what}"),
                (a, b) => panic!("{what}: {:?} vs {:?}", a.err(), b.err()),
            }
        }
    }
}

#[test]
fn strided_half_inputs_are_f32_then_rounded() {
    for kind in ALL_KINDS {
        check_strided::<f16>(kind);
        check_strided::<bf16>(kind);
    }
}

/// An input that is a permutation of a contiguous array (Fortran order) takes the memory-order
/// paths: still the `f32` result on the same view, rounded.
fn check_permuted<H: Half>(kind: Kind) {
    let shape = kind.small_shape();
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let (x, xf) = inputs::<H>(&reversed, 8);
    let (g, gf) = inputs::<H>(&reversed, 9);
    for gen in GENERATORS {
        let mut half = kind.seeded(0.25, 13, gen);
        let mut single = kind.seeded(0.25, 13, gen);
        for train in [true, false] {
            if !train {
                half.evaluate();
                single.evaluate();
            }
            let what = format!("{kind:?} {gen:?} permuted train={train}");
            let (xv, xfv) = (x.view().reversed_axes(), xf.view().reversed_axes());
            let (gv, gfv) = (g.view().reversed_axes(), gf.view().reversed_axes());
            let y = half.forward(&xv).unwrap();
            assert_rounded(&y, &single.forward(&xfv).unwrap(), &what);
            let b = half.backward(&xv, &gv).unwrap();
            let bf = single.backward(&xfv, &gfv).unwrap();
            assert_rounded(&b, &bf, &format!("{what} backward"));
        }
    }
}

#[test]
fn permuted_half_inputs_are_f32_then_rounded() {
    for kind in ALL_KINDS {
        check_permuted::<f16>(kind);
        check_permuted::<bf16>(kind);
    }
}

/// Stored Gaussian noise keeps the `f32` noise: backward is still `f32` then rounded.
fn check_stored_noise<H: Half>() {
    let shape = [3, 4099];
    let (x, xf) = inputs::<H>(&shape, 5);
    let (g, gf) = inputs::<H>(&shape, 6);
    let make = || {
        let mut l = GaussianDropout::new(0.35).unwrap().with_stored_noise(true);
        l.set_seed(9, GeneratorKind::Philox);
        l
    };
    let (mut half, mut single) = (make(), make());
    assert_rounded(
        &half.forward(&x).unwrap(),
        &single.forward(&xf).unwrap(),
        "stored noise",
    );
    assert_eq!(
        half.saved_bytes(),
        single.saved_bytes(),
        "the f32 noise is stored"
    );
    assert_rounded(
        &half.backward(&x, &g).unwrap(),
        &single.backward(&xf, &gf).unwrap(),
        "stored noise backward",
    );
}

#[test]
fn stored_gaussian_noise_is_kept_in_f32() {
    check_stored_noise::<f16>();
    check_stored_noise::<bf16>();
}

#[test]
fn masks_do_not_depend_on_the_dtype() {
    // Ones through Dropout(0.5, no scale): the kept set is the mask itself.
    let shape = [1, 10_007];
    let mut f = Kind::DropoutNoScale.seeded(0.5, 3, GeneratorKind::Philox);
    let mut h = Kind::DropoutNoScale.seeded(0.5, 3, GeneratorKind::Philox);
    let mut b = Kind::DropoutNoScale.seeded(0.5, 3, GeneratorKind::Philox);
    let yf = f
        .forward(&ArrayD::from_elem(IxDyn(&shape), 1.0f32))
        .unwrap();
    let yh = h
        .forward(&ArrayD::from_elem(IxDyn(&shape), f16::ONE))
        .unwrap();
    let yb = b
        .forward(&ArrayD::from_elem(IxDyn(&shape), bf16::ONE))
        .unwrap();
    let mask_f: Vec<bool> = yf.iter().map(|&v| v != 0.0).collect();
    let mask_h: Vec<bool> = yh.iter().map(|v| v.to_f32() != 0.0).collect();
    let mask_b: Vec<bool> = yb.iter().map(|v| v.to_f32() != 0.0).collect();
    assert_eq!(mask_f, mask_h);
    assert_eq!(mask_f, mask_b);
    assert!(mask_f.iter().any(|&k| k) && mask_f.iter().any(|&k| !k));
}
