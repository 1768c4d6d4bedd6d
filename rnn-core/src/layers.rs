//! Bidirectional and stacked (deep) recurrent networks over any single-input [`Cell`], laid out
//! as PyTorch's `nn.RNN`/`nn.LSTM`/`nn.GRU` with `num_layers` and `bidirectional`:
//!
//! * a [`Layer`] has one direction, or two: the forward one reads `t = 1..T`, the reverse one
//!   `t = T..1` with its own parameters and initial state; the layer's output at `t` is
//!   `[h_fwd,t; h_rev,t]` (forward features first);
//! * a [`Stack`] feeds each layer's output sequence to the next; layer `k > 0` has input size
//!   `D·H`.
//!
//! Backward through a stack is BPTT through each direction of each layer, last layer first, the
//! input adjoints of layer `k` becoming the output adjoints of layer `k − 1`.
//!
//! A [`Stack`] holds layers of one cell type. Layers of different cells compose by hand, a
//! forward and a backward call per layer:
//!
//! ```
//! use nalgebra::DMatrix;
//! use rnn_core::cells::{Gru, GruDims, Lstm, LstmDims};
//! use rnn_core::layers::{Direction, Layer};
//! use rnn_core::Cell;
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! // An LSTM layer (input 3, hidden 4) under a bidirectional GRU layer (input 4, hidden 2).
//! let lstm = Layer { directions: vec![Direction::new(Lstm::<f64>::init(LstmDims { H: 4, I: 3 }, 1)?, false)] };
//! let gru = Layer {
//!     directions: vec![
//!         Direction::new(Gru::<f64>::init(GruDims { H: 2, I: 4 }, 2)?, false),
//!         Direction::new(Gru::<f64>::init(GruDims { H: 2, I: 4 }, 3)?, true),
//!     ],
//! };
//! let xs = vec![DMatrix::from_element(3, 1, 0.5); 6];
//! let first = lstm.forward(&xs, &[lstm.directions[0].cell.zero_state(1)])?;
//! let zero = gru.directions[0].cell.zero_state(1);
//! let second = gru.forward(first.outputs(), &[zero.clone(), zero.clone()])?;
//! assert_eq!(second.outputs()[0].shape(), (4, 1));
//! // L = Σ_t Σ outputs: ∂L/∂output = 1; nothing on the final states.
//! let ones = vec![DMatrix::from_element(4, 1, 1.0); 6];
//! let g2 = gru.backward(&second, &ones, &[zero.clone(), zero])?;
//! let g1 = lstm.backward(&first, &g2.inputs, &[lstm.directions[0].cell.zero_state(1)])?;
//! assert_eq!(g1.inputs.len(), 6);
//! # Ok(())
//! # }
//! ```

use crate::seq::{self, Trajectory};
use crate::{Cell, Error, Scalar, Tensors};
use nalgebra::DMatrix;

/// One direction of one layer.
#[derive(Clone, Debug)]
pub struct Direction<T: Scalar, C: Cell<T>> {
    /// The cell.
    pub cell: C,
    /// Processes the sequence from the last step to the first.
    pub reverse: bool,
    marker: std::marker::PhantomData<T>,
}

/// The forward pass of a direction, kept for [`Direction::backward`]. Its fields are private so
/// that what backward reads stays consistent with what forward computed.
#[derive(Clone, Debug)]
pub struct DirectionRun<T: Scalar, C: Cell<T>> {
    outputs: Vec<DMatrix<T>>,
    reverse: bool,
    trajectory: Trajectory<T, C>,
}

impl<T: Scalar, C: Cell<T>> DirectionRun<T, C> {
    /// The outputs, in time order.
    pub fn outputs(&self) -> &[DMatrix<T>] {
        &self.outputs
    }

    /// The state after the last *processed* step (step 1 for a reverse direction).
    pub fn final_state(&self) -> &C::State {
        self.trajectory.last_state()
    }
}

fn direction_name(reverse: bool) -> String {
    if reverse {
        "a reverse direction"
    } else {
        "a forward direction"
    }
    .to_owned()
}

/// Gradients of one direction.
#[derive(Clone, Debug)]
pub struct DirectionGrad<T: Scalar, C: Cell<T>> {
    /// ∂L/∂x_t, in time order.
    pub inputs: Vec<DMatrix<T>>,
    /// ∂L/∂θ of the cell.
    pub params: C::Grad,
    /// ∂L/∂(initial state).
    pub initial_state: C::State,
}

impl<T: Scalar, C: Cell<T>> Direction<T, C> {
    /// A direction around `cell`.
    pub fn new(cell: C, reverse: bool) -> Self {
        Direction {
            cell,
            reverse,
            marker: std::marker::PhantomData,
        }
    }

