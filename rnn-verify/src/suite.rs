//! The suite a downstream crate runs on its own cell, usually through [`verify_cell!`](crate::verify_cell).
//!
//! ```
//! use rnn_core::recurrent;
//!
//! recurrent! {
//!     pub cell Mine {
//!         input x[I];
//!         state h[H];
//!         param w[H, I], u[H, H], b[H];
//!         step { h = tanh(w * x + u * h + b); }
//!     }
//! }
//!
//! rnn_verify::verify_cell!(mine_suite: Mine<f64> = MineDims { H: 4, I: 3 });
//! # fn main() {}
//! ```
//!
//! expands to a `#[cfg(test)]` module `mine_suite` with one `#[test]` per check below; write
//! `..., nonsmooth` after the dimensions for cells with kinks or rounding (ReLU, hard gates),
//! which skips finite differences (docs/THEORY.md P2 pitfalls) and keeps the exact checks.

use crate::strategies::{cases, problem};
use crate::{Problem, check_dual, check_finite_differences};
use nalgebra::DMatrix;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rnn_core::{Cell, Tensors, seq};

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config::with_cases(cases(default_cases)))
}

fn report<T>(result: Result<(), proptest::test_runner::TestError<T>>) -> Result<(), String>
where
    T: std::fmt::Debug,
{
    result.map_err(|e| match e {
        proptest::test_runner::TestError::Fail(reason, _) => format!("{reason}"),
        other => format!("{other}"),
    })
}

/// P2 on random batch sizes (1..=3) and lengths (1..=12) of `cell`'s dimensions.
pub fn finite_differences<C: Cell<f64> + std::fmt::Debug + 'static>(cell: C) -> Result<(), String> {
    report(runner(32).run(&problem(cell, 3, 12), |p: Problem<f64, C>| {
        let fd = check_finite_differences(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if fd.passed() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "{} finite differences: {fd}",
                C::NAME
            )))
        }
    }))
}

/// P3 (dual numbers, exact oracle) on random batch sizes and lengths.
pub fn dual_numbers<C: Cell<f64> + std::fmt::Debug + 'static>(cell: C) -> Result<(), String> {
    report(runner(32).run(&problem(cell, 3, 12), |p: Problem<f64, C>| {
        let dual = check_dual(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if dual.passed() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!("{} dual numbers: {dual}", C::NAME)))
        }
    }))
}

/// Sequences of a batch do not interact: running the batch and running each column alone give
/// the same states and the same input and initial-state gradients, and the parameter gradient
/// of the batch is the sum of the columns' (within `1e-12` of the largest entry: the batch
/// sums in another order).
pub fn batch_independence<C: Cell<f64> + std::fmt::Debug + 'static>(cell: C) -> Result<(), String> {
    report(runner(32).run(&problem(cell, 4, 8), |p: Problem<f64, C>| {
        let fail = |e: rnn_core::Error| TestCaseError::fail(e.to_string());
        let batch = p.initial.batch();
        let trajectory = seq::unroll(&p.cell, &p.initial, &p.inputs).map_err(fail)?;
        let grads = seq::bptt(&p.cell, &trajectory, &p.readout).map_err(fail)?;
        let column = |m: &DMatrix<f64>, j: usize| m.columns(j, 1).into_owned();
        let mut summed = vec![0.0; rnn_core::ParamSet::param_count(&p.cell)];
        for j in 0..batch {
            let initial = C::State::from_fn(|k| {
                p.initial
                    .get(k)
                    .map_or_else(|| DMatrix::zeros(0, 1), |m| column(m, j))
            });
            let inputs: Vec<C::Input> = p
                .inputs
                .iter()
                .map(|x| {
                    C::Input::from_fn(|k| x.get(k).map_or_else(|| DMatrix::zeros(0, 1), |m| column(m, j)))
                })
                .collect();
            let readout: Vec<C::State> = p
                .readout
                .iter()
                .map(|r| {
                    C::State::from_fn(|k| r.get(k).map_or_else(|| DMatrix::zeros(0, 1), |m| column(m, j)))
                })
                .collect();
            let single = seq::unroll(&p.cell, &initial, &inputs).map_err(fail)?;
            let single_grads = seq::bptt(&p.cell, &single, &readout).map_err(fail)?;
            for t in 0..=p.inputs.len() {
                for (a, b) in trajectory.states()[t].iter().zip(single.states()[t].iter()) {
                    let (a, b) = (column(a, j), b.clone());
                    let worst = (&a - &b).abs().max();
                    if worst > 1e-14 * a.abs().max().max(1.0) {
                        return Err(TestCaseError::fail(format!(
                            "{}: column {j} at step {t} differs alone by {worst:e}",
                            C::NAME
                        )));
                    }
                }
            }
            for (a, b) in grads.initial_state.iter().zip(single_grads.initial_state.iter()) {
                let worst = (column(a, j) - b).abs().max();
                let scale = a.abs().max().max(1.0);
                if worst > 1e-12 * scale {
                    return Err(TestCaseError::fail(format!(
                        "{}: initial-state gradient of column {j} differs alone by {worst:e}",
                        C::NAME
                    )));
                }
            }
            for (s, g) in summed
                .iter_mut()
                .zip(rnn_core::ParamSet::to_flat(&single_grads.params))
            {
                *s += g;
            }
        }
        let batched = rnn_core::ParamSet::to_flat(&grads.params);
        let scale = batched.iter().fold(1.0_f64, |m, x| m.max(x.abs()));
        for (k, (a, b)) in batched.iter().zip(&summed).enumerate() {
            if (a - b).abs() > 1e-12 * scale {
                return Err(TestCaseError::fail(format!(
                    "{}: {}: batch {a:e}, sum of columns {b:e}",
                    C::NAME,
                    p.label(k)
                )));
            }
        }
        Ok(())
    }))
}

/// Declares the verification suite of a cell as `#[test]`s in a module of the calling crate.
///
/// `verify_cell!(module: Cell<f64> = dims);` runs [`finite_differences`](crate::suite::finite_differences),
/// [`dual_numbers`](crate::suite::dual_numbers) and [`batch_independence`](crate::suite::batch_independence);
/// `verify_cell!(module: Cell<f64> = dims, nonsmooth);` leaves out finite differences.
#[macro_export]
macro_rules! verify_cell {
    ($module:ident : $cell:ty = $dims:expr) => {
        $crate::verify_cell!(@suite $module, $cell, $dims, {
            #[test]
            fn bptt_matches_finite_differences() {
                $crate::suite::finite_differences(cell()).unwrap_or_else(|e| panic!("{e}"));
            }
        });
    };
    ($module:ident : $cell:ty = $dims:expr, nonsmooth) => {
        $crate::verify_cell!(@suite $module, $cell, $dims, {});
    };
    (@suite $module:ident, $cell:ty, $dims:expr, { $($extra:tt)* }) => {
        #[cfg(test)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            fn cell() -> $cell {
                <$cell>::new($dims).expect("the dimensions given to verify_cell! are valid")
            }

            $($extra)*

            #[test]
            fn bptt_matches_dual_numbers() {
                $crate::suite::dual_numbers(cell()).unwrap_or_else(|e| panic!("{e}"));
            }

            #[test]
            fn batch_columns_are_independent() {
                $crate::suite::batch_independence(cell()).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    };
}
