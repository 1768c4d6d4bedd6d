//! The golden numbers of docs/THEORY.md, asserted exactly unless docs/THEORY.md notes otherwise.
// The golden values are written as docs/THEORY.md writes them, digit for digit.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use nalgebra::{DMatrix, DVector};
use num_dual::Dual64;
use rnn_core::cells::*;
use rnn_core::clip::{Flat, clip_elementwise, clip_global_norm};
use rnn_core::{Cell, seq};
use rnn_verify::central_difference;
use rnn_verify::properties::{
    LinearRnn, LinearRnnDims, LinearRnnInput, LinearRnnState, adjoints, gamma, lyapunov,
};

#[test]
fn activation_derivatives_at_zero() {
    assert_eq!(rnn_core::sigmoid(0.0_f64), 0.5);
    assert_eq!(rnn_core::sigmoid(Dual64::new(0.0, 1.0)).eps, 0.25);
    assert_eq!(rnn_core::tanh(Dual64::new(0.0, 1.0)).eps, 1.0);
}

fn linear_power(w: DMatrix<f64>, k: usize, c: [f64; 2]) -> DMatrix<f64> {
    let cell = LinearRnn::from_params(LinearRnnDims { H: 2, I: 1 }, w, DMatrix::zeros(2, 1)).unwrap();
    let inputs = vec![
        LinearRnnInput {
            x: DMatrix::zeros(1, 1)
        };
        k
    ];
    let trajectory = seq::unroll(
        &cell,
        &LinearRnnState {
            h: DMatrix::zeros(2, 1),
        },
        &inputs,
    )
    .unwrap();
    adjoints(
        &cell,
        &trajectory,
        &LinearRnnState {
            h: DMatrix::from_column_slice(2, 1, &c),
        },
    )
    .unwrap()[0]
        .h
        .clone()
}

#[test]
fn matrix_powers_through_bptt() {
    // (Wᵀ)^10 c with W = diag(2, 1/2): diag(1024, 0.0009765625) bitwise.
    let g = linear_power(
        DMatrix::from_diagonal(&DVector::from_column_slice(&[2.0, 0.5])),
        10,
        [1.0, 1.0],
    );
    assert_eq!(g.as_slice(), &[1024.0, 0.0009765625]);
    // W = [[1, 1], [0, 1]]: W^k = [[1, k], [0, 1]], so (W^k)ᵀ e1 = (1, k) and (W^k)ᵀ e2 = (0, 1).
    let jordan = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 1.0]);
    for k in 1..=40 {
        assert_eq!(
            linear_power(jordan.clone(), k, [1.0, 0.0]).as_slice(),
            &[1.0, k as f64]
        );
        assert_eq!(
            linear_power(jordan.clone(), k, [0.0, 1.0]).as_slice(),
            &[0.0, 1.0]
        );
    }
}

#[test]
fn lyapunov_exponents_of_diag_two_half() {
    // tanh RNN at x = 0, b = 0, h_0 = 0 stays at 0, so J_t = W = diag(2, 1/2), R_t = diag(2, 1/2)
    // exactly and λ̂ = (ln 2, −ln 2). The logarithms are summed with compensation, so the sum is
    // T ln 2 correctly rounded; dividing by T is exact for T a power of two and within one ulp
    // otherwise (a quotient rounds), which is how far "for every T" holds in floating point.
    let w = DMatrix::from_diagonal(&DVector::from_column_slice(&[2.0, 0.5]));
    let cell = Elman::from_params(
        ElmanDims { H: 2, I: 1 },
        w,
        DMatrix::zeros(2, 1),
        DVector::zeros(2),
    )
    .unwrap();
    for steps in 1..=64 {
        let inputs = vec![
            ElmanInput {
                x: DMatrix::zeros(1, 1)
            };
            steps
        ];
        let trajectory = seq::unroll(&cell, &cell.zero_state(1), &inputs).unwrap();
        let (check, exponents) = lyapunov(&cell, &trajectory, &DMatrix::identity(2, 2)).unwrap();
        assert!(check.passed(), "{check}");
        let ln2 = 0.6931471805599453_f64;
        if steps.is_power_of_two() {
            assert_eq!(exponents, [ln2, -ln2], "T = {steps}");
        } else {
            let ulp = f64::EPSILON * ln2;
            assert!(
                (exponents[0] - ln2).abs() <= ulp && (exponents[1] + ln2).abs() <= ulp,
                "T = {steps}: {exponents:?}"
            );
        }
    }
}

