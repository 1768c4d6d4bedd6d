//! Variable-length sequences in one batch, as PyTorch's `pack_padded_sequence`.
//!
//! Column `b` of the batch is a sequence of `lengths[b]` steps; the inputs past its end are
//! padding. The columns are ordered by decreasing length, so at step `t` the sequences still
//! running are a prefix of `n_t` columns, and step `t` runs on those columns only:
//!
//! * padding is never read, neither by the input projection (which packs the valid columns of
//!   all steps side by side, one product for the sequence) nor by any step: a NaN in the padding
//!   changes nothing, bit for bit (a test);
//! * the final state of column `b` is its state after step `lengths[b]` (the initial state if
//!   the length is 0), and its outputs past the end are zero;
//! * backward mirrors it: the adjoint of the final state enters column `b` at its last step,
//!   padded steps get zero input gradients, and adjoints given for padded steps are ignored.

use crate::seq::SequenceGrad;
use crate::{Cell, Error, Saved, Scalar, Tensors};
use nalgebra::DMatrix;

/// A forward pass over variable-length sequences, kept for [`bptt_lengths`] (private fields:
/// what backward reads stays what forward computed).
#[derive(Clone, Debug)]
pub struct PackedTrajectory<T: Scalar, C: Cell<T>> {
    outputs: Vec<DMatrix<T>>,
    final_state: C::State,
    lengths: Vec<usize>,
    /// Columns by decreasing length (stable): packed column `i` is batch column `order[i]`.
    order: Vec<usize>,
    /// `active[t]`: sequences still running at step `t + 1`.
    active: Vec<usize>,
    wide_input: C::Input,
    /// The state before the first step, in packed column order.
    initial: C::State,
    /// The state after each step, of the `active[t]` sequences still running.
    nexts: Vec<C::State>,
    caches: Vec<C::Cache>,
}

impl<T: Scalar, C: Cell<T>> PackedTrajectory<T, C> {
    /// The length of every sequence, in batch order.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The output after each step (one per step given), `rows × B`, zero past each
    /// sequence's end.
    pub fn outputs(&self) -> &[DMatrix<T>] {
        &self.outputs
    }

    /// The state of every sequence after its last step.
    pub fn final_state(&self) -> &C::State {
        &self.final_state
    }
}

fn gather<T: Scalar>(m: &DMatrix<T>, columns: &[usize]) -> DMatrix<T> {
    DMatrix::from_fn(m.nrows(), columns.len(), |r, j| m[(r, columns[j])])
}

fn scatter<T: Scalar>(packed: &DMatrix<T>, columns: &[usize], batch: usize) -> DMatrix<T> {
    let mut out = DMatrix::zeros(packed.nrows(), batch);
    for (j, &b) in columns.iter().enumerate() {
        out.column_mut(b).copy_from(&packed.column(j));
    }
    out
}

fn gather_tensors<T: Scalar, X: Tensors<T>>(x: &X, columns: &[usize]) -> X {
    X::from_fn(|k| {
        x.get(k)
            .map_or_else(|| DMatrix::zeros(0, 0), |m| gather(m, columns))
    })
}

/// The permutation undoing `order`.
fn inverse(order: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; order.len()];
    for (i, &b) in order.iter().enumerate() {
        inverse[b] = i;
    }
    inverse
}

/// The first `n` columns of every matrix.
fn prefix<T: Scalar, X: Tensors<T>>(x: &X, n: usize) -> X {
    X::from_fn(|k| {
        x.get(k)
            .map_or_else(|| DMatrix::zeros(0, 0), |m| m.columns(0, n).into_owned())
    })
}

/// Overwrites the first columns of every matrix of `target` with `source`.
fn set_prefix<T: Scalar, X: Tensors<T>>(target: &mut X, source: &X) {
    for k in 0..X::NAMES.len() {
        if let (Some(t), Some(s)) = (target.get_mut(k), source.get(k)) {
            t.columns_mut(0, s.ncols()).copy_from(s);
        }
    }
}

