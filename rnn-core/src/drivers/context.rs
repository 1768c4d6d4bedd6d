//! One-to-many: a fixed context vector fed as the input of every step (an image caption model's
//! image features, the `x` of Goodfellow et al. figure 10.9).

use crate::seq::{self, Trajectory};
use crate::{Cell, Error, Scalar, Tensors};
use nalgebra::DMatrix;

/// Gradients of [`one_to_many_backward`].
#[derive(Clone, Debug)]
pub struct ContextGrad<T: Scalar, C: Cell<T>> {
    /// ∂L/∂θ.
    pub params: C::Grad,
    /// ∂L/∂(context): the sum over steps of the input adjoints.
    pub context: C::Input,
    /// ∂L/∂s_0.
    pub initial_state: C::State,
}

/// Runs `steps` steps from `initial`, the input of every step being `context` (all of the
/// cell's inputs, `rows × B`). Returns the trajectory for [`one_to_many_backward`]; its outputs
/// are the generated sequence.
pub fn one_to_many<T: Scalar, C: Cell<T>>(
    cell: &C,
    initial: &C::State,
    context: &C::Input,
    steps: usize,
) -> Result<Trajectory<T, C>, Error> {
    let inputs = vec![context.clone(); steps];
    seq::unroll(cell, initial, &inputs)
}

/// The backward of [`one_to_many`]: `d_states[t]` is the explicit `∂L/∂s_{t+1}` (as for
/// [`seq::bptt`]). The context is shared by every step, so its gradient is the sum of the
/// per-step input gradients.
pub fn one_to_many_backward<T: Scalar, C: Cell<T>>(
    cell: &C,
    trajectory: &Trajectory<T, C>,
    d_states: &[C::State],
) -> Result<ContextGrad<T, C>, Error> {
    let grads = seq::bptt(cell, trajectory, d_states)?;
    let batch = trajectory.batch();
    let context = C::Input::from_fn(|k| {
        let mut sum = DMatrix::zeros(cell.input_rows(k), batch);
        for x in &grads.inputs {
            if let Some(m) = x.get(k) {
                sum += m;
            }
        }
        sum
    });
    Ok(ContextGrad {
        params: grads.params,
        context,
        initial_state: grads.initial_state,
    })
}
