//! End to end: the backward code this macro writes, for every built-in cell and for a cell using
//! every construct of the DSL, agrees with finite differences (docs/THEORY.md P2) and dual numbers (P3).
//! Deterministic cases, so the test is also the oracle for mutation testing of the rule table.

use rnn_core::cells::*;
use rnn_core::{Cell, SplitMix64, recurrent};
use rnn_verify::{Problem, check_dual, check_finite_differences};

recurrent! {
    /// Every construct: two inputs and states, scalar, vector and hyper parameters, split,
    /// stacking, constants, negation, every built-in activation and a user one, and every
    /// scalar/vector combination of `+` and `-` (sums are reordered input-first, constants next).
    pub cell Everything {
        input x[I], u[J];
        state h[H], c[H];
        param w_x[3 * H, I], w_h[3 * H, H], b[3 * H], w_cat[H, H + J], gain, v[H];
        hyper leak = 0.25;
        fn softsign = rnn_core::Softsign;
        step {
            let [r_x, z_x, n_x] = split(w_x * x + b);
            let [r_h, z_h, n_h] = split(w_h * h);
            let shifted = n_x - 0.25;
            let lifted = n_x + gain;
            let offset = 0.5 + r_h;
            let scale = gain + 0.5;
            let r = sigmoid(r_x + r_h);
            let z = sigmoid(z_x + z_h);
            let n = tanh(shifted + r * n_h) + softsign(w_cat * [c; u]) - v * exp(-identity(c));
            c = leak * c + (1 - leak) * softplus(gain * n - c) + relu(v) * 0.1;
            h = (1 - z) * n + z * h - 0.1 * gain * c + 0.05 * scale * tanh(lifted * offset);
        }
    }
}

fn check<C: Cell<f64>>(make: impl Fn(usize, usize) -> C, smooth: bool) {
    let mut rng = SplitMix64::new(11);
    for case in 0..6 {
        let (h, i) = (
            1 + (rng.next_u64() % 4) as usize,
            1 + (rng.next_u64() % 3) as usize,
        );
        let mut cell = make(h, i);
        rnn_core::ParamSet::visit_mut(&mut cell, |_, _, data| {
            data.iter_mut().for_each(|v| *v = rng.uniform(-0.8, 0.8));
        });
        let problem = Problem::seeded(cell, 1 + case % 3, 1 + case * 2, rng.next_u64()).unwrap();
        if smooth {
            let fd = check_finite_differences(&problem).unwrap();
            assert!(fd.passed(), "{} case {case}: {fd}", C::NAME);
        }
        let dual = check_dual(&problem).unwrap();
        assert!(dual.passed(), "{} case {case}: {dual}", C::NAME);
    }
}

#[test]
fn every_construct() {
    check(
        |h, i| Everything::new(EverythingDims { H: h, I: i, J: 2 }).unwrap(),
        false,
    );
}

#[test]
fn built_in_cells() {
    check(|h, i| Elman::new(ElmanDims { H: h, I: i }).unwrap(), true);
    check(
        |h, i| ElmanConcat::new(ElmanConcatDims { H: h, I: i }).unwrap(),
        true,
    );
    check(|h, _| RunningSum::new(RunningSumDims { H: h }).unwrap(), true);
    check(|h, _| Leaky::new(LeakyDims { H: h }).unwrap(), true);
    check(|h, i| Lstm::new(LstmDims { H: h, I: i }).unwrap(), true);
    check(|h, i| Gru::new(GruDims { H: h, I: i }).unwrap(), true);
    check(
        |h, i| PeepholeLstm::new(PeepholeLstmDims { H: h, I: i }).unwrap(),
        true,
    );
    check(|h, i| Cifg::new(CifgDims { H: h, I: i }).unwrap(), true);
    check(|h, i| Mgu::new(MguDims { H: h, I: i }).unwrap(), true);
    check(|h, i| IndRnn::new(IndRnnDims { H: h, I: i }).unwrap(), false);
    check(|h, i| RnnRelu::new(RnnReluDims { H: h, I: i }).unwrap(), false);
}
