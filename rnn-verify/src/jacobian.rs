//! State Jacobians `J_t = ∂s_t/∂s_{t-1}` of any cell, read off its generated backward step.
//!
//! The state `s` is every state matrix of the cell stacked (`h`, then `c`, ...), for one
//! sequence of the batch. Row `i` of `J_t` is `e_iᵀ J_t`, the old-state adjoint that
//! [`Cell::step_backward`] returns for the unit cotangent `e_i` on the new state, so the
//! Jacobians come from the very code under test (they are exact up to rounding, not estimates).

use nalgebra::DMatrix;
use rnn_core::seq::Trajectory;
use rnn_core::{Cell, Error, Tensors};

/// The size of the stacked state.
pub fn state_size<C: Cell<f64>>(cell: &C) -> usize {
    (0..C::State::NAMES.len()).map(|k| cell.state_rows(k)).sum()
}

/// `J_t` for `t = 1..=T` of column `column` of the batch.
pub fn state_jacobians<C: Cell<f64>>(
    cell: &C,
    trajectory: &Trajectory<f64, C>,
    column: usize,
) -> Result<Vec<DMatrix<f64>>, Error> {
    let n = state_size(cell);
    let batch = trajectory.batch();
    if column >= batch {
        return Err(Error::Length {
            what: "batch column of the Jacobian".to_owned(),
            expected: batch,
            found: column,
        });
    }
    let mut jacobians = Vec::with_capacity(trajectory.len());
    for t in 1..=trajectory.len() {
        let saved = trajectory.saved(t).ok_or_else(|| Error::EmptySequence {
            what: "trajectory".to_owned(),
        })?;
        let mut jacobian = DMatrix::zeros(n, n);
        for i in 0..n {
            let mut unit = cell.zero_state(batch);
            set_entry::<C>(cell, &mut unit, i, column, 1.0);
            let mut grad = cell.zero_grad();
            let (d_prev, _) = cell.step_backward(saved, &unit, &mut grad)?;
            for j in 0..n {
                jacobian[(i, j)] = entry::<C>(cell, &d_prev, j, column);
            }
        }
        jacobians.push(jacobian);
    }
    Ok(jacobians)
}

/// Entry `i` of the stacked state, column `column`.
pub fn entry<C: Cell<f64>>(cell: &C, state: &C::State, i: usize, column: usize) -> f64 {
    let (k, row) = locate::<C>(cell, i);
    state.get(k).map_or(0.0, |m| m[(row, column)])
}

fn set_entry<C: Cell<f64>>(cell: &C, state: &mut C::State, i: usize, column: usize, value: f64) {
    let (k, row) = locate::<C>(cell, i);
    if let Some(m) = state.get_mut(k) {
        m[(row, column)] = value;
    }
}

fn locate<C: Cell<f64>>(cell: &C, mut i: usize) -> (usize, usize) {
    for k in 0..C::State::NAMES.len() {
        let rows = cell.state_rows(k);
        if i < rows {
            return (k, i);
        }
        i -= rows;
    }
    (C::State::NAMES.len(), 0)
}
