//! Sequence drivers: unrolling a cell over time and backpropagation through time.
//!
//! # The equations
//! With states `s_t = f(s_{t-1}, x_t; θ)` for `t = 1..T` and a loss `L` that reads any of the
//! states, write `ḡ_t = ∂L/∂s_t` for the *explicit* dependence of the loss on `s_t` (what the
//! caller passes as `d_states[t-1]`). Full BPTT runs the adjoint recurrence backwards:
//!
//! ```text
//! δ_T = ḡ_T,   δ_{t-1} = ḡ_{t-1} + (∂s_t/∂s_{t-1})ᵀ δ_t,   ∂L/∂s_0 = (∂s_1/∂s_0)ᵀ δ_1
//! ∂L/∂θ = Σ_t (∂⁺s_t/∂θ)ᵀ δ_t,     ∂L/∂x_t = (∂s_t/∂x_t)ᵀ δ_t
//! ```
//!
//! where `∂⁺` is the immediate partial with `s_{t-1}` held fixed. Each `(∂s_t/∂·)ᵀ δ_t` is one
//! call of the generated [`Cell::step_backward_into`]. The state-independent projection of all steps
//! is computed by one [`Cell::project`] call before the loop and differentiated by one
//! [`Cell::project_backward`] call after it.
//!
//! # Step numbering
//! Steps are numbered from 1 in these docs and in every error message of every driver: step `t`
//! reads `inputs[t − 1]` and produces `states()[t]`; `states()[0]` is the initial state, and
//! `d_states[t − 1]` is the adjoint given for step `t`.
//!
//! # Records
//! The forward records ([`Trajectory`] here, and the drivers' and layers' runs) keep what their
//! backward pass reads in private fields, read through accessors, so they cannot be edited into
//! an inconsistent state. A record handed to the backward pass of another object is checked
//! against it: a trajectory made by a cell of other dimensions, a run of a layer with other
//! directions or of a stack of other layers is an [`Error`] naming both sides.
//!
//! # Memory
//! A [`Trajectory`] keeps, per step, the new state, the step's input and the cell's cache
//! ([`Cell::cache_len`] numbers: what the backward step reads besides the old and new states,
//! which it takes from the trajectory rather than keeping twice), plus the cache and state
//! structs: memory is linear in `T`, and the loops are iterative (no stack growth at any `T`;
//! `T = 100 000` is a test). Measured with a counting allocator at `H = 32, I = 16, B = 1` in
//! f64 (`rnn-core/tests/long_sequence.rs`, which asserts these to the byte):
//!
//! | cell | cache (numbers) | bytes per step |
//! |---|---|---|
//! | `Elman` | 0 (`h_t` is the new state) | 448 |
//! | `Gru` | 5·H·B (`r`, `z`, `1 − z`, `n`, `W_hn h + b_hn`) | 1928 |
//! | `Lstm` | 5·H·B (`i`, `f`, `g`, `o`, `tanh c_t`) | 2224 |
//!
//! # No allocation in the time loop
//! [`run`], [`unroll`], [`bptt`] (and everything built on them: [`bptt_truncated`], the
//! layers, stacks, bidirectional runs, one-to-many, TBPTT windows) allocate their results and
//! one workspace ([`Cell::workspace`]) before the loop, then step in place
//! ([`Cell::step_into`], [`Cell::step_backward_into`]): the loop itself allocates nothing
//! (`rnn-core/tests/allocations.rs` counts). The backward loop defers the recurrent weight
//! gradients `Σ_t δ_t h_{t-1}ᵀ` into the workspace and forms them as one matrix product per
//! weight after the loop (or per 4096 columns). Every product inside the loop goes through
//! [`crate::gemm`], which packs into stack buffers rather than allocating (the blocked GEMM
//! behind nalgebra allocates a packing buffer per call: it takes only the input projection,
//! once per sequence, outside the loop). One exception remains: the decoder and the packed
//! (variable-length) drivers still use the allocating one-step calls.

use crate::{Cell, Error, ParamSet, Saved, Scalar, Tensors};
use nalgebra::DMatrix;

/// Options of the drivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Check parameters, inputs, the initial state and every state after every step (forward),
    /// and every state adjoint and parameter gradient after every backward step; stop at the
    /// first NaN or infinity with [`Error::NonFinite`] naming the step and the tensor. Off by
    /// default: it reads every number once more.
    pub check_finite: bool,
}

