//! Truncated backpropagation through time while training: TBPTT(k1, k2) of Williams & Peng
//! (1990) and Sutskever (2013). `docs/THEORY.md` P9 states what is exactly true of it.
//!
//! The sequence arrives in chunks of `k1` steps (or is cut so: `inputs.chunks(k1)`). For every
//! chunk, [`TruncatedBptt::window`] runs the last `k2 ≥ k1` steps, the chunk's and up to
//! `k2 − k1` before it, with the *current* parameters, from the state carried before them,
//! which is a constant (detached). The loss of the chunk's steps is backpropagated through the
//! whole window; the caller then updates the parameters and passes the next chunk. The state
//! after the chunk is carried forward. Memory is `O(k2)` whatever the sequence length.
//!
//! * every window is the last `k2` steps (fewer only at the start of the sequence), so a
//!   shorter last chunk re-runs more steps before it;
//! * `k1 = k2 = k` with chunks tiling the sequence is "detach every `k`" (P9 variant V2): the
//!   same gradients as [`seq::bptt_truncated`], chunk by chunk;
//! * one chunk with `k2 ≥ T` is full BPTT, bit for bit (P9 E1);
//! * each window's gradient is, by construction, full BPTT of the window started from its
//!   constant first state (P9 E2), which the tests check against finite differences and dual
//!   numbers.
//!
//! ```
//! use nalgebra::DMatrix;
//! use rnn_core::cells::{Elman, ElmanDims, ElmanInput};
//! use rnn_core::drivers::TruncatedBptt;
//! use rnn_core::optim::{Optimizer, Sgd};
//! use rnn_core::Cell;
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! let mut cell = Elman::<f64>::init(ElmanDims { H: 8, I: 1 }, 1)?;
//! let xs: Vec<ElmanInput<f64>> =
//!     (0..100).map(|t| ElmanInput { x: DMatrix::from_element(1, 1, (t as f64 / 5.0).sin()) }).collect();
//! let (k1, k2) = (10, 25);
//! let mut tbptt = TruncatedBptt::new(&cell, &cell.zero_state(1), k2)?;
//! let mut optimizer = Sgd { learning_rate: 0.01 };
//! for chunk in xs.chunks(k1) {
//!     let window = tbptt.window(&cell, chunk)?;
//!     // L = Σ over the chunk's steps of the first hidden unit.
//!     let d_new: Vec<_> = (0..chunk.len())
//!         .map(|_| {
//!             let mut d = cell.zero_state(1);
//!             d.h[(0, 0)] = 1.0;
//!             d
//!         })
//!         .collect();
//!     let grads = window.backward(&cell, &d_new)?;
//!     optimizer.step(&mut cell, &grads.params)?;
//! }
//! assert_eq!(tbptt.steps(), 100);
//! # Ok(())
//! # }
//! ```
//!
//! [`seq::bptt_truncated`]: crate::seq::bptt_truncated

use crate::seq::{self, SequenceGrad, Trajectory};
use crate::{Cell, Error, Scalar};
use std::collections::VecDeque;

/// The state of a TBPTT(k1, k2) pass: the last `k2` inputs and the states around them.
#[derive(Clone, Debug)]
pub struct TruncatedBptt<T: Scalar, C: Cell<T>> {
    k2: usize,
    /// The most recent inputs, oldest first, at most `k2`.
    inputs: VecDeque<C::Input>,
    /// `states[j]` is the state before `inputs[j]`; one more than `inputs`.
    states: VecDeque<C::State>,
    steps: usize,
}

/// One window of [`TruncatedBptt`]: the chunk's steps and the steps re-run before them
/// (private fields: the trajectory and the counts stay consistent).
#[derive(Clone, Debug)]
pub struct Window<T: Scalar, C: Cell<T>> {
    trajectory: Trajectory<T, C>,
    first_step: usize,
    rerun: usize,
    new: usize,
}

impl<T: Scalar, C: Cell<T>> Window<T, C> {
    /// The forward over the window; its step 1 is absolute step [`Window::first_step`].
    pub fn trajectory(&self) -> &Trajectory<T, C> {
        &self.trajectory
    }

