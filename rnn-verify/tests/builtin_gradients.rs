//! THEORY.md P2 and P3 for every built-in cell: BPTT gradients with respect to every
//! parameter, input entry and initial-state entry against central finite differences and
//! against forward-mode dual numbers, over random dimensions, batch sizes and lengths.

use proptest::prelude::*;
use rnn_core::Cell;
use rnn_core::cells::{
    Elman, ElmanConcat, ElmanConcatDims, ElmanDims, Leaky, LeakyDims, RunningSum, RunningSumDims,
};
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
}
