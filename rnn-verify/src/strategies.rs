//! proptest strategies: free functions returning `impl Strategy`.

use crate::Problem;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rnn_core::{Cell, Tensors};

/// `default`, or the `PROPTEST_CASES` environment variable when set (to scale every property up).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A problem for `cell`'s dimensions with 1..=`max_batch` sequences of 1..=`max_steps` steps.
/// Every value is drawn by proptest (so failures shrink): parameters uniform in
/// `±1/√fan_in` (a matrix `[R, C]` uses `C`, a vector `[N]` uses `N`, a scalar 1), inputs,
/// initial state and readouts uniform in `[-1, 1]`. Hyper-parameters are kept from `cell`.
pub fn problem<C: Cell<f64> + std::fmt::Debug + 'static>(
    cell: C,
    max_batch: usize,
    max_steps: usize,
) -> impl Strategy<Value = Problem<f64, C>> {
    (1..=max_batch.max(1), 1..=max_steps.max(1)).prop_flat_map(move |(batch, steps)| {
        let cell = cell.clone();
        let params = cell.param_count();
        let inputs: usize = (0..C::Input::NAMES.len())
            .map(|k| cell.input_rows(k))
            .sum::<usize>()
            * batch
            * steps;
        let state: usize = (0..C::State::NAMES.len())
            .map(|k| cell.state_rows(k))
            .sum::<usize>()
            * batch;
        let total = params + inputs + state + state * steps;
        proptest::collection::vec(-1.0..=1.0_f64, total)
            .prop_map(move |values| build(&cell, batch, steps, &values))
    })
}

fn build<C: Cell<f64>>(cell: &C, batch: usize, steps: usize, values: &[f64]) -> Problem<f64, C> {
    let mut next = values.iter().copied();
    let mut draw = move || next.next().unwrap_or(0.0);
    let mut cell = cell.clone();
    cell.visit_mut(|_, shape, data| {
        let fan_in = match shape {
            [_, cols] => *cols,
            [len] => *len,
            _ => 1,
        };
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        data.iter_mut().for_each(|v| *v = bound * draw());
    });
    let mut matrix = |rows: usize| DMatrix::from_fn(rows, batch, |_, _| draw());
    let inputs = (0..steps)
        .map(|_| C::Input::from_fn(|k| matrix(cell.input_rows(k))))
        .collect();
    let initial = C::State::from_fn(|k| matrix(cell.state_rows(k)));
    let readout = (0..steps)
        .map(|_| C::State::from_fn(|k| matrix(cell.state_rows(k))))
        .collect();
    Problem {
        cell,
        initial,
        inputs,
        readout,
    }
}
