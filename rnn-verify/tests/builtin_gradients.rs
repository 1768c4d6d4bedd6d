//! docs/THEORY.md P2 and P3 for every built-in cell: BPTT gradients with respect to every
//! parameter, input entry and initial-state entry against central finite differences and
//! against forward-mode dual numbers, over random dimensions, batch sizes and lengths.

use proptest::prelude::*;
use rnn_core::Cell;
use rnn_core::cells::*;
use rnn_core::seq;
use rnn_verify::strategies::{cases, problem};
use rnn_verify::{Problem, check_dual, check_finite_differences};

fn assert_gradients<C: Cell<f64>>(problem: &Problem<f64, C>) -> Result<(), TestCaseError> {
    let fd = check_finite_differences(problem).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(fd.passed(), "{} finite differences: {fd}", C::NAME);
    let dual = check_dual(problem).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(dual.passed(), "{} dual numbers: {dual}", C::NAME);
    Ok(())
}

fn hidden() -> impl Strategy<Value = usize> {
    1..=5usize
}

fn input() -> impl Strategy<Value = usize> {
    1..=4usize
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn elman_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Elman::new(ElmanDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn elman_concat_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(ElmanConcat::new(ElmanConcatDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn running_sum_gradients(p in hidden().prop_flat_map(|h| problem(RunningSum::new(RunningSumDims { H: h }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn leaky_gradients(
        p in (hidden(), prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(1.0), 0.0..=1.0_f64])
            .prop_flat_map(|(h, alpha)| {
                let mut cell = Leaky::new(LeakyDims { H: h }).unwrap();
                cell.alpha = alpha;
                problem(cell, 3, 12)
            })
    ) {
        assert_gradients(&p)?;
    }

    #[test]
    fn rnn_tanh_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(RnnTanh::new(RnnTanhDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn lstm_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Lstm::new(LstmDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn gru_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Gru::new(GruDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    /// ReLU has a kink at 0: finite differences straddling it average two slopes (docs/THEORY.md P2
    /// pitfalls), so cases with a pre-activation within 1e-3 of 0 are rejected for P2. P3 follows
    /// the implementation's own branch and runs on every case.
    #[test]
    fn rnn_relu_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(RnnRelu::new(RnnReluDims { H: h, I: i }).unwrap(), 3, 12))) {
        let dual = check_dual(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(dual.passed(), "RnnRelu dual numbers: {dual}");
        let states = seq::run(&p.cell, &p.initial, &p.inputs).unwrap();
        let mut closest = f64::INFINITY;
        for (t, x) in p.inputs.iter().enumerate() {
            let previous = if t == 0 { &p.initial.h } else { &states[t - 1].h };
            let pre = &p.cell.w_ih * &x.x + &p.cell.w_hh * previous;
            for j in 0..pre.ncols() {
                for r in 0..pre.nrows() {
                    closest = closest.min((pre[(r, j)] + p.cell.b_ih[r] + p.cell.b_hh[r]).abs());
                }
            }
        }
        prop_assume!(closest > 1e-3);
        let fd = check_finite_differences(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(fd.passed(), "RnnRelu finite differences: {fd}");
    }

    #[test]
    fn peephole_lstm_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(PeepholeLstm::new(PeepholeLstmDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn cifg_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Cifg::new(CifgDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn reservoir_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Reservoir::new(ReservoirDims { N: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    #[test]
    fn mgu_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(Mgu::new(MguDims { H: h, I: i }).unwrap(), 3, 12))) {
        assert_gradients(&p)?;
    }

    /// IndRNN uses ReLU: P2 only away from the kink, as for `RnnRelu`; P3 always.
    #[test]
    fn indrnn_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(IndRnn::new(IndRnnDims { H: h, I: i }).unwrap(), 3, 12))) {
        let dual = check_dual(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(dual.passed(), "IndRnn dual numbers: {dual}");
        let states = seq::run(&p.cell, &p.initial, &p.inputs).unwrap();
        let mut closest = f64::INFINITY;
        for (t, x) in p.inputs.iter().enumerate() {
            let previous = if t == 0 { &p.initial.h } else { &states[t - 1].h };
            let pre = &p.cell.w * &x.x;
            for j in 0..pre.ncols() {
                for r in 0..pre.nrows() {
                    closest = closest.min((pre[(r, j)] + p.cell.u[r] * previous[(r, j)] + p.cell.b[r]).abs());
                }
            }
        }
        prop_assume!(closest > 1e-3);
        let fd = check_finite_differences(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(fd.passed(), "IndRnn finite differences: {fd}");
    }

    /// The hard-gated LSTM's derivative is 0 almost everywhere and finite differences across its
    /// jumps are meaningless (docs/THEORY.md P2 excludes quantised gates); P3 holds: BPTT and the dual
    /// numbers both follow the rounding's zero derivative.
    #[test]
    fn hard_lstm_dual_gradients(p in (hidden(), input()).prop_flat_map(|(h, i)| problem(HardLstm::new(HardLstmDims { H: h, I: i }).unwrap(), 3, 12))) {
        let dual = check_dual(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(dual.passed(), "HardLstm dual numbers: {dual}");
    }
}