    fn order(&self, steps: usize) -> Vec<usize> {
        if self.reverse {
            (0..steps).rev().collect()
        } else {
            (0..steps).collect()
        }
    }

    /// Runs over `xs` (in time order; the cell's single input). A cell with several inputs is
    /// an [`Error::Length`].
    pub fn forward(&self, xs: &[DMatrix<T>], initial: &C::State) -> Result<DirectionRun<T, C>, Error> {
        crate::drivers::check_single_input::<T, C>("a layer")?;
        let order = self.order(xs.len());
        let inputs: Vec<C::Input> = order
            .iter()
            .map(|&t| C::Input::from_fn(|_| xs[t].clone()))
            .collect();
        let trajectory = seq::unroll(&self.cell, initial, &inputs)?;
        let mut outputs = vec![DMatrix::zeros(0, 0); xs.len()];
        for (j, &t) in order.iter().enumerate() {
            outputs[t] = trajectory
                .output(j + 1)
                .cloned()
                .unwrap_or_else(|| DMatrix::zeros(0, 0));
        }
        Ok(DirectionRun {
            outputs,
            reverse: self.reverse,
            trajectory,
        })
    }

    /// The backward pass: `d_outputs` in time order, `d_final` on the final state.
    pub fn backward(
        &self,
        run: &DirectionRun<T, C>,
        d_outputs: &[DMatrix<T>],
        d_final: &C::State,
    ) -> Result<DirectionGrad<T, C>, Error> {
        crate::drivers::check_single_input::<T, C>("a layer")?;
        if run.reverse != self.reverse {
            return Err(Error::Mismatch {
                what: format!("run of a direction of {}", C::NAME),
                expected: direction_name(self.reverse),
                found: direction_name(run.reverse),
            });
        }
        let steps = run.trajectory.len();
        if d_outputs.len() != steps {
            return Err(Error::Length {
                what: "output adjoints of a direction".into(),
                expected: steps,
                found: d_outputs.len(),
            });
        }
        let order = self.order(steps);
        let batch = run.trajectory.batch();
        let mut d_states: Vec<C::State> = Vec::with_capacity(steps);
        for &t in &order {
            let mut d = self.cell.zero_state(batch);
            if let Some(m) = d.get_mut(C::OUTPUT) {
                if m.shape() != d_outputs[t].shape() {
                    return Err(Error::Shape {
                        what: format!("output adjoint at step {}", t + 1),
                        expected: m.shape(),
                        found: d_outputs[t].shape(),
                    });
                }
                *m += &d_outputs[t];
            }
            d_states.push(d);
        }
        if let Some(last) = d_states.last_mut() {
            for k in 0..C::State::NAMES.len() {
                if let (Some(m), Some(f)) = (last.get_mut(k), d_final.get(k)) {
                    if m.shape() != f.shape() {
                        return Err(Error::Shape {
                            what: format!("final-state adjoint `{}`", C::State::NAMES[k]),
                            expected: m.shape(),
                            found: f.shape(),
                        });
                    }
                    *m += f;
                }
            }
        }
        let grads = seq::bptt(&self.cell, &run.trajectory, &d_states)?;
        let mut d_xs = vec![DMatrix::zeros(0, 0); steps];
        for (j, &t) in order.iter().enumerate() {
            d_xs[t] = grads.inputs[j]
                .get(0)
                .cloned()
                .unwrap_or_else(|| DMatrix::zeros(0, 0));
        }
        Ok(DirectionGrad {
            inputs: d_xs,
            params: grads.params,
            initial_state: grads.initial_state,
        })
    }
}

/// One layer: a forward direction and optionally a reverse one.
#[derive(Clone, Debug)]
pub struct Layer<T: Scalar, C: Cell<T>> {
    /// The directions, forward first.
    pub directions: Vec<Direction<T, C>>,
}

/// The forward pass of a [`Layer`], kept for [`Layer::backward`] (private fields: what
/// backward reads stays what forward computed).
#[derive(Clone, Debug)]
pub struct LayerRun<T: Scalar, C: Cell<T>> {
    outputs: Vec<DMatrix<T>>,
    runs: Vec<DirectionRun<T, C>>,
}

impl<T: Scalar, C: Cell<T>> LayerRun<T, C> {
    /// The layer's outputs, `D·H × B` per step (forward direction's rows first), in time order.
    pub fn outputs(&self) -> &[DMatrix<T>] {
        &self.outputs
    }

    /// Final states, one per direction.
    pub fn finals(&self) -> impl ExactSizeIterator<Item = &C::State> {
        self.runs.iter().map(DirectionRun::final_state)
    }

    /// Each direction's run, forward first.
    pub fn directions(&self) -> &[DirectionRun<T, C>] {
        &self.runs
    }
}