fn first_non_finite<T: Scalar>(data: &[T]) -> Option<usize> {
    data.iter().position(|x| !x.is_finite())
}

fn check_tensors_finite<T: Scalar, X: Tensors<T>>(x: &X, what: impl Fn(&str) -> String) -> Result<(), Error> {
    for (k, name) in X::NAMES.iter().enumerate() {
        if let Some(m) = x.get(k)
            && let Some(i) = first_non_finite(m.as_slice())
        {
            return Err(Error::NonFinite {
                what: format!(
                    "{} (entry {}, {})",
                    what(name),
                    i % m.nrows().max(1),
                    i / m.nrows().max(1)
                ),
            });
        }
    }
    Ok(())
}

fn check_params_finite<T: Scalar, P: ParamSet<T>>(
    params: &P,
    what: impl Fn(&str) -> String,
) -> Result<(), Error> {
    let mut found = None;
    params.visit(|name, _, data| {
        if found.is_none()
            && let Some(i) = first_non_finite(data)
        {
            found = Some(format!("{} (entry {i})", what(name)));
        }
    });
    match found {
        Some(what) => Err(Error::NonFinite { what }),
        None => Ok(()),
    }
}

/// A forward pass kept for backpropagation.
#[derive(Clone, Debug)]
pub struct Trajectory<T: Scalar, C: Cell<T>> {
    /// `states[0]` is the initial state, `states[t]` the state after step `t`; never empty, and
    /// one longer than `caches` (private, so that the invariant holds).
    states: Vec<C::State>,
    caches: Vec<C::Cache>,
    /// Every step's input side by side (`rows × T·B`), or, when `shared`, the one input read by
    /// every step (`rows × B`).
    input: C::Input,
    shared: bool,
    batch: usize,
}

impl<T: Scalar, C: Cell<T>> Trajectory<T, C> {
    /// The number of steps `T`.
    pub fn len(&self) -> usize {
        self.caches.len()
    }

    /// True when no step was taken (never the case for a trajectory from [`unroll`]).
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// The batch size `B`.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The output state (the cell's `output`) after step `t`, for `t` in `1..=T`.
    pub fn output(&self, t: usize) -> Option<&DMatrix<T>> {
        self.states.get(t).and_then(|s| s.get(C::OUTPUT))
    }

    /// The cache of step `t` (in `1..=T`), as the backward step reads it.
    pub fn cache(&self, t: usize) -> Option<&C::Cache> {
        t.checked_sub(1).and_then(|k| self.caches.get(k))
    }

    /// What the backward step of step `t` (in `1..=T`) reads: the states before and after it,
    /// its cache and its columns in the trajectory's projection.
    pub fn saved(&self, t: usize) -> Option<Saved<'_, C::State, C::Cache>> {
        let k = t.checked_sub(1)?;
        Some(Saved {
            state: self.states.get(k)?,
            next: self.states.get(t)?,
            cache: self.caches.get(k)?,
            column: if self.shared { 0 } else { k * self.batch },
        })
    }

    /// `states()[0]` is the initial state, `states()[t]` the state after step `t`
    /// (`T + 1` states).
    pub fn states(&self) -> &[C::State] {
        &self.states
    }

    /// The final state (the initial state is stored too, so there always is one).
    pub fn last_state(&self) -> &C::State {
        let last = self.states.len() - 1;
        &self.states[last]
    }

    /// The states, the final one last (`T + 1` of them), giving up the rest of the record.
    pub fn into_states(self) -> Vec<C::State> {
        self.states
    }

    /// Checks that this trajectory can be differentiated by `cell`: its states and input have
    /// the shapes `cell`'s dimensions call for. A trajectory made by a cell of other
    /// dimensions is an [`Error::Shape`] naming both shapes.
    pub(crate) fn check_for(&self, cell: &C) -> Result<(), Error> {
        for (t, state) in self.states.iter().enumerate() {
            crate::tensors::check_tensors_lazy(
                || match t {
                    0 => format!("initial state of the trajectory given to {}", C::NAME),
                    _ => format!("state after step {t} of the trajectory given to {}", C::NAME),
                },
                state,
                |k| cell.state_rows(k),
                Some(self.batch),
            )?;
        }
        let width = if self.shared {
            self.batch
        } else {
            self.len() * self.batch
        };
        crate::tensors::check_tensors_lazy(
            || format!("input of the trajectory given to {}", C::NAME),
            &self.input,
            |k| cell.input_rows(k),
            Some(width),
        )?;
        Ok(())
    }
}