/// Runs `cell` over a batch of sequences of different lengths: `inputs[t]` holds step `t + 1`
/// of every sequence (`rows × B`), `lengths[b] ≤ inputs.len()` is the length of sequence `b`;
/// what lies past a sequence's end is never read.
pub fn unroll_lengths<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
    lengths: &[usize],
) -> Result<PackedTrajectory<T, C>, Error> {
    let batch = crate::seq::check_sequence(cell, initial, inputs)?;
    if lengths.len() != batch {
        return Err(Error::Length {
            what: format!("sequence lengths (one per batch column) of {}", C::NAME),
            expected: batch,
            found: lengths.len(),
        });
    }
    if let Some((b, &length)) = lengths.iter().enumerate().find(|&(_, &l)| l > inputs.len()) {
        return Err(Error::OutOfRange {
            what: format!("length of sequence {b} of {}", C::NAME),
            range: format!("0..={} (the steps given)", inputs.len()),
            found: length.to_string(),
        });
    }
    let mut order: Vec<usize> = (0..batch).collect();
    order.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
    let steps = lengths.iter().copied().max().unwrap_or(0);
    let active: Vec<usize> = (0..steps)
        .map(|t| lengths.iter().filter(|&&l| l > t).count())
        .collect();
    let packed_inputs: Vec<C::Input> = (0..steps)
        .map(|t| gather_tensors(&inputs[t], &order[..active[t]]))
        .collect();
    let wide_input = C::Input::from_fn(|k| {
        let blocks: Vec<&DMatrix<T>> = packed_inputs.iter().filter_map(|x| x.get(k)).collect();
        crate::seq::hstack(&blocks, cell.input_rows(k))
    });
    // No step runs when every length is 0; the projection of no column is not computed.
    let projection = if steps > 0 {
        Some(cell.project(&wide_input)?)
    } else {
        None
    };
    let packed_initial = gather_tensors(initial, &order);
    let mut state = packed_initial.clone();
    let mut outputs = Vec::with_capacity(inputs.len());
    let mut nexts = Vec::with_capacity(steps);
    let mut caches = Vec::with_capacity(steps);
    let mut offset = 0;
    for &n in &active {
        let step_projection = C::Projection::from_fn(|k| {
            projection
                .as_ref()
                .and_then(|p| p.get(k))
                .map_or_else(|| DMatrix::zeros(0, n), |m| m.columns(offset, n).into_owned())
        });
        let (next, cache) = cell.step_cached(&step_projection, &prefix(&state, n))?;
        set_prefix(&mut state, &next);
        let output = next
            .get(C::OUTPUT)
            .map_or_else(|| DMatrix::zeros(0, batch), |m| scatter(m, &order[..n], batch));
        outputs.push(output);
        nexts.push(next);
        caches.push(cache);
        offset += n;
    }
    let rows = cell.state_rows(C::OUTPUT);
    outputs.resize(inputs.len(), DMatrix::zeros(rows, batch));
    Ok(PackedTrajectory {
        outputs,
        final_state: gather_tensors(&state, &inverse(&order)),
        lengths: lengths.to_vec(),
        order,
        active,
        wide_input,
        initial: packed_initial,
        nexts,
        caches,
    })
}

/// The backward of [`unroll_lengths`]: `d_states[t]` is the explicit `∂L/∂s_{t+1}` (entries
/// of sequences shorter than `t + 1` are ignored), `d_final` the explicit adjoint of
/// [`PackedTrajectory::final_state`]. Input gradients are zero past each sequence's end.
pub fn bptt_lengths<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &PackedTrajectory<T, C>,
    d_states: &[C::State],
    d_final: &C::State,
) -> Result<SequenceGrad<T, C>, Error> {
    let total_steps = trajectory.outputs.len();
    if d_states.len() != total_steps {
        return Err(Error::Length {
            what: format!("state adjoints (one per step) of {}", C::NAME),
            expected: total_steps,
            found: d_states.len(),
        });
    }
    let batch = trajectory.lengths.len();
    for (t, d) in d_states.iter().enumerate() {
        crate::check_tensors(
            &format!("state adjoint at step {} of {}", t + 1, C::NAME),
            d,
            |k| cell.state_rows(k),
            Some(batch),
        )?;
    }
    crate::check_tensors(
        &format!("final-state adjoint of {}", C::NAME),
        d_final,
        |k| cell.state_rows(k),
        Some(batch),
    )?;
    let order = &trajectory.order;
    let total: usize = trajectory.active.iter().sum();
    let mut grad = cell.zero_grad();
    let mut wide_d_projection = C::Projection::from_fn(|k| DMatrix::zeros(cell.projection_rows(k), total));
    let mut carry = gather_tensors(d_final, order);
    let mut offset = total;
    for (t, &n) in trajectory.active.iter().enumerate().rev() {
        offset -= n;
        let mut d_next = prefix(&carry, n);
        let given = gather_tensors(&d_states[t], &order[..n]);
        for k in 0..C::State::NAMES.len() {
            if let (Some(target), Some(g)) = (d_next.get_mut(k), given.get(k)) {
                *target += g;
            }
        }
        // Lengths do not increase, so the state before step t is a prefix of the one after
        // step t - 1.
        let before = prefix(
            t.checked_sub(1)
                .map_or(&trajectory.initial, |s| &trajectory.nexts[s]),
            n,
        );
        let saved = Saved {
            state: &before,
            next: &trajectory.nexts[t],
            cache: &trajectory.caches[t],
            column: 0,
        };
        let (d_prev, d_projection) = cell.step_backward(saved, &d_next, &mut grad)?;
        set_prefix(&mut carry, &d_prev);
        for k in 0..C::Projection::NAMES.len() {
            if let (Some(wide), Some(d)) = (wide_d_projection.get_mut(k), d_projection.get(k)) {
                wide.columns_mut(offset, n).copy_from(d);
            }
        }
    }
    let wide_d_input = if total > 0 {
        cell.project_backward(&trajectory.wide_input, &wide_d_projection, &mut grad)?
    } else {
        C::Input::from_fn(|k| DMatrix::zeros(cell.input_rows(k), 0))
    };
    let mut inputs = Vec::with_capacity(total_steps);
    let mut offset = 0;
    for t in 0..total_steps {
        let n = trajectory.active.get(t).copied().unwrap_or(0);
        inputs.push(C::Input::from_fn(|k| {
            wide_d_input.get(k).map_or_else(
                || DMatrix::zeros(0, batch),
                |m| scatter(&m.columns(offset, n).into_owned(), &order[..n], batch),
            )
        }));
        offset += n;
    }
    Ok(SequenceGrad {
        params: grad,
        inputs,
        initial_state: gather_tensors(&carry, &inverse(order)),
    })
}