    /// Absolute number (from 1) of the window's first step.
    pub fn first_step(&self) -> usize {
        self.first_step
    }

    /// Steps re-run before the chunk (their loss belongs to earlier chunks).
    pub fn rerun(&self) -> usize {
        self.rerun
    }

    /// Steps of the chunk.
    pub fn new_steps(&self) -> usize {
        self.new
    }

    /// The state after the chunk's step `j` (`0..new_steps()`), for the caller's loss.
    pub fn new_state(&self, j: usize) -> Option<&C::State> {
        (j < self.new)
            .then(|| self.trajectory.states().get(self.rerun + 1 + j))
            .flatten()
    }

    /// BPTT through the window of the loss on the chunk's steps: `d_new[j]` is the explicit
    /// `∂L/∂s` after the chunk's step `j`. The gradient is that of the window started from its
    /// (constant) first state; input gradients cover the whole window.
    pub fn backward(&self, cell: &C, d_new: &[C::State]) -> Result<SequenceGrad<T, C>, Error> {
        if d_new.len() != self.new {
            return Err(Error::Length {
                what: format!("state adjoints of the chunk's steps of {}", C::NAME),
                expected: self.new,
                found: d_new.len(),
            });
        }
        let mut d_states = vec![cell.zero_state(self.trajectory.batch()); self.rerun];
        d_states.extend_from_slice(d_new);
        seq::bptt(cell, &self.trajectory, &d_states)
    }
}

impl<T: Scalar, C: Cell<T>> TruncatedBptt<T, C> {
    /// Starts from `initial`; each window reaches `k2 ≥ 1` steps back (chunk included).
    pub fn new(cell: &C, initial: &C::State, k2: usize) -> Result<Self, Error> {
        if k2 == 0 {
            return Err(Error::OutOfRange {
                what: "k2 of truncated BPTT".into(),
                range: "1..".into(),
                found: "0".into(),
            });
        }
        crate::check_tensors(
            &format!("initial state of {}", C::NAME),
            initial,
            |k| cell.state_rows(k),
            None,
        )?;
        Ok(TruncatedBptt {
            k2,
            // Grown as steps arrive: `k2` may be any count (a huge one is full BPTT).
            inputs: VecDeque::new(),
            states: VecDeque::from([initial.clone()]),
            steps: 0,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The state after the last step taken (carried into the next chunk).
    pub fn state(&self) -> &C::State {
        // `states` is never empty: it starts with the initial state and only grows before
        // it is trimmed from the front.
        &self.states[self.states.len() - 1]
    }

    /// Runs the window ending with `chunk` (`1..=k2` steps, inputs `rows × B`) with the
    /// current parameters of `cell` and carries the state past the chunk.
    pub fn window(&mut self, cell: &C, chunk: &[C::Input]) -> Result<Window<T, C>, Error> {
        if chunk.is_empty() || chunk.len() > self.k2 {
            return Err(Error::OutOfRange {
                what: format!("chunk length of truncated BPTT of {} (k1)", C::NAME),
                range: format!("1..={} (k2)", self.k2),
                found: chunk.len().to_string(),
            });
        }
        let rerun = (self.k2 - chunk.len()).min(self.inputs.len());
        let skip = self.inputs.len() - rerun;
        let mut window_inputs: Vec<C::Input> = self.inputs.iter().skip(skip).cloned().collect();
        window_inputs.extend_from_slice(chunk);
        let trajectory = seq::unroll(cell, &self.states[skip], &window_inputs)?;
        for (j, input) in chunk.iter().enumerate() {
            self.inputs.push_back(input.clone());
            self.states.push_back(trajectory.states()[rerun + 1 + j].clone());
        }
        while self.inputs.len() > self.k2 {
            self.inputs.pop_front();
            self.states.pop_front();
        }
        let first_step = self.steps + 1 - rerun;
        self.steps += chunk.len();
        Ok(Window {
            trajectory,
            first_step,
            rerun,
            new: chunk.len(),
        })
    }
}