fn check_direction_count<T: Scalar, C: Cell<T>>(layer: &Layer<T, C>) -> Result<(), Error> {
    if layer.directions.is_empty() {
        return Err(Error::OutOfRange {
            what: format!("the number of directions of a layer of {}", C::NAME),
            range: "1 or more".to_owned(),
            found: "0".to_owned(),
        });
    }
    Ok(())
}

/// Gradients of a [`Layer`].
#[derive(Clone, Debug)]
pub struct LayerGrad<T: Scalar, C: Cell<T>> {
    /// Per direction.
    pub directions: Vec<DirectionGrad<T, C>>,
    /// ∂L/∂x_t of the layer's inputs, in time order.
    pub inputs: Vec<DMatrix<T>>,
}

impl<T: Scalar, C: Cell<T>> Layer<T, C> {
    /// Runs every direction over `xs` from `initial` (one state per direction) and stacks their
    /// outputs. Layers of *different* cells compose by feeding one layer's
    /// [`LayerRun::outputs`] to the next and passing the input adjoints back (see the module
    /// docs); [`Stack`] does it for layers of one cell type.
    pub fn forward(&self, xs: &[DMatrix<T>], initial: &[C::State]) -> Result<LayerRun<T, C>, Error> {
        check_direction_count(self)?;
        if initial.len() != self.directions.len() {
            return Err(Error::Length {
                what: format!("initial states of a layer of {} (one per direction)", C::NAME),
                expected: self.directions.len(),
                found: initial.len(),
            });
        }
        let runs = self
            .directions
            .iter()
            .zip(initial)
            .map(|(direction, initial)| direction.forward(xs, initial))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = (0..xs.len())
            .map(|t| stack_rows(&runs.iter().map(|r| &r.outputs[t]).collect::<Vec<_>>()))
            .collect();
        Ok(LayerRun { outputs, runs })
    }

    /// The backward pass: `d_outputs` on the layer's outputs (time order), `d_finals` on its
    /// final states (one per direction).
    pub fn backward(
        &self,
        run: &LayerRun<T, C>,
        d_outputs: &[DMatrix<T>],
        d_finals: &[C::State],
    ) -> Result<LayerGrad<T, C>, Error> {
        check_direction_count(self)?;
        if run.runs.len() != self.directions.len() {
            return Err(Error::Length {
                what: format!("directions of the layer run given to a layer of {}", C::NAME),
                expected: self.directions.len(),
                found: run.runs.len(),
            });
        }
        if d_finals.len() != run.runs.len() {
            return Err(Error::Length {
                what: format!(
                    "final-state adjoints of a layer of {} (one per direction)",
                    C::NAME
                ),
                expected: run.runs.len(),
                found: d_finals.len(),
            });
        }
        if d_outputs.len() != run.outputs.len() {
            return Err(Error::Length {
                what: "output adjoints (one per step)".into(),
                expected: run.outputs.len(),
                found: d_outputs.len(),
            });
        }
        for (t, (d, out)) in d_outputs.iter().zip(&run.outputs).enumerate() {
            if d.shape() != out.shape() {
                return Err(Error::Shape {
                    what: format!("output adjoint at step {}", t + 1),
                    expected: out.shape(),
                    found: d.shape(),
                });
            }
        }
        let mut inputs: Option<Vec<DMatrix<T>>> = None;
        let mut directions = Vec::with_capacity(run.runs.len());
        let mut offset = 0;
        for ((direction, direction_run), d_final) in self.directions.iter().zip(&run.runs).zip(d_finals) {
            let rows = direction_run.outputs.first().map_or(0, |m| m.nrows());
            let part: Vec<DMatrix<T>> = d_outputs
                .iter()
                .map(|d| d.rows(offset, rows).into_owned())
                .collect();
            offset += rows;
            let grad = direction.backward(direction_run, &part, d_final)?;
            inputs = Some(match inputs {
                None => grad.inputs.clone(),
                Some(acc) => acc.iter().zip(&grad.inputs).map(|(a, b)| a + b).collect(),
            });
            directions.push(grad);
        }
        Ok(LayerGrad {
            directions,
            inputs: inputs.unwrap_or_default(),
        })
    }
}

/// A stack of layers.
#[derive(Clone, Debug)]
pub struct Stack<T: Scalar, C: Cell<T>> {
    /// The layers, input side first.
    pub layers: Vec<Layer<T, C>>,
}

/// The forward pass of a stack, kept for [`Stack::backward`] (private fields: what backward
/// reads stays what forward computed).
#[derive(Clone, Debug)]
pub struct StackRun<T: Scalar, C: Cell<T>> {
    layers: Vec<LayerRun<T, C>>,
}