#[test]
fn leaky_and_running_sum() {
    // α = 1/2: ∂u_T/∂u_{T-k} = 2^-k; with u_0 = 0 and T = 3, Σ_s ∂u_T/∂v_s = 1 − 2^-3 = 0.875.
    let mut leaky = Leaky::new(LeakyDims { H: 1 }).unwrap();
    leaky.alpha = 0.5;
    let inputs = vec![
        LeakyInput {
            x: DMatrix::from_element(1, 1, 1.0)
        };
        3
    ];
    let trajectory = seq::unroll(&leaky, &leaky.zero_state(1), &inputs).unwrap();
    let mut d = vec![leaky.zero_state(1); 3];
    d[2].h.fill(1.0);
    let grads = seq::bptt(&leaky, &trajectory, &d).unwrap();
    let through_inputs: f64 = grads.inputs.iter().map(|x| x.x[(0, 0)]).sum();
    assert_eq!(through_inputs, 0.875);
    assert_eq!(grads.initial_state.h[(0, 0)], 0.125);
    let g = adjoints(&leaky, &trajectory, &d[2]).unwrap();
    for (s, state) in g.iter().enumerate() {
        assert_eq!(state.h[(0, 0)], 2f64.powi(-(3 - s as i32)));
    }
    // Running sum: gradient 1.0 bitwise for any T.
    let sum = RunningSum::new(RunningSumDims { H: 1 }).unwrap();
    for steps in [1, 7, 100, 1000] {
        let inputs = vec![
            RunningSumInput {
                x: DMatrix::from_element(1, 1, 0.3)
            };
            steps
        ];
        let trajectory = seq::unroll(&sum, &sum.zero_state(1), &inputs).unwrap();
        let mut d = vec![sum.zero_state(1); steps];
        d[steps - 1].h.fill(1.0);
        let grads = seq::bptt(&sum, &trajectory, &d).unwrap();
        assert_eq!(grads.initial_state.h[(0, 0)], 1.0);
        assert!(grads.inputs.iter().all(|x| x.x[(0, 0)] == 1.0));
    }
}

#[test]
fn lstm_forget_half_halves_the_carousel() {
    // W_f = R = 0, b_f = 0: f = σ(0) = 1/2 exactly, so ∂c_T/∂c_s = 2^-(T−s) bitwise.
    let (h, i, steps) = (3, 2, 12);
    let mut w_ih = DMatrix::from_fn(4 * h, i, |r, c| 0.1 * (r as f64) - 0.05 * c as f64);
    w_ih.rows_mut(h, h).fill(0.0);
    let mut b = DVector::from_fn(4 * h, |r, _| 0.01 * r as f64);
    b.rows_mut(h, h).fill(0.0);
    let cell = Lstm::from_params(
        LstmDims { H: h, I: i },
        w_ih,
        DMatrix::zeros(4 * h, h),
        b.clone(),
        DVector::zeros(4 * h),
    )
    .unwrap();
    let inputs = vec![
        LstmInput {
            x: DMatrix::from_element(i, 1, 0.7)
        };
        steps
    ];
    let trajectory = seq::unroll(&cell, &cell.zero_state(1), &inputs).unwrap();
    let last = LstmState {
        h: DMatrix::zeros(h, 1),
        c: DMatrix::from_element(h, 1, 1.0),
    };
    let g = adjoints(&cell, &trajectory, &last).unwrap();
    for (s, state) in g.iter().enumerate() {
        assert!(
            state.c.iter().all(|&v| v == 2f64.powi(-((steps - s) as i32))),
            "s = {s}: {:?}",
            state.c
        );
    }
}

#[test]
fn central_differences() {
    let eps = 2f64.powi(-10);
    let cube = central_difference(|x| Ok::<_, ()>(x * x * x), 1.0, eps).unwrap();
    assert_eq!(cube, 3.00000095367431640625);
    assert_eq!(cube, 3.0 + 2f64.powi(-20));
    assert_eq!(central_difference(|x| Ok::<_, ()>(x * x), 3.0, eps).unwrap(), 6.0);
}

#[test]
fn clipping_goldens() {
    let mut g = Flat(vec![6.0, 8.0]);
    assert_eq!(clip_global_norm(&mut g, 5.0).unwrap(), 10.0);
    assert_eq!(g.0, [3.0, 4.0]);
    let mut g = Flat(vec![3.0, 4.0]);
    clip_global_norm(&mut g, 5.0).unwrap();
    assert_eq!(g.0, [3.0, 4.0]);
    let mut g = Flat(vec![3.0_f64, 4.0]);
    clip_global_norm(&mut g, 1.0).unwrap();
    let u = f64::EPSILON / 2.0;
    assert!(
        (g.0[0] - 0.6).abs() <= 4.0 * u * 0.6 && (g.0[1] - 0.8).abs() <= 4.0 * u * 0.8,
        "{:?}",
        g.0
    );
    let mut e = Flat(vec![10.0_f64, 1.0]);
    clip_elementwise(&mut e, 1.0).unwrap();
    assert_eq!(e.0, [1.0, 1.0]);
    let cos = (10.0 + 1.0) / (2f64.sqrt() * 101f64.sqrt());
    assert!((cos - 0.773957299203321).abs() <= 4.0 * u * cos);
    assert!(clip_global_norm(&mut Flat(vec![f64::NAN, 1.0]), 1.0).is_err());
    assert!(
        clip_global_norm(&mut Flat(vec![1e300, 1e300]), 1.0).is_ok(),
        "the norm is scaled, not overflowed"
    );
}

