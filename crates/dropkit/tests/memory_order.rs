//! Outputs in the input's memory order: an input that is a permutation of a row-major array
//! (Fortran order, channels-last data viewed as NCHW) gives an output and a gradient with
//! its strides, and the bits of the row-major input's results, for every layer, both modes,
//! both generators, out of place and in place.

mod common;

use common::{assert_same_bits, data, Kind, ALL_KINDS, GENERATORS};
use dropkit::GeneratorKind;
use ndarray::{ArrayD, IxDyn};

/// Every permutation of `0..n` (n <= 5).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            all.push(p);
        }
    }
    all
}

/// `logical` held in memory order `perm`: a standard array of the permuted shape, viewed
/// with its axes put back, so its values are `logical`'s and its strides a permutation.
fn held_in_order(logical: &ArrayD<f32>, perm: &[usize]) -> ArrayD<f32> {
    let in_memory = logical
        .view()
        .permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned();
    let mut inverse = vec![0; perm.len()];
    for (k, &axis) in perm.iter().enumerate() {
        inverse[axis] = k;
    }
    in_memory.permuted_axes(IxDyn(&inverse))
}

fn check(kind: Kind, gen: GeneratorKind, perm: &[usize], train: bool) {
    let shape = kind.small_shape();
    let x: ArrayD<f32> = data(&shape, 3);
    let g: ArrayD<f32> = data(&shape, 4);
    let (xp, gp) = (held_in_order(&x, perm), held_in_order(&g, perm));
    let what = format!("{kind:?} {gen:?} perm {perm:?} train {train}");
    let mut want = kind.seeded(0.4, 7, gen);
    let mut got = kind.seeded(0.4, 7, gen);
    if !train {
        want.evaluate();
        got.evaluate();
    }
    for _ in 0..2 {
        let y = got.forward(&xp).unwrap();
        assert_same_bits(&y, &want.forward(&x).unwrap(), &what);
        if !xp.is_standard_layout() {
            assert_eq!(y.strides(), xp.strides(), "{what}: forward strides");
        }
        let gi = got.backward(&xp, &gp).unwrap();
        assert_same_bits(&gi, &want.backward(&x, &g).unwrap(), &what);
        if !gp.is_standard_layout() {
            assert_eq!(gi.strides(), gp.strides(), "{what}: backward strides");
        }
    }
    // In place on the permuted array itself.
    let mut want = kind.seeded(0.4, 9, gen);
    let mut got = kind.seeded(0.4, 9, gen);
    if !train {
        want.evaluate();
        got.evaluate();
    }
    let mut xi = xp.clone();
    got.forward_inplace(xi.view_mut()).unwrap();
    assert_same_bits(&xi, &want.forward(&x).unwrap(), &what);
    let mut gi = gp.clone();
    got.backward_inplace(&x, gi.view_mut()).unwrap();
    assert_same_bits(&gi, &want.backward(&x, &g).unwrap(), &what);
}

#[test]
fn every_permutation_keeps_the_memory_order_and_the_bits() {
    for kind in ALL_KINDS {
        let rank = kind.small_shape().len();
        for perm in permutations(rank) {
            for train in [true, false] {
                check(kind, GeneratorKind::Philox, &perm, train);
            }
        }
        for gen in GENERATORS {
            let mut reversed: Vec<usize> = (0..rank).collect();
            reversed.reverse();
            check(kind, gen, &reversed, true);
        }
    }
}

#[test]
fn channels_last_data_viewed_as_nchw_keeps_its_strides() {
    // np.ascontiguousarray(x_nhwc).transpose(0, 3, 1, 2)
    let nhwc: ArrayD<f64> = data(&[2, 3, 4, 5], 1);
    let nchw = nhwc.clone().permuted_axes(IxDyn(&[0, 3, 1, 2]));
    for kind in [Kind::Spatial2DNchw, Kind::Dropout, Kind::GaussianNoise] {
        let mut layer = kind.seeded(0.5, 3, GeneratorKind::Philox);
        let mut reference = kind.seeded(0.5, 3, GeneratorKind::Philox);
        let y = layer.forward(&nchw).unwrap();
        assert_eq!(y.strides(), nchw.strides(), "{kind:?}");
        assert_same_bits(
            &y,
            &reference.forward(&nchw.as_standard_layout()).unwrap(),
            "nchw",
        );
        let g = layer.backward(&nchw, &nchw).unwrap();
        assert_eq!(g.strides(), nchw.strides(), "{kind:?}");
    }
}
