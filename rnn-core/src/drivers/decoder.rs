//! Output fed back as the next input (Goodfellow et al. §10.2.1): teacher forcing, free running
//! and scheduled sampling (Bengio, Vinyals, Jaitly & Shazeer 2015), and the encoder–decoder of
//! §10.4 whose context is the encoder's final state.
//!
//! A [`Decoder`] is a cell with a single input and a dense readout `y_t = W h_t + b` whose
//! size is the cell's input size. Step 1 reads a given `start`; step `t + 1` reads
//!
//! * the target `targets[t − 1]` (the true `y_t`) under teacher forcing,
//! * its own output `y_t` when free running,
//! * one or the other, drawn per step with a seeded generator, when scheduled.
//!
//! The gradient is the exact derivative of the function computed: through a fed-back output
//! it flows into the readout and the earlier steps (what "backpropagation through the
//! feedback" means); a fed target is an input, and its gradient is reported too. Which steps
//! were teacher-fed is recorded in the run, so backward differentiates the same function.

use super::{convert_state, single_input};
use crate::dense::{Dense, DenseGrad};
use crate::seq::{self, SequenceGrad, Trajectory};
use crate::{Cell, Error, Saved, Scalar, SplitMix64, Tensors};
use nalgebra::DMatrix;

/// What a decoder reads at step `t + 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feed {
    /// The target `y_t` (teacher forcing).
    Teacher,
    /// Its own output `y_t` (free running, as at inference).
    Free,
    /// The target with probability `teacher_probability`, else its own output, drawn per step
    /// from `SplitMix64::new(seed)`: the same seed gives the same choices.
    Scheduled {
        /// In `[0, 1]`.
        teacher_probability: f64,
        /// Seed of the draws.
        seed: u64,
    },
}

/// A cell with one input and a dense readout back to that input's size.
#[derive(Clone, Debug)]
pub struct Decoder<T: Scalar, C: Cell<T>> {
    /// The recurrent cell.
    pub cell: C,
    /// `y_t = W h_t + b`, `W` of `I × H`.
    pub readout: Dense<T>,
}

/// The forward pass of a [`Decoder`], kept for [`Decoder::backward`] (private fields: what
/// backward reads stays what forward computed; `T ≥ 1` steps).
#[derive(Clone, Debug)]
pub struct DecoderRun<T: Scalar, C: Cell<T>> {
    outputs: Vec<DMatrix<T>>,
    teacher_fed: Vec<bool>,
    states: Vec<C::State>,
    inputs: Vec<C::Input>,
    caches: Vec<C::Cache>,
}

impl<T: Scalar, C: Cell<T>> DecoderRun<T, C> {
    /// `y_1 .. y_T`.
    pub fn outputs(&self) -> &[DMatrix<T>] {
        &self.outputs
    }

    /// `teacher_fed()[t]`: step `t + 1` read the target (always false for step 1).
    pub fn teacher_fed(&self) -> &[bool] {
        &self.teacher_fed
    }

    /// `states()[0]` is the initial state, `states()[t]` the state after step `t`.
    pub fn states(&self) -> &[C::State] {
        &self.states
    }
}

/// Gradients of a [`Decoder`].
#[derive(Clone, Debug)]
pub struct DecoderGrad<T: Scalar, C: Cell<T>> {
    /// ∂L/∂θ of the cell.
    pub cell: C::Grad,
    /// ∂L/∂(W, b) of the readout.
    pub readout: DenseGrad<T>,
    /// ∂L/∂s_0.
    pub initial_state: C::State,
    /// ∂L/∂(start).
    pub start: DMatrix<T>,
    /// `∂L/∂targets[t]` through the feed (zero where a target was not fed), one per target.
    pub targets: Vec<DMatrix<T>>,
}

