//! One-to-many: a fixed context vector fed as the input of every step (an image caption model's
//! image features, the `x` of Goodfellow et al. figure 10.9).
//!
//! The context's projection (`W_ih x + b` and the like) is computed once and read by every
//! step; backward sums the steps' projection adjoints and differentiates the projection once.

use crate::seq::{self, Trajectory};
use crate::{Cell, Error, Scalar};
use nalgebra::DMatrix;

/// The forward pass of [`one_to_many`], kept for [`one_to_many_backward`].
#[derive(Clone, Debug)]
pub struct ContextTrajectory<T: Scalar, C: Cell<T>> {
    trajectory: Trajectory<T, C>,
}

impl<T: Scalar, C: Cell<T>> ContextTrajectory<T, C> {
    /// `states()[0]` is the initial state, `states()[t]` the state after step `t`.
    pub fn states(&self) -> &[C::State] {
        self.trajectory.states()
    }

    /// The output state after step `t`, for `t` in `1..=T`.
    pub fn output(&self, t: usize) -> Option<&DMatrix<T>> {
        self.trajectory.output(t)
    }

    /// The final state.
    pub fn last_state(&self) -> &C::State {
        self.trajectory.last_state()
    }

    /// The number of steps `T`.
    pub fn len(&self) -> usize {
        self.trajectory.len()
    }

    /// Never true: [`one_to_many`] refuses zero steps.
    pub fn is_empty(&self) -> bool {
        self.trajectory.is_empty()
    }
}

/// Gradients of [`one_to_many_backward`].
#[derive(Clone, Debug)]
pub struct ContextGrad<T: Scalar, C: Cell<T>> {
    /// ∂L/∂θ.
    pub params: C::Grad,
    /// ∂L/∂(context), through every step.
    pub context: C::Input,
    /// ∂L/∂s_0.
    pub initial_state: C::State,
}

/// Runs `steps ≥ 1` steps from `initial`, the input of every step being `context` (all of the
/// cell's inputs, `rows × B`).
pub fn one_to_many<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    context: &C::Input,
    steps: usize,
) -> Result<ContextTrajectory<T, C>, Error> {
    Ok(ContextTrajectory {
        trajectory: seq::unroll_shared(cell, initial, context, steps)?,
    })
}

/// The backward of [`one_to_many`]: `d_states[t]` is the explicit `∂L/∂s_{t+1}` (as for
/// [`seq::bptt`]).
pub fn one_to_many_backward<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &ContextTrajectory<T, C>,
    d_states: &[C::State],
) -> Result<ContextGrad<T, C>, Error> {
    let grads = seq::bptt_shared(cell, &trajectory.trajectory, d_states)?;
    Ok(ContextGrad {
        params: grads.params,
        context: grads.input,
        initial_state: grads.initial_state,
    })
}
