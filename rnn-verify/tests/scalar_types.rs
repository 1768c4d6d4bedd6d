//! The generated code is generic over the scalar: f32, f64, `Dual64` and `DualSVec64<N>`.

use nalgebra::{Const, U1};
use num_dual::{Derivative, DualSVec64};
use rnn_core::Cell;
use rnn_core::cells::{Elman, ElmanDims};
use rnn_verify::Problem;

/// Two directional derivatives at once with `DualSVec64<2>` (∂L/∂w_hh[0] and ∂L/∂b[last]),
/// equal to the BPTT gradient within docs/THEORY.md P3's f64 tolerance.
#[test]
fn dual_vectors_match_bptt() {
    let cell = Elman::<f64>::init(ElmanDims { H: 4, I: 3 }, 3).unwrap();
    let problem = Problem::seeded(cell, 2, 8, 9).unwrap();
    let gradient = problem.gradient().unwrap();
    let w_hh_first = 0;
    let b_last = 16 + 12 + 3;
    assert_eq!(problem.label(w_hh_first), "param w_hh[0]");
    assert_eq!(problem.label(b_last), "param b[3]");
    let mut dual = problem.retype(DualSVec64::<2>::from_re);
    dual.update_variables(|index, v| {
        if index == w_hh_first {
            v.eps = Derivative::derivative_generic(Const::<2>, U1, 0);
        }
        if index == b_last {
            v.eps = Derivative::derivative_generic(Const::<2>, U1, 1);
        }
    });
    let loss = dual.loss().unwrap();
    let eps = loss.eps.unwrap_generic(Const::<2>, U1);
    let scale = gradient.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
    for (direction, index) in [(0, w_hh_first), (1, b_last)] {
        let (g, d) = (gradient[index], eps[direction]);
        assert!(
            (g - d).abs() <= 1e-11 * g.abs().max(d.abs()) + 1e-12 * scale,
            "{}: bptt {g:e}, dual {d:e}",
            problem.label(index)
        );
    }
    // f64 products go through nalgebra's GEMM, dual ones through its generic loop: the real
    // parts agree to rounding, not bitwise.
    let plain = problem.loss().unwrap();
    assert!(
        (loss.re - plain).abs() <= 1e-11 * plain.abs(),
        "real part {:e} vs f64 loss {plain:e}",
        loss.re
    );
}

/// docs/THEORY.md P2 (f32): the f32 gradient against the same computation in f64 on exactly the
/// same (f32-representable) data: ‖g32 − g64‖∞ ≤ 1e-4 max(1, ‖g64‖∞).
#[test]
fn f32_gradients_track_f64() {
    let cell32 = Elman::<f32>::init(ElmanDims { H: 5, I: 3 }, 4).unwrap();
    let cell64 = cell32.retype(f64::from);
    let problem64 = Problem::seeded(cell64, 3, 10, 2)
        .unwrap()
        .retype(|x: f64| x as f32 as f64);
    let problem32 = problem64.retype(|x| x as f32);
    let (g32, g64) = (problem32.gradient().unwrap(), problem64.gradient().unwrap());
    let scale = g64.iter().fold(1.0_f64, |m, g| m.max(g.abs()));
    let worst = g32
        .iter()
        .zip(&g64)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-4 * scale, "‖g32 − g64‖∞ = {worst:e}, scale {scale:e}");
    assert!(
        worst > 0.0,
        "f32 and f64 cannot agree bitwise on this data; the comparison ran on distinct types"
    );
    assert_eq!(<Elman<f32> as Cell<f32>>::NAME, "Elman");
}