impl<T: Scalar, C: Cell<T>> Decoder<T, C> {
    fn check(&self) -> Result<(), Error> {
        self.cell.check_params()?;
        super::check_single_input::<T, C>("a decoder")?;
        let h = self.cell.state_rows(C::OUTPUT);
        let expected = (self.cell.input_rows(0), h);
        if self.readout.w.shape() != expected {
            return Err(Error::Shape {
                what: format!("decoder readout W (input size × output size of {})", C::NAME),
                expected,
                found: self.readout.w.shape(),
            });
        }
        Ok(())
    }

    /// Runs `targets.len()` steps from `initial`, reading `start` first and then what `feed`
    /// says. `targets` are `I × B`, the true outputs `y_1 .. y_T`; the last one is never fed.
    pub fn forward(
        &self,
        initial: &C::State,
        start: &DMatrix<T>,
        targets: &[DMatrix<T>],
        feed: Feed,
    ) -> Result<DecoderRun<T, C>, Error> {
        self.check()?;
        if targets.is_empty() {
            return Err(Error::EmptySequence {
                what: format!("the targets of a decoder of {}", C::NAME),
            });
        }
        let batch = crate::check_tensors(
            "decoder initial state",
            initial,
            |k| self.cell.state_rows(k),
            None,
        )?;
        let expected = (self.cell.input_rows(0), batch);
        for (t, target) in std::iter::once(start).chain(targets).enumerate() {
            if target.shape() != expected {
                return Err(Error::Shape {
                    what: if t == 0 {
                        "decoder start".to_owned()
                    } else {
                        format!("decoder target at step {t}")
                    },
                    expected,
                    found: target.shape(),
                });
            }
        }
        let teacher_fed = teacher_schedule(feed, targets.len())?;
        let steps = targets.len();
        let mut run = DecoderRun {
            outputs: Vec::with_capacity(steps),
            teacher_fed,
            states: Vec::with_capacity(steps + 1),
            inputs: Vec::with_capacity(steps),
            caches: Vec::with_capacity(steps),
        };
        run.states.push(initial.clone());
        for t in 0..steps {
            let x = match t {
                0 => start,
                _ if run.teacher_fed[t] => &targets[t - 1],
                _ => &run.outputs[t - 1],
            };
            let input = single_input(&self.cell, x, "a decoder")?;
            let projection = self.cell.project(&input)?;
            let (next, cache) = self.cell.step_cached(&projection, &run.states[t])?;
            let y = self.readout.forward(output_of::<T, C>(&next)?)?;
            run.outputs.push(y);
            run.states.push(next);
            run.inputs.push(input);
            run.caches.push(cache);
        }
        Ok(run)
    }

    /// Free-running generation (inference): `steps` outputs from `initial` and `start`.
    pub fn generate(
        &self,
        initial: &C::State,
        start: &DMatrix<T>,
        steps: usize,
    ) -> Result<Vec<DMatrix<T>>, Error> {
        self.check()?;
        let mut state = initial.clone();
        let mut x = start.clone();
        let mut outputs =
            crate::checks::reserve(|| format!("steps generated by a decoder of {}", C::NAME), steps)?;
        for _ in 0..steps {
            state = self
                .cell
                .forward(&state, &single_input(&self.cell, &x, "a decoder")?)?;
            x = self.readout.forward(output_of::<T, C>(&state)?)?;
            outputs.push(x.clone());
        }
        Ok(outputs)
    }