/// Gradients of a loss through a whole sequence.
#[derive(Clone, Debug)]
pub struct SequenceGrad<T: Scalar, C: Cell<T>> {
    /// ∂L/∂θ for every parameter.
    pub params: C::Grad,
    /// ∂L/∂x_t for every step.
    pub inputs: Vec<C::Input>,
    /// ∂L/∂s_0.
    pub initial_state: C::State,
}

pub(crate) fn hstack<T: Scalar>(blocks: &[&DMatrix<T>], rows: usize) -> DMatrix<T> {
    let cols: usize = blocks.iter().map(|b| b.ncols()).sum();
    let mut data = Vec::with_capacity(rows * cols);
    for b in blocks {
        data.extend_from_slice(b.as_slice());
    }
    DMatrix::from_vec(rows, cols, data)
}

fn columns<T: Scalar>(m: &DMatrix<T>, start: usize, count: usize) -> DMatrix<T> {
    let rows = m.nrows();
    DMatrix::from_column_slice(rows, count, &m.as_slice()[start * rows..(start + count) * rows])
}

pub(crate) fn check_sequence<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
) -> Result<usize, Error> {
    if inputs.is_empty() {
        return Err(Error::EmptySequence {
            what: format!("the input sequence of {}", C::NAME),
        });
    }
    cell.check_params()?;
    let batch = crate::tensors::check_tensors(
        &format!("initial state of {}", C::NAME),
        initial,
        |k| cell.state_rows(k),
        None,
    )?;
    for (t, x) in inputs.iter().enumerate() {
        crate::tensors::check_tensors_lazy(
            || format!("input at step {} of {}", t + 1, C::NAME),
            x,
            |k| cell.input_rows(k),
            Some(batch),
        )?;
    }
    Ok(batch)
}

fn wide_input<T: Scalar, C: Cell<T>>(cell: &C, inputs: &[C::Input]) -> C::Input {
    C::Input::from_fn(|k| {
        let blocks: Vec<&DMatrix<T>> = inputs.iter().filter_map(|x| x.get(k)).collect();
        hstack(&blocks, cell.input_rows(k))
    })
}

/// A trajectory's states (the initial one, then one per step) and caches.
type Storage<T, C> = (Vec<<C as Cell<T>>::State>, Vec<<C as Cell<T>>::Cache>);

/// The states and caches of a trajectory, allocated before the time loop so that the loop
/// allocates nothing.
fn trajectory_storage<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    steps: usize,
    batch: usize,
) -> Result<Storage<T, C>, Error> {
    let what = || format!("steps of a trajectory of {}", C::NAME);
    let mut states = crate::checks::reserve(what, steps.saturating_add(1))?;
    let mut caches = crate::checks::reserve(what, steps)?;
    states.push(initial.clone());
    states.extend((0..steps).map(|_| cell.zero_state(batch)));
    caches.extend((0..steps).map(|_| cell.new_cache(batch)));
    Ok((states, caches))
}

/// Runs the cell over a sequence for inference and returns the state after every step.
pub fn run<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
) -> Result<Vec<C::State>, Error> {
    let batch = check_sequence(cell, initial, inputs)?;
    let projection = cell.project(&wide_input(cell, inputs))?;
    let mut states: Vec<C::State> = (0..inputs.len()).map(|_| cell.zero_state(batch)).collect();
    let mut workspace = cell.workspace(batch, 0);
    for t in 0..inputs.len() {
        let (done, rest) = states.split_at_mut(t);
        let previous = done.last().unwrap_or(initial);
        cell.step_into(
            &projection,
            t * batch,
            previous,
            &mut rest[0],
            None,
            &mut workspace,
        )?;
    }
    Ok(states)
}

/// Runs the cell over a sequence, keeping the caches for [`bptt`].
///
/// `inputs[t]` is the input of step `t + 1`; all matrices share the batch size of `initial`.
pub fn unroll<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
) -> Result<Trajectory<T, C>, Error> {
    unroll_with(cell, initial, inputs, Options::default())
}