#[test]
fn non_normal_counterexample() {
    // W = [[0, 10], [0, 0]]: ρ = 0 but σ_max = 10, so one step *grows* the distance.
    let w = DMatrix::from_row_slice(2, 2, &[0.0, 10.0, 0.0, 0.0]);
    let cell = Elman::from_params(
        ElmanDims { H: 2, I: 1 },
        w,
        DMatrix::zeros(2, 1),
        DVector::zeros(2),
    )
    .unwrap();
    let inputs = vec![
        ElmanInput {
            x: DMatrix::zeros(1, 1)
        };
        2
    ];
    let a = seq::run(
        &cell,
        &ElmanState {
            h: DMatrix::from_column_slice(2, 1, &[0.0, 0.01]),
        },
        &inputs,
    )
    .unwrap();
    let b = seq::run(&cell, &cell.zero_state(1), &inputs).unwrap();
    let d1 = (&a[0].h - &b[0].h).norm();
    assert_eq!(d1, 0.09966799462495582);
    assert!(d1 > 0.01);
    assert_eq!((&a[1].h - &b[1].h).norm(), 0.0);
}

#[test]
fn roundoff_constants() {
    assert_eq!(f64::EPSILON / 2.0, 2f64.powi(-53));
    assert_eq!(f32::EPSILON / 2.0, 2f32.powi(-24));
    assert!((gamma(64) - 7.1054e-15).abs() < 1e-19);
    let u32_ = f64::from(f32::EPSILON) / 2.0;
    assert!((64.0 * u32_ / (1.0 - 64.0 * u32_) - 3.8147e-6).abs() < 1e-10);
}

#[test]
fn saturation_and_range() {
    // tanh rounds to 1 near 19 (f64) and 9–10 (f32); sigmoid near 36.7 and 16.6: then the
    // derivatives are exactly 0 and BPTT and finite differences both see a flat function.
    assert_eq!(rnn_core::tanh(19.5_f64), 1.0);
    assert!(rnn_core::tanh(18.0_f64) < 1.0);
    assert_eq!(rnn_core::tanh(10.0_f32), 1.0);
    assert_eq!(rnn_core::sigmoid(37.0_f64), 1.0);
    assert!(rnn_core::sigmoid(36.0_f64) < 1.0);
    assert_eq!(rnn_core::sigmoid(17.0_f32), 1.0);
    assert!((f64::MAX.ln() - 709.78).abs() < 0.01 && (f32::MAX.ln() - 88.72).abs() < 0.01);
    // The stable sigmoid does not overflow far out: σ(−1000) = 0, σ(1000) = 1, no NaN.
    assert_eq!(rnn_core::sigmoid(-1000.0_f64), 0.0);
    assert_eq!(rnn_core::sigmoid(1000.0_f64), 1.0);
    assert_eq!(rnn_core::softplus(-1000.0_f64), 0.0);
    assert_eq!(rnn_core::softplus(1000.0_f64), 1000.0);
}

#[test]
fn mismatched_arguments_are_errors() {
    use rnn_verify::properties::linear_explosion;
    let err = linear_explosion(&DMatrix::identity(3, 3), &[1.0, 0.5], 4, &DMatrix::zeros(2, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            rnn_core::Error::Shape {
                expected: (2, 2),
                found: (3, 3),
                ..
            }
        ),
        "{err:?}"
    );
    let cell = Elman::<f64>::init(ElmanDims { H: 2, I: 1 }, 1).unwrap();
    let trajectory = seq::unroll(
        &cell,
        &cell.zero_state(1),
        &[ElmanInput {
            x: DMatrix::zeros(1, 1),
        }],
    )
    .unwrap();
    let err = lyapunov(&cell, &trajectory, &DMatrix::identity(3, 3)).unwrap_err();
    assert!(
        matches!(
            err,
            rnn_core::Error::Shape {
                expected: (2, 2),
                found: (3, 3),
                ..
            }
        ),
        "{err:?}"
    );
}