    /// The backward pass: `d_outputs[t] = ∂L/∂y_{t+1}` (explicit, as the loss reads the
    /// outputs) and `d_final = ∂L/∂s_T`.
    pub fn backward(
        &self,
        run: &DecoderRun<T, C>,
        d_outputs: &[DMatrix<T>],
        d_final: &C::State,
    ) -> Result<DecoderGrad<T, C>, Error> {
        self.check()?;
        let steps = run.outputs.len();
        if d_outputs.len() != steps {
            return Err(Error::Length {
                what: "decoder output adjoints (one per step)".into(),
                expected: steps,
                found: d_outputs.len(),
            });
        }
        let batch = run.outputs[0].ncols();
        for (t, (d, y)) in d_outputs.iter().zip(&run.outputs).enumerate() {
            if d.shape() != y.shape() {
                return Err(Error::Shape {
                    what: format!("decoder output adjoint at step {}", t + 1),
                    expected: y.shape(),
                    found: d.shape(),
                });
            }
        }
        crate::check_tensors(
            "decoder final-state adjoint",
            d_final,
            |k| self.cell.state_rows(k),
            Some(batch),
        )?;
        let mut cell_grad = self.cell.zero_grad();
        let mut readout_grad = DenseGrad {
            w: DMatrix::zeros(self.readout.w.nrows(), self.readout.w.ncols()),
            b: nalgebra::DVector::zeros(self.readout.b.len()),
        };
        let zero_input = || DMatrix::zeros(self.cell.input_rows(0), batch);
        let mut d_targets = vec![zero_input(); steps];
        let mut d_start = zero_input();
        let mut carry = d_final.clone();
        // ∂L/∂y_t through the input of step t + 1, when that step read y_t.
        let mut d_fed_back: Option<DMatrix<T>> = None;
        for t in (0..steps).rev() {
            // ∂L/∂y_t: the loss's own, plus what flowed back through step t + 1's input.
            let summed;
            let d_y = match d_fed_back.take() {
                Some(d) => {
                    summed = d + &d_outputs[t];
                    &summed
                }
                None => &d_outputs[t],
            };
            let (g, d_h) = self
                .readout
                .backward(output_of::<T, C>(&run.states[t + 1])?, d_y)?;
            readout_grad.w += g.w;
            readout_grad.b += g.b;
            if let Some(m) = carry.get_mut(C::OUTPUT) {
                *m += d_h;
            }
            let saved = Saved {
                state: &run.states[t],
                next: &run.states[t + 1],
                cache: &run.caches[t],
                column: 0,
            };
            let (d_prev, d_projection) = self.cell.step_backward(saved, &carry, &mut cell_grad)?;
            let d_input = self
                .cell
                .project_backward(&run.inputs[t], &d_projection, &mut cell_grad)?;
            let d_x = d_input.get(0).cloned().unwrap_or_else(zero_input);
            match t {
                0 => d_start = d_x,
                _ if run.teacher_fed[t] => d_targets[t - 1] = d_x,
                _ => d_fed_back = Some(d_x),
            }
            carry = d_prev;
        }
        Ok(DecoderGrad {
            cell: cell_grad,
            readout: readout_grad,
            initial_state: carry,
            start: d_start,
            targets: d_targets,
        })
    }
}

fn output_of<T: Scalar, C: Cell<T>>(state: &C::State) -> Result<&DMatrix<T>, Error> {
    state.get(C::OUTPUT).ok_or_else(|| Error::Length {
        what: format!(
            "state matrices of {} (its output index is {})",
            C::NAME,
            C::OUTPUT
        ),
        expected: C::OUTPUT + 1,
        found: C::State::NAMES.len(),
    })
}

fn teacher_schedule(feed: Feed, steps: usize) -> Result<Vec<bool>, Error> {
    let mut fed = vec![false; steps];
    match feed {
        Feed::Free => {}
        Feed::Teacher => fed.iter_mut().skip(1).for_each(|f| *f = true),
        Feed::Scheduled {
            teacher_probability,
            seed,
        } => {
            if !(0.0..=1.0).contains(&teacher_probability) {
                return Err(Error::OutOfRange {
                    what: "teacher probability of Feed::Scheduled".into(),
                    range: "[0, 1]".into(),
                    found: teacher_probability.to_string(),
                });
            }
            let mut rng = SplitMix64::new(seed);
            for f in fed.iter_mut().skip(1) {
                *f = rng.next_f64() < teacher_probability;
            }
        }
    }
    Ok(fed)
}

