//! Numerical stability for inputs up to ±1e4 in f32 and f64: no NaN, no infinity, the right
//! limits, monotone where the function is; and cross-entropy's gradient against dual numbers.

use nalgebra::DMatrix;
use num_dual::Dual64;
use rnn_core::loss::{cross_entropy, log_softmax, softmax};
use rnn_core::{Scalar, sigmoid, softplus, tanh};

fn grid<T: Scalar>() -> Vec<T> {
    let mut xs = vec![0.0];
    for magnitude in [
        1e-30, 1e-8, 0.5, 1.0, 5.0, 16.0, 20.0, 40.0, 90.0, 100.0, 700.0, 800.0, 1e3, 5e3, 1e4,
    ] {
        xs.push(magnitude);
        xs.push(-magnitude);
    }
    xs.sort_by(f64::total_cmp);
    xs.into_iter().map(T::of_f64).collect()
}

fn activations<T: Scalar + std::fmt::Debug>() {
    let xs = grid::<T>();
    let (zero, one) = (T::zero(), T::one());
    let mut previous: Option<(T, T, T)> = None;
    for &x in &xs {
        let (s, t, p) = (sigmoid(x), tanh(x), softplus(x));
        for (name, v) in [("sigmoid", s), ("tanh", t), ("softplus", p)] {
            assert!(v.is_finite(), "{name}({x:?}) = {v:?}");
        }
        assert!(s >= zero && s <= one, "sigmoid({x:?}) = {s:?}");
        assert!(t >= -one && t <= one, "tanh({x:?}) = {t:?}");
        let positive = if x > zero { x } else { zero };
        assert!(p >= positive, "softplus({x:?}) = {p:?} < max(x, 0)");
        if let Some((ps, pt, pp)) = previous {
            assert!(s >= ps && t >= pt && p >= pp, "not monotone at {x:?}");
        }
        previous = Some((s, t, p));
    }
    let big = T::of_f64(1e4);
    assert_eq!(sigmoid(big), one);
    assert_eq!(sigmoid(-big), zero);
    assert_eq!(tanh(big), one);
    assert_eq!(tanh(-big), -one);
    assert_eq!(softplus(big), big);
    assert_eq!(softplus(-big), zero);
    assert_eq!(sigmoid(zero), T::of_f64(0.5));
    assert_eq!(softplus(zero), T::of_f64(2f64.ln()));
}

#[test]
fn activations_f64() {
    activations::<f64>();
}

#[test]
fn activations_f32() {
    activations::<f32>();
}

fn softmax_family<T: Scalar + std::fmt::Debug>() {
    let k = T::of_f64;
    let logits = DMatrix::from_column_slice(
        3,
        3,
        &[
            k(1e4),
            k(-1e4),
            k(0.0),
            k(-1e4),
            k(-1e4),
            k(-1e4),
            k(0.5),
            k(-0.25),
            k(2.0),
        ],
    );
    for temperature in [k(0.1), k(1.0), k(10.0)] {
        let p = softmax(&logits, temperature).unwrap();
        let log_p = log_softmax(&logits, temperature).unwrap();
        assert!(
            p.iter().chain(log_p.iter()).all(|v| v.is_finite()),
            "non-finite at τ = {temperature:?}"
        );
        for column in p.column_iter() {
            let sum = column.iter().fold(T::zero(), |a, &v| a + v);
            assert!(
                (sum - T::one()).abs() <= k(4.0) * T::default_epsilon(),
                "column sums to {sum:?}"
            );
        }
        assert_eq!(p[(0, 0)], T::one(), "the dominant class takes all the mass");
        assert_eq!(log_p[(0, 0)], T::zero());
        assert_eq!(log_p[(1, 0)], k(-2e4) / temperature);
        // Equal logits give the uniform distribution, whatever their size.
        let third = T::one() / k(3.0);
        assert!(
            p.column(1)
                .iter()
                .all(|&v| (v - third).abs() <= k(4.0) * T::default_epsilon())
        );
    }
    let (loss, grad) = cross_entropy(&logits, &[1, 0, 2], k(1.0)).unwrap();
    assert!(loss.is_finite() && grad.iter().all(|v| v.is_finite()));
    assert!(cross_entropy(&logits, &[0, 0, 0], k(1.0)).unwrap().0.is_finite());
}

#[test]
fn softmax_family_f64() {
    softmax_family::<f64>();
}

#[test]
fn softmax_family_f32() {
    softmax_family::<f32>();
}

/// ∂L/∂z_k of the cross-entropy equals the dual-number derivative (docs/THEORY.md P3 tolerance).
#[test]
fn cross_entropy_gradient_matches_dual_numbers() {
    let logits = DMatrix::from_fn(4, 3, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 3.0);
    let targets = [2, 0, 3];
    for temperature in [0.5, 1.0, 2.0] {
        let (_, grad) = cross_entropy(&logits, &targets, temperature).unwrap();
        let scale = grad.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
        for index in 0..logits.len() {
            let dual = DMatrix::from_fn(4, 3, |i, j| {
                Dual64::new(logits[(i, j)], if i + 4 * j == index { 1.0 } else { 0.0 })
            });
            let (loss, _) = cross_entropy(&dual, &targets, Dual64::from(temperature)).unwrap();
            let (g, d) = (grad[index], loss.eps);
            assert!(
                (g - d).abs() <= 1e-11 * g.abs().max(d.abs()) + 1e-12 * scale,
                "∂L/∂z[{index}] at τ = {temperature}: {g:e} vs {d:e}"
            );
        }
    }
}

#[test]
fn bad_cross_entropy_input_is_an_error() {
    let logits = DMatrix::<f64>::zeros(3, 2);
    assert!(
        cross_entropy(&logits, &[0], 1.0).is_err(),
        "one target per column"
    );
    assert!(
        cross_entropy(&logits, &[0, 3], 1.0).is_err(),
        "class out of range"
    );
    assert!(cross_entropy(&logits, &[0, 1], 0.0).is_err(), "temperature 0");
    assert!(
        cross_entropy(&logits, &[0, 1], f64::NAN).is_err(),
        "temperature NaN"
    );
    assert!(softmax(&logits, -1.0).is_err());
}