/// [`unroll`] with [`Options`].
pub fn unroll_with<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
    options: Options,
) -> Result<Trajectory<T, C>, Error> {
    let batch = check_sequence(cell, initial, inputs)?;
    if options.check_finite {
        check_params_finite(cell, |name| format!("param `{name}` of {}", C::NAME))?;
        check_tensors_finite(initial, |name| format!("initial state `{name}`"))?;
        for (t, x) in inputs.iter().enumerate() {
            check_tensors_finite(x, |name| format!("input `{name}` at step {}", t + 1))?;
        }
    }
    let wide_input = wide_input(cell, inputs);
    let projection = cell.project(&wide_input)?;
    let (mut states, mut caches) = trajectory_storage(cell, initial, inputs.len(), batch)?;
    let mut workspace = cell.workspace(batch, 0);
    for t in 0..inputs.len() {
        let (done, rest) = states.split_at_mut(t + 1);
        let next = &mut rest[0];
        cell.step_into(
            &projection,
            t * batch,
            &done[t],
            next,
            Some(&mut caches[t]),
            &mut workspace,
        )?;
        if options.check_finite {
            check_tensors_finite(next, |name| format!("state `{name}` after step {}", t + 1))?;
        }
    }
    Ok(Trajectory {
        states,
        caches,
        input: wide_input,
        shared: false,
        batch,
    })
}

/// Runs `steps` steps that all read the same `input`: its projection is computed once and
/// read by every step (one-to-many, `crate::drivers::one_to_many`).
pub(crate) fn unroll_shared<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    input: &C::Input,
    steps: usize,
) -> Result<Trajectory<T, C>, Error> {
    if steps == 0 {
        return Err(Error::EmptySequence {
            what: format!("the steps fed a shared input of {}", C::NAME),
        });
    }
    let batch = check_sequence(cell, initial, std::slice::from_ref(input))?;
    let projection = cell.project(input)?;
    let (mut states, mut caches) = trajectory_storage(cell, initial, steps, batch)?;
    let mut workspace = cell.workspace(batch, 0);
    for t in 0..steps {
        let (done, rest) = states.split_at_mut(t + 1);
        cell.step_into(
            &projection,
            0,
            &done[t],
            &mut rest[0],
            Some(&mut caches[t]),
            &mut workspace,
        )?;
    }
    Ok(Trajectory {
        states,
        caches,
        input: input.clone(),
        shared: true,
        batch,
    })
}

/// Full backpropagation through time.
///
/// `d_states[t]` is the explicit partial `∂L/∂s_{t+1}` of the loss with respect to the state
/// after step `t + 1` (all state matrices, e.g. `h` and `c` for an LSTM); use
/// [`Cell::zero_state`] where the loss does not read a step. Returns the gradients with
/// respect to every parameter, every input step and the initial state.
pub fn bptt<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
) -> Result<SequenceGrad<T, C>, Error> {
    backprop(cell, trajectory, d_states, None, Options::default())
}

/// [`bptt`] with [`Options`].
pub fn bptt_with<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
    options: Options,
) -> Result<SequenceGrad<T, C>, Error> {
    backprop(cell, trajectory, d_states, None, options)
}

/// Truncated BPTT, "detach every `k`" (`docs/THEORY.md` P9, variant V2): the sequence is cut into
/// chunks of `k` steps from the start (steps `1..=k`, `k+1..=2k`, ...), the state is carried
/// forward across chunks but the gradient is not carried back across them. Each chunk's
/// gradients are those of full BPTT of that chunk started from its (constant) first state.
/// `k ≥ T` is full BPTT, bit for bit. The initial-state gradient is the first chunk's.
pub fn bptt_truncated<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
    k: usize,
) -> Result<SequenceGrad<T, C>, Error> {
    if k == 0 {
        return Err(Error::Length {
            what: "truncation length k of bptt_truncated".to_owned(),
            expected: 1,
            found: 0,
        });
    }
    backprop(cell, trajectory, d_states, Some(k), Options::default())
}

fn backprop<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
    chunk: Option<usize>,
    options: Options,
) -> Result<SequenceGrad<T, C>, Error> {
    let InputGrad {
        params,
        input: wide_d_input,
        initial_state,
    } = backprop_inputs(cell, trajectory, d_states, chunk, options)?;
    let batch = trajectory.batch;
    let inputs = (0..trajectory.len())
        .map(|t| {
            C::Input::from_fn(|k| {
                wide_d_input
                    .get(k)
                    .map_or_else(|| DMatrix::zeros(0, batch), |m| columns(m, t * batch, batch))
            })
        })
        .collect();
    Ok(SequenceGrad {
        params,
        inputs,
        initial_state,
    })
}