/// An encoder over the input sequence whose final state is the decoder's initial state (the
/// context `C` of Goodfellow et al. figure 10.12; Sutskever, Vinyals & Le 2014). The two cells
/// may differ but their states must have the same matrices (e.g. `Lstm` → `Lstm`,
/// `Gru` → `Elman`); a mismatch is an [`Error::Shape`] naming both.
#[derive(Clone, Debug)]
pub struct EncoderDecoder<T: Scalar, E: Cell<T>, D: Cell<T>> {
    /// The encoder.
    pub encoder: E,
    /// The decoder.
    pub decoder: Decoder<T, D>,
}

/// The forward pass of an [`EncoderDecoder`], kept for [`EncoderDecoder::backward`].
#[derive(Clone, Debug)]
pub struct EncoderDecoderRun<T: Scalar, E: Cell<T>, D: Cell<T>> {
    encoder: Trajectory<T, E>,
    decoder: DecoderRun<T, D>,
}

impl<T: Scalar, E: Cell<T>, D: Cell<T>> EncoderDecoderRun<T, E, D> {
    /// The encoder's trajectory.
    pub fn encoder(&self) -> &Trajectory<T, E> {
        &self.encoder
    }

    /// The decoder's run (its outputs are the model's outputs).
    pub fn decoder(&self) -> &DecoderRun<T, D> {
        &self.decoder
    }
}

/// Gradients of an [`EncoderDecoder`].
#[derive(Clone, Debug)]
pub struct EncoderDecoderGrad<T: Scalar, E: Cell<T>, D: Cell<T>> {
    /// The encoder's parameters, inputs and initial state.
    pub encoder: SequenceGrad<T, E>,
    /// The decoder's parameters, readout, start and fed targets (its `initial_state` is the
    /// adjoint of the context).
    pub decoder: DecoderGrad<T, D>,
}

impl<T: Scalar, E: Cell<T>, D: Cell<T>> EncoderDecoder<T, E, D> {
    /// Encodes `inputs` from `initial`, then decodes `targets.len()` steps (see
    /// [`Decoder::forward`]).
    pub fn forward(
        &self,
        initial: &E::State,
        inputs: &[E::Input],
        start: &DMatrix<T>,
        targets: &[DMatrix<T>],
        feed: Feed,
    ) -> Result<EncoderDecoderRun<T, E, D>, Error> {
        let encoder = seq::unroll(&self.encoder, initial, inputs)?;
        let context: D::State = convert_state(
            encoder.last_state(),
            |k| self.decoder.cell.state_rows(k),
            &format!("context from {} to {}", E::NAME, D::NAME),
        )?;
        let decoder = self.decoder.forward(&context, start, targets, feed)?;
        Ok(EncoderDecoderRun { encoder, decoder })
    }

    /// The backward pass from `d_outputs[t] = ∂L/∂y_{t+1}` of the decoder's outputs.
    pub fn backward(
        &self,
        run: &EncoderDecoderRun<T, E, D>,
        d_outputs: &[DMatrix<T>],
    ) -> Result<EncoderDecoderGrad<T, E, D>, Error> {
        let batch = run.encoder.batch();
        let decoder = self
            .decoder
            .backward(&run.decoder, d_outputs, &self.decoder.cell.zero_state(batch))?;
        let d_context: E::State = convert_state(
            &decoder.initial_state,
            |k| self.encoder.state_rows(k),
            &format!("context adjoint from {} to {}", D::NAME, E::NAME),
        )?;
        let mut d_states = vec![self.encoder.zero_state(batch); run.encoder.len()];
        if let Some(last) = d_states.last_mut() {
            *last = d_context;
        }
        let encoder = seq::bptt(&self.encoder, &run.encoder, &d_states)?;
        Ok(EncoderDecoderGrad { encoder, decoder })
    }
}
