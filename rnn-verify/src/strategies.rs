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

/// `rows × cols` entries uniform in `[-1, 1]`.
pub fn uniform_matrix(rows: usize, cols: usize) -> impl Strategy<Value = DMatrix<f64>> {
    proptest::collection::vec(-1.0..=1.0_f64, rows * cols).prop_map(move |v| DMatrix::from_vec(rows, cols, v))
}

/// An `n × n` orthogonal matrix: the Q of a QR factorisation of random entries, signs fixed so
/// `R` has a positive diagonal.
pub fn orthogonal(n: usize) -> impl Strategy<Value = DMatrix<f64>> {
    uniform_matrix(n, n).prop_map(move |a| {
        let shifted = a + DMatrix::identity(n, n) * 1e-3;
        let (q, r) = shifted.qr().unpack();
        let signs = nalgebra::DVector::from_fn(n, |i, _| if r[(i, i)] < 0.0 { -1.0 } else { 1.0 });
        q * DMatrix::from_diagonal(&signs)
    })
}

/// An `n × n` matrix with top singular value exactly `sigma` by construction (docs/THEORY.md §0):
/// `sigma · Q1 diag(1, d_2, ..., d_n) Q2ᵀ` with `d_i` in `[0, 1]`.
pub fn with_spectral_norm(n: usize, sigma: f64) -> impl Strategy<Value = DMatrix<f64>> {
    (
        orthogonal(n),
        orthogonal(n),
        proptest::collection::vec(0.0..=1.0_f64, n),
    )
        .prop_map(move |(q1, q2, mut d)| {
            if let Some(first) = d.first_mut() {
                *first = 1.0;
            }
            q1 * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(d)) * q2.transpose() * sigma
        })
}

/// A tanh Elman cell with `w_hh` of spectral norm `sigma`, the other parameters uniform in
/// `±1/√fan_in`.
pub fn tanh_rnn(
    hidden: usize,
    input: usize,
    sigma: f64,
) -> impl Strategy<Value = rnn_core::cells::Elman<f64>> {
    (
        with_spectral_norm(hidden, sigma),
        uniform_matrix(hidden, input),
        uniform_matrix(hidden, 1),
    )
        .prop_map(move |(w_hh, w_hx, b)| {
            let scale = 1.0 / (input as f64).sqrt();
            rnn_core::cells::Elman::from_params(
                rnn_core::cells::ElmanDims { H: hidden, I: input },
                w_hh,
                w_hx * scale,
                nalgebra::DVector::from_column_slice(b.as_slice()) * (1.0 / (hidden as f64).sqrt()),
            )
            .expect("shapes built from the dims")
        })
}

/// A sequence of `steps` inputs of `rows × batch`, entries uniform in `[-1, 1]`.
pub fn input_sequence(rows: usize, batch: usize, steps: usize) -> impl Strategy<Value = Vec<DMatrix<f64>>> {
    proptest::collection::vec(uniform_matrix(rows, batch), steps)
}

/// Log-uniform magnitudes in `[10^low, 10^high]` with random signs.
pub fn log_uniform_vector(len: usize, low: f64, high: f64) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec((low..=high, any::<bool>()), len).prop_map(|v| {
        v.into_iter()
            .map(|(e, negative)| if negative { -(10f64.powf(e)) } else { 10f64.powf(e) })
            .collect()
    })
}
