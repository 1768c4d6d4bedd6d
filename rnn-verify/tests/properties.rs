//! docs/THEORY.md P4–P11 by property, with its generators and tolerances.

use nalgebra::DMatrix;
use proptest::prelude::*;
use rnn_core::cells::*;
use rnn_core::seq;
use rnn_verify::properties::*;
use rnn_verify::strategies::*;

fn elman_inputs(xs: Vec<DMatrix<f64>>) -> Vec<ElmanInput<f64>> {
    xs.into_iter().map(|x| ElmanInput { x }).collect()
}

fn ok(check: Check) -> Result<(), TestCaseError> {
    prop_assert!(check.passed(), "{check}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    /// P4 with σ_max(W) in [0.05, 1.5], T up to 40.
    #[test]
    fn p4_vanishing_bound(
        (cell, xs, h0, c) in (1..=8usize, 1..=4usize, 0.05..=1.5_f64, 1..=40usize).prop_flat_map(|(n, i, s, t)| {
            (tanh_rnn(n, i, s), input_sequence(i, 1, t), uniform_matrix(n, 1), uniform_matrix(n, 1))
        })
    ) {
        ok(vanishing_bound(&cell, &ElmanState { h: h0 }, &elman_inputs(xs), &c).unwrap())?;
    }

    /// P5: symmetric W = Q diag(λ) Qᵀ, λ in [-2, 2], k up to 40.
    #[test]
    fn p5_linear_explosion(
        (q, lambda, k, c) in (1..=6usize, 1..=40usize).prop_flat_map(|(n, k)| {
            (orthogonal(n), proptest::collection::vec(-2.0..=2.0_f64, n), Just(k), uniform_matrix(n, 1))
        })
    ) {
        ok(linear_explosion(&q, &lambda, k, &c).unwrap().0)?;
    }

    /// P6: α in {0, 1/4, 1/2, 1} bit for bit for any cotangent; α uniform within γ.
    #[test]
    fn p6_leaky_exactness(
        (alpha, exact, xs, h0, c) in (1..=5usize, 1..=200usize, prop_oneof![
            Just((0.0, true)), Just((0.25, true)), Just((0.5, true)), Just((1.0, true)), (0.0..=1.0_f64).prop_map(|a| (a, false))
        ]).prop_flat_map(|(n, t, (alpha, exact))| {
            (Just(alpha), Just(exact), input_sequence(n, 1, t), uniform_matrix(n, 1), uniform_matrix(n, 1))
        })
    ) {
        let n = c.nrows();
        let mut cell = Leaky::new(LeakyDims { H: n }).unwrap();
        cell.alpha = alpha;
        let inputs: Vec<LeakyInput<f64>> = xs.into_iter().map(|x| LeakyInput { x }).collect();
        ok(leaky_exactness(&cell, alpha, 1.0 - alpha, &LeakyState { h: h0 }, &inputs, &c, exact).unwrap())?;
    }

    /// P6 for α = 3/4 with integer cotangents |c| ≤ 5, bit for bit while |c| 3^k < 2^53 (k ≤ 31).
    #[test]
    fn p6_three_quarters_exact(t in 1..=31usize, c in proptest::collection::vec(-5i32..=5, 3)) {
        let mut cell = Leaky::new(LeakyDims { H: 3 }).unwrap();
        cell.alpha = 0.75;
        let c = DMatrix::from_iterator(3, 1, c.into_iter().map(f64::from));
        let inputs = vec![LeakyInput { x: DMatrix::zeros(3, 1) }; t];
        let mut check = leaky_exactness(&cell, 0.75, 0.25, &LeakyState { h: DMatrix::zeros(3, 1) }, &inputs, &c, true).unwrap();
        // ∂L/∂v_s = c (1/4) (3/4)^(T-s) is exact too: dyadic times small integers.
        check.property = "P6 leaky exactness (α = 3/4)";
        ok(check)?;
    }

    /// P6 for the running sum: every adjoint equals the cotangent, bit for bit.
    #[test]
    fn p6_running_sum(t in 1..=200usize, c in uniform_matrix(4, 1)) {
        let cell = RunningSum::new(RunningSumDims { H: 4 }).unwrap();
        let inputs = vec![RunningSumInput { x: DMatrix::from_element(4, 1, 0.5) }; t];
        ok(leaky_exactness(&cell, 1.0, 1.0, &RunningSumState { h: DMatrix::zeros(4, 1) }, &inputs, &c, true).unwrap())?;
    }

    /// P7: LSTM with R = 0, T up to 60.
    #[test]
    fn p7_carousel(
        (w_ih, b_ih, b_hh, xs, c) in (1..=5usize, 1..=4usize, 1..=60usize).prop_flat_map(|(h, i, t)| {
            (uniform_matrix(4 * h, i), uniform_matrix(4 * h, 1), uniform_matrix(4 * h, 1), input_sequence(i, 1, t), uniform_matrix(h, 1))
        })
    ) {
        let (h, i) = (c.nrows(), w_ih.ncols());
        let cell = Lstm::from_params(
            LstmDims { H: h, I: i }, w_ih, DMatrix::zeros(4 * h, h),
            nalgebra::DVector::from_column_slice(b_ih.as_slice()), nalgebra::DVector::from_column_slice(b_hh.as_slice()),
        ).unwrap();
        let inputs: Vec<LstmInput<f64>> = xs.into_iter().map(|x| LstmInput { x }).collect();
        let initial = LstmState { h: DMatrix::zeros(h, 1), c: DMatrix::from_element(h, 1, 0.5) };
        ok(carousel(&cell, &initial, &inputs, &c).unwrap())?;
    }

    /// P8 with n up to 64, magnitudes log-uniform in [1e-3, 1e6], τ and c log-uniform.
    #[test]
    fn p8_clipping(
        g in (1..=64usize).prop_flat_map(|n| log_uniform_vector(n, -3.0, 6.0)),
        tau in (-3.0..=7.0_f64).prop_map(|e| 10f64.powf(e)),
        limit in (-3.0..=7.0_f64).prop_map(|e| 10f64.powf(e)),
    ) {
        ok(clipping(&g, tau, limit).unwrap())?;
    }

    /// P9: σ̄ ≤ 0.9, T in 2..=30, k in 1..=T.
    #[test]
    fn p9_truncated_bptt(
        (cell, xs, h0, readout, k) in (1..=6usize, 1..=3usize, 0.1..=0.9_f64, 2..=30usize).prop_flat_map(|(n, i, s, t)| {
            (tanh_rnn(n, i, s), input_sequence(i, 2, t), uniform_matrix(n, 2), input_sequence(n, 2, t), 1..=t)
        })
    ) {
        let d: Vec<ElmanState<f64>> = readout.into_iter().map(|h| ElmanState { h }).collect();
        ok(truncation(&cell, &ElmanState { h: h0 }, &elman_inputs(xs), &d, k).unwrap())?;
    }

    /// P9 (E3): with losses on the last chunk only and k < T, truncation is *not* full BPTT for
    /// shared parameters (generic draws), while the input gradients inside the window are exact.
    #[test]
    fn p9_truncation_is_not_full_bptt(
        (cell, xs, readout, k) in (2..=5usize, 1..=3usize, 0.3..=0.9_f64, 2..=5usize, 1..=4usize).prop_flat_map(|(n, i, s, k, chunks)| {
            (tanh_rnn(n, i, s), input_sequence(i, 1, k * (chunks + 1)), uniform_matrix(n, 1), Just(k))
        })
    ) {
        let steps = xs.len();
        let n = readout.nrows();
        let inputs = elman_inputs(xs);
        let mut d = vec![ElmanState { h: DMatrix::zeros(n, 1) }; steps];
        d[steps - 1].h = readout;
        let trajectory = seq::unroll(&cell, &ElmanState { h: DMatrix::from_element(n, 1, 0.3) }, &inputs).unwrap();
        let full = seq::bptt(&cell, &trajectory, &d).unwrap();
        let truncated = seq::bptt_truncated(&cell, &trajectory, &d, k).unwrap();
        use rnn_core::ParamSet;
        let (a, b) = (full.params.to_flat(), truncated.params.to_flat());
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let scale = a.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        prop_assume!(scale > 1e-6 && cell.w_hh.norm() > 1e-3);
        prop_assert!(diff > 1e-8 * scale, "truncation equalled full BPTT: diff {diff:e}, scale {scale:e}");
        for s in steps - k..steps {
            for (x, y) in full.inputs[s].x.iter().zip(truncated.inputs[s].x.iter()) {
                prop_assert!((x - y).abs() <= 1e-13 * x.abs().max(y.abs()), "input gradient at step {}: {x:e} vs {y:e}", s + 1);
            }
        }
    }

    /// P11: σ̄ in [0.05, 0.99], two initial states in [-1, 1]^n, same inputs, T up to 100.
    #[test]
    fn p11_contraction(
        (cell, xs, a, b) in (1..=8usize, 1..=4usize, 0.05..=0.99_f64, 1..=100usize).prop_flat_map(|(n, i, s, t)| {
            (tanh_rnn(n, i, s), input_sequence(i, 1, t), uniform_matrix(n, 1), uniform_matrix(n, 1))
        })
    ) {
        let inputs = elman_inputs(xs);
        ok(contraction(&cell, &ElmanState { h: a }, &ElmanState { h: b }, &inputs).unwrap())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(12)))]

    /// P10: n ≤ 8, T in 100..=400, σ_max in [0.5, 3], fixed inputs, random orthonormal Q_0 and c.
    #[test]
    fn p10_lyapunov(
        (cell, xs, q0, c) in (2..=8usize, 1..=3usize, 0.5..=3.0_f64, 100..=400usize).prop_flat_map(|(n, i, s, t)| {
            (tanh_rnn(n, i, s), input_sequence(i, 1, t), orthogonal(n), uniform_matrix(n, 1))
        })
    ) {
        let n = c.nrows();
        prop_assume!(c.norm() > 1e-3);
        let inputs: Vec<ElmanInput<f64>> = xs.into_iter().map(|x| ElmanInput { x: x * 0.3 }).collect();
        let (check, _, _) = lyapunov_tanh(&cell, &ElmanState { h: DMatrix::zeros(n, 1) }, &inputs, &q0, &c).unwrap();
        ok(check)?;
    }
}
