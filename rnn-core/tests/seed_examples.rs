//! The worked examples of the seed notes (`testdata/pytorch/seed_examples.json`), exactly.

mod vectors;

use nalgebra::DMatrix;
use rnn_core::cells::{Leaky, LeakyDims, RunningSum, RunningSumDims};
use rnn_core::{Cell, Tensors, recurrent, seq};
use serde_json::Value;
use vectors::{load, matrix};

recurrent! {
    /// The seed's concatenation example as two separate products: `y = W_hh h + W_hx x`.
    cell SplitProduct {
        input h_prev[K], x[I];
        state y[H];
        param w_hh[H, K], w_hx[H, I];
        step { y = w_hh * h_prev + w_hx * x; }
    }
}

recurrent! {
    /// The same with the concatenated weight: `y = [W_hh | W_hx] [h; x]`.
    cell StackedProduct {
        input h_prev[K], x[I];
        state y[H];
        param w_h[H, K + I];
        step { y = w_h * [h_prev; x]; }
    }
}

recurrent! {
    /// The exponential average with a trainable rate, to check ∂L/∂a as well.
    cell TrainableAverage {
        input x[N];
        state h[N];
        param a;
        step { h = a * h + (1 - a) * x; }
    }
}

#[test]
fn concatenation_gives_245_both_ways() {
    let seed = &load("seed_examples.json")["a_concatenation"];
    let (w_hh, w_hx) = (matrix(&seed["W_hh"]), matrix(&seed["W_hx"]));
    let (h, x) = (matrix(&seed["h_prev"]), matrix(&seed["x"]));
    let expected = matrix(&seed["result"]);
    assert_eq!(expected, DMatrix::from_element(3, 1, 245.0));

    let dims = SplitProductDims { H: 3, K: 2, I: 3 };
    let split = SplitProduct::from_params(dims, w_hh.clone(), w_hx.clone()).unwrap();
    let input = SplitProductInput {
        h_prev: h.clone(),
        x: x.clone(),
    };
    let y = split.forward(&split.zero_state(1), &input).unwrap().y;
    assert_eq!(y, expected);

    let w_h = matrix(&seed["hstack_W"]);
    assert_eq!(
        w_h,
        DMatrix::from_fn(3, 5, |i, j| if j < 2 { w_hh[(i, j)] } else { w_hx[(i, j - 2)] })
    );
    let stacked = StackedProduct::from_params(StackedProductDims { H: 3, K: 2, I: 3 }, w_h).unwrap();
    let input = StackedProductInput { h_prev: h, x };
    let y = stacked.forward(&stacked.zero_state(1), &input).unwrap().y;
    assert_eq!(y, expected);
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Runs a one-unit cell over the seed's sequence with `L = Σ h_t g_t`; returns (h, dL/dx, dL/dh0).
fn scalar_sequence<C: Cell<f64>>(cell: &C, case: &Value) -> (Vec<f64>, Vec<f64>, f64, C::Grad) {
    let one = |v: f64| DMatrix::from_element(1, 1, v);
    let xs: Vec<C::Input> = numbers(&case["x"])
        .into_iter()
        .map(|x| C::Input::from_fn(|_| one(x)))
        .collect();
    let h0 = C::State::from_fn(|_| one(case["h0"].as_f64().unwrap()));
    let trajectory = seq::unroll(cell, &h0, &xs).unwrap();
    let h = (1..=xs.len())
        .map(|t| trajectory.output(t).unwrap()[(0, 0)])
        .collect();
    let d: Vec<C::State> = numbers(&case["g"])
        .into_iter()
        .map(|g| C::State::from_fn(|_| one(g)))
        .collect();
    let grads = seq::bptt(cell, &trajectory, &d).unwrap();
    let dx = grads.inputs.iter().map(|x| x.get(0).unwrap()[(0, 0)]).collect();
    let dh0 = grads.initial_state.get(0).unwrap()[(0, 0)];
    (h, dx, dh0, grads.params)
}

#[test]
fn running_sum_holds_exactly() {
    let case = &load("seed_examples.json")["e_linear_recurrences"]["running_sum"];
    let cell = RunningSum::<f64>::new(RunningSumDims { H: 1 }).unwrap();
    let (h, dx, dh0, _) = scalar_sequence(&cell, case);
    assert_eq!(h, numbers(&case["h"]));
    assert_eq!(dx, numbers(&case["grads"]["x"]));
    assert_eq!(dh0, case["grads"]["h0"].as_f64().unwrap());
    let loss: f64 = h.iter().zip(numbers(&case["g"])).map(|(h, g)| h * g).sum();
    assert_eq!(loss, case["loss"].as_f64().unwrap());
}

#[test]
fn exponential_average_holds_exactly() {
    let case = &load("seed_examples.json")["e_linear_recurrences"]["exponential_average"];
    let a = case["a"].as_f64().unwrap();
    let mut cell = Leaky::<f64>::new(LeakyDims { H: 1 }).unwrap();
    cell.alpha = a;
    let (h, dx, dh0, _) = scalar_sequence(&cell, case);
    assert_eq!(h, numbers(&case["h"]), "values bit for bit");
    assert_eq!(dx, numbers(&case["grads"]["x"]));
    assert_eq!(dh0, case["grads"]["h0"].as_f64().unwrap());

    let trainable = TrainableAverage::from_params(TrainableAverageDims { N: 1 }, a).unwrap();
    let (h, dx, dh0, grad) = scalar_sequence(&trainable, case);
    assert_eq!(h, numbers(&case["h"]));
    assert_eq!(dx, numbers(&case["grads"]["x"]));
    assert_eq!(dh0, case["grads"]["h0"].as_f64().unwrap());
    // ∂L/∂a = Σ_t δ_t (h_{t-1} − x_t) is a sum of 2T products, accumulated in another order
    // than autograd's, so it is exact only up to summation rounding: both results lie within
    // γ_{2T+1} Σ|terms| of the true sum (Higham §3.1), hence within twice that of each other.
    let expected = case["grads"]["a"].as_f64().unwrap();
    let x = numbers(&case["x"]);
    let mut previous = case["h0"].as_f64().unwrap();
    let mut magnitude = 0.0;
    for t in 0..x.len() {
        magnitude += dx[t].abs() / (1.0 - a) * (previous.abs() + x[t].abs());
        previous = h[t];
    }
    let n = 2.0 * x.len() as f64 + 1.0;
    let u = f64::EPSILON / 2.0;
    let bound = 2.0 * (n * u / (1.0 - n * u)) * magnitude;
    assert!(
        (grad.a - expected).abs() <= bound,
        "dL/da: ours {:e}, reference {expected:e}, |diff| {:e} > bound {bound:e}",
        grad.a,
        (grad.a - expected).abs()
    );
}

/// The seed's hand-set hard-gated LSTM: all six sequences exactly (ties round to even: the
/// output gate sees σ(0) = 0.5 whenever x = 0 and must give 0).
#[test]
fn hard_lstm_reproduces_the_six_sequences() {
    use rnn_core::cells::{HardLstm, HardLstmDims, HardLstmInput};
    let seed = &load("seed_examples.json")["d_hard_lstm"];
    let w = |name: &str| seed["weights"][name].as_f64().unwrap();
    // Gate blocks i, f, g, o; one unit, one input.
    let w_ih = DMatrix::from_column_slice(4, 1, &[w("w_ix"), w("w_fx"), w("w_cx"), w("w_ox")]);
    let w_hh = DMatrix::from_column_slice(4, 1, &[w("w_ih"), w("w_fh"), w("w_ch"), w("w_oh")]);
    let b = nalgebra::DVector::from_column_slice(&[w("b_i"), w("b_f"), w("b_c"), w("b_o")]);
    let cell = HardLstm::from_params(HardLstmDims { H: 1, I: 1 }, w_ih, w_hh, b).unwrap();
    let sequences = seed["sequences"].as_array().unwrap();
    assert_eq!(sequences.len(), 6);
    for case in sequences {
        let xs: Vec<HardLstmInput<f64>> = numbers(&case["x"])
            .into_iter()
            .map(|x| HardLstmInput {
                x: DMatrix::from_element(1, 1, x),
            })
            .collect();
        let states = seq::run(&cell, &cell.zero_state(1), &xs).unwrap();
        let h: Vec<f64> = states.iter().map(|s| s.h[(0, 0)]).collect();
        assert_eq!(h, numbers(&case["h"]), "x = {:?}", numbers(&case["x"]));
    }
}

#[test]
fn round_half_even_matches_the_standard_library() {
    use rnn_core::round_half_even;
    for (x, expected) in [
        (0.5, 0.0),
        (1.5, 2.0),
        (2.5, 2.0),
        (-0.5, -0.0),
        (-1.5, -2.0),
        (0.49999999999999994, 0.0),
    ] {
        assert_eq!(round_half_even(x), expected, "round({x})");
    }
    for k in -4000..=4000 {
        let x = f64::from(k) * 0.25 + 1e-3 * f64::from(k % 7);
        assert_eq!(round_half_even(x), x.round_ties_even(), "round({x})");
        let y = x as f32;
        assert_eq!(round_half_even(y), y.round_ties_even(), "round({y}f32)");
    }
}