impl<T: Scalar, C: Cell<T>> StackRun<T, C> {
    /// The last layer's outputs, `D·H × B` per step, in time order.
    pub fn outputs(&self) -> &[DMatrix<T>] {
        // A stack has at least one layer (`Stack::forward` refuses an empty one).
        self.layers.last().map_or(&[], |run| run.outputs())
    }

    /// Final states, layer by layer, direction by direction (PyTorch's `h_n`/`c_n` order).
    pub fn finals(&self) -> impl Iterator<Item = &C::State> {
        self.layers.iter().flat_map(LayerRun::finals)
    }

    /// Each layer's run, input side first.
    pub fn layers(&self) -> &[LayerRun<T, C>] {
        &self.layers
    }
}

/// Gradients of a stack.
#[derive(Clone, Debug)]
pub struct StackGrad<T: Scalar, C: Cell<T>> {
    /// Per layer and direction, in the order of [`StackRun::finals`].
    pub directions: Vec<DirectionGrad<T, C>>,
    /// ∂L/∂x_t of the first layer's inputs, in time order.
    pub inputs: Vec<DMatrix<T>>,
}

fn stack_rows<T: Scalar>(parts: &[&DMatrix<T>]) -> DMatrix<T> {
    let rows: usize = parts.iter().map(|p| p.nrows()).sum();
    let cols = parts.first().map_or(0, |p| p.ncols());
    let mut out = DMatrix::zeros(rows, cols);
    let mut offset = 0;
    for p in parts {
        out.rows_mut(offset, p.nrows()).copy_from(*p);
        offset += p.nrows();
    }
    out
}

impl<T: Scalar, C: Cell<T>> Stack<T, C> {
    /// Runs the stack over `xs` from `initial` states (one per layer and direction, in
    /// [`StackRun::finals`] order).
    pub fn forward(&self, xs: &[DMatrix<T>], initial: &[C::State]) -> Result<StackRun<T, C>, Error> {
        self.check_structure()?;
        let count: usize = self.layers.iter().map(|l| l.directions.len()).sum();
        if initial.len() != count {
            return Err(Error::Length {
                what: "initial states (one per layer and direction)".into(),
                expected: count,
                found: initial.len(),
            });
        }
        let mut layers: Vec<LayerRun<T, C>> = Vec::with_capacity(self.layers.len());
        let mut k = 0;
        for layer in &self.layers {
            let inputs = layers.last().map_or(xs, |run| &run.outputs[..]);
            let run = layer.forward(inputs, &initial[k..k + layer.directions.len()])?;
            k += layer.directions.len();
            layers.push(run);
        }
        Ok(StackRun { layers })
    }

    /// A stack has at least one layer, and each layer at least one direction.
    fn check_structure(&self) -> Result<(), Error> {
        if self.layers.is_empty() {
            return Err(Error::OutOfRange {
                what: format!("the number of layers of a stack of {}", C::NAME),
                range: "1 or more".to_owned(),
                found: "0".to_owned(),
            });
        }
        self.layers.iter().try_for_each(check_direction_count)
    }

    /// The backward pass: `d_outputs` on the last layer's outputs (time order), `d_finals` on the
    /// final states (same order as [`StackRun::finals`]).
    pub fn backward(
        &self,
        run: &StackRun<T, C>,
        d_outputs: &[DMatrix<T>],
        d_finals: &[C::State],
    ) -> Result<StackGrad<T, C>, Error> {
        self.check_structure()?;
        if run.layers.len() != self.layers.len() {
            return Err(Error::Length {
                what: format!("layers of the stack run given to a stack of {}", C::NAME),
                expected: self.layers.len(),
                found: run.layers.len(),
            });
        }
        let count: usize = self.layers.iter().map(|l| l.directions.len()).sum();
        if d_finals.len() != count {
            return Err(Error::Length {
                what: "final-state adjoints (one per layer and direction)".into(),
                expected: count,
                found: d_finals.len(),
            });
        }
        let mut d_sequence = d_outputs.to_vec();
        let mut grads: Vec<Vec<DirectionGrad<T, C>>> = Vec::with_capacity(self.layers.len());
        let mut k_end = count;
        for (layer, layer_run) in self.layers.iter().zip(&run.layers).rev() {
            // Never below 0: the counts of `self` sum to `count`, and `Layer::backward`
            // checks the run's directions against the layer's.
            let k_start = k_end - layer.directions.len();
            let grad = layer.backward(layer_run, &d_sequence, &d_finals[k_start..k_end])?;
            d_sequence = grad.inputs;
            grads.push(grad.directions);
            k_end = k_start;
        }
        Ok(StackGrad {
            directions: grads.into_iter().rev().flatten().collect(),
            inputs: d_sequence,
        })
    }
}