fn fill_zero<T: Scalar, X: Tensors<T>>(x: &mut X) {
    for k in 0..X::NAMES.len() {
        if let Some(m) = x.get_mut(k) {
            m.fill(T::zero());
        }
    }
}

/// Gradients with respect to the parameters, the trajectory's input as it is stored (wide or
/// shared) and the initial state.
pub(crate) struct InputGrad<T: Scalar, C: Cell<T>> {
    pub(crate) params: C::Grad,
    pub(crate) input: C::Input,
    pub(crate) initial_state: C::State,
}

/// The backward of [`unroll_shared`]: parameter gradients, the adjoint of the shared input
/// (the per-step projection adjoints summed, then one `project_backward`) and of the initial
/// state.
pub(crate) fn bptt_shared<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
) -> Result<InputGrad<T, C>, Error> {
    backprop_inputs(cell, trajectory, d_states, None, Options::default())
}

/// BPTT proper: parameter gradients, the adjoint of the trajectory's input (wide, or shared)
/// and of the initial state.
fn backprop_inputs<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
    chunk: Option<usize>,
    options: Options,
) -> Result<InputGrad<T, C>, Error> {
    cell.check_params()?;
    trajectory.check_for(cell)?;
    let steps = trajectory.len();
    if d_states.len() != steps {
        return Err(Error::Length {
            what: format!("state adjoints (one per step) of {}", C::NAME),
            expected: steps,
            found: d_states.len(),
        });
    }
    let batch = trajectory.batch;
    for (t, d) in d_states.iter().enumerate() {
        crate::tensors::check_tensors_lazy(
            || format!("state adjoint at step {} of {}", t + 1, C::NAME),
            d,
            |k| cell.state_rows(k),
            Some(batch),
        )?;
    }
    let mut grad = cell.zero_grad();
    // One column block per step, or one block summed over the steps of a shared input.
    let (width, columns_per_step) = if trajectory.shared {
        (batch, 0)
    } else {
        (steps * batch, batch)
    };
    let mut d_projection_total = C::Projection::from_fn(|k| DMatrix::zeros(cell.projection_rows(k), width));
    let mut carry = cell.zero_state(batch);
    let mut d_prev = cell.zero_state(batch);
    let mut workspace = cell.workspace(batch, crate::__private::deferred_capacity(batch, steps));
    for t in (0..steps).rev() {
        // δ_t = ḡ_t + (carried adjoint), accumulated in place into the owned carry.
        for k in 0..C::State::NAMES.len() {
            if let (Some(target), Some(given)) = (carry.get_mut(k), d_states[t].get(k)) {
                *target += given;
            }
        }
        if options.check_finite {
            check_tensors_finite(&d_states[t], |name| {
                format!("state adjoint `{name}` given for step {}", t + 1)
            })?;
        }
        let saved = Saved {
            state: &trajectory.states[t],
            next: &trajectory.states[t + 1],
            cache: &trajectory.caches[t],
            column: columns_per_step * t,
        };
        cell.step_backward_into(
            saved,
            &carry,
            &mut d_prev,
            &mut d_projection_total,
            &mut grad,
            &mut workspace,
        )?;
        if options.check_finite {
            // The step's weight products are deferred; form them now so the check sees them.
            cell.flush_grad(&mut workspace, &mut grad)?;
            check_params_finite(&grad, |name| {
                format!(
                    "gradient of param `{name}` after the backward step of step {}",
                    t + 1
                )
            })?;
            check_tensors_finite(&d_prev, |name| {
                format!("adjoint of state `{name}` before step {}", t + 1)
            })?;
        }
        // Step t + 1 (1-based) opens a chunk: nothing flows back past it.
        std::mem::swap(&mut carry, &mut d_prev);
        if matches!(chunk, Some(k) if t > 0 && t % k == 0) {
            fill_zero(&mut carry);
        }
    }
    cell.flush_grad(&mut workspace, &mut grad)?;
    let d_input = cell.project_backward(&trajectory.input, &d_projection_total, &mut grad)?;
    if options.check_finite {
        check_params_finite(&grad, |name| {
            format!("gradient of param `{name}` after the input projection")
        })?;
        check_tensors_finite(&d_input, |name| format!("gradient of input `{name}`"))?;
    }
    Ok(InputGrad {
        params: grad,
        input: d_input,
        initial_state: carry,
    })
}
