//! The recurrent architectures of Goodfellow, Bengio & Courville, *Deep Learning*, chapter 10,
//! over any [`Cell`] (built-in or declared with `recurrent!`), each with its exact gradient.
//!
//! ```
//! use nalgebra::DMatrix;
//! use rnn_core::cells::{Gru, GruDims, GruInput};
//! use rnn_core::{Cell, drivers, seq};
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! // Many-to-one: read a sequence, score its last output.
//! let cell = Gru::<f64>::init(GruDims { H: 4, I: 2 }, 7)?;
//! let xs: Vec<GruInput<f64>> =
//!     (0..6).map(|t| GruInput { x: DMatrix::from_element(2, 3, 0.1 * t as f64) }).collect();
//! let trajectory = seq::unroll(&cell, &cell.zero_state(3), &xs)?;
//! // L = Σ of the last output: ∂L/∂h_T = 1.
//! let d_states = drivers::last_output_adjoint(&cell, 6, &DMatrix::from_element(4, 3, 1.0))?;
//! let grads = seq::bptt(&cell, &trajectory, &d_states)?;
//! assert_eq!(grads.inputs.len(), 6);
//! # Ok(())
//! # }
//! ```
//!
//! | architecture | forward | backward |
//! |---|---|---|
//! | many-to-many (an output per step) | [`seq::unroll`] | [`seq::bptt`] with [`output_adjoints`] |
//! | many-to-one (the last output) | [`seq::unroll`] | [`seq::bptt`] with [`last_output_adjoint`] |
//! | one-to-many (a context fed at every step) | [`one_to_many`] | [`one_to_many_backward`] |
//! | output fed back: teacher forcing, free running, scheduled | [`Decoder::forward`] | [`Decoder::backward`] |
//! | encoder–decoder (context = final encoder state) | [`EncoderDecoder::forward`] | [`EncoderDecoder::backward`] |
//! | variable lengths in a batch | [`unroll_lengths`] | [`bptt_lengths`] |
//! | truncated BPTT (k1, k2) while training | [`TruncatedBptt::window`] | [`Window::backward`] |
//! | bidirectional, stacked | [`crate::layers`] | [`crate::layers`] |
//!
//! Every backward follows one convention: the caller passes the *explicit* partial derivatives of
//! its loss with respect to what the forward returned (outputs, states), and gets the gradient
//! with respect to every parameter and every input, through every path the forward took.
//!
//! [`seq::unroll`]: crate::seq::unroll
//! [`seq::bptt`]: crate::seq::bptt

pub mod context;
pub mod decoder;
pub mod packed;
pub mod truncated;

pub use context::{ContextGrad, ContextTrajectory, one_to_many, one_to_many_backward};
pub use decoder::{
    Decoder, DecoderGrad, DecoderRun, EncoderDecoder, EncoderDecoderGrad, EncoderDecoderRun, Feed,
};
pub use packed::{PackedTrajectory, bptt_lengths, unroll_lengths};
pub use truncated::{TruncatedBptt, Window};

use crate::{Cell, Error, Scalar, Tensors};
use nalgebra::DMatrix;

fn output_state<T: Scalar, C: Cell<T>>(
    cell: &C,
    d_output: &DMatrix<T>,
    what: &str,
) -> Result<C::State, Error> {
    let batch = d_output.ncols();
    let expected = (cell.state_rows(C::OUTPUT), batch);
    if d_output.shape() != expected || batch == 0 {
        return Err(Error::Shape {
            what: format!("{what} (output `{}` of {})", C::State::NAMES[C::OUTPUT], C::NAME),
            expected: (expected.0, batch.max(1)),
            found: d_output.shape(),
        });
    }
    let mut state = cell.zero_state(batch);
    if let Some(m) = state.get_mut(C::OUTPUT) {
        m.copy_from(d_output);
    }
    Ok(state)
}

/// Many-to-many: the state adjoints for [`seq::bptt`](crate::seq::bptt) when the loss reads
/// the cell's output at every step, `d_outputs[t] = ∂L/∂(output after step t + 1)`.
pub fn output_adjoints<T: Scalar, C: Cell<T>>(
    cell: &C,
    d_outputs: &[DMatrix<T>],
) -> Result<Vec<C::State>, Error> {
    let batch = d_outputs.first().map_or(0, |d| d.ncols());
    d_outputs
        .iter()
        .enumerate()
        .map(|(t, d)| {
            if d.ncols() != batch {
                return Err(Error::Length {
                    what: format!("batch of the output adjoint at step {}", t + 1),
                    expected: batch,
                    found: d.ncols(),
                });
            }
            output_state(cell, d, &format!("output adjoint at step {}", t + 1))
        })
        .collect()
}

/// Many-to-one: the state adjoints for [`seq::bptt`](crate::seq::bptt) of a `steps`-step
/// sequence when the loss reads only the last output, `d_last = ∂L/∂(output after step T)`.
pub fn last_output_adjoint<T: Scalar, C: Cell<T>>(
    cell: &C,
    steps: usize,
    d_last: &DMatrix<T>,
) -> Result<Vec<C::State>, Error> {
    if steps == 0 {
        return Err(Error::EmptySequence {
            what: format!("the sequence of {}", C::NAME),
        });
    }
    let last = output_state(cell, d_last, "adjoint of the last output")?;
    let mut d_states = crate::checks::reserve(|| format!("steps of the sequence of {}", C::NAME), steps)?;
    d_states.extend((1..steps).map(|_| cell.zero_state(d_last.ncols())));
    d_states.push(last);
    Ok(d_states)
}

/// A cell fed one sequence (by `feeder`: "a decoder", "a layer") must have exactly one input:
/// a cell with several would see the same matrix on each.
pub(crate) fn check_single_input<T: Scalar, C: Cell<T>>(feeder: &str) -> Result<(), Error> {
    if C::Input::NAMES.len() != 1 {
        return Err(Error::Length {
            what: format!("inputs of {} ({feeder} feeds one input)", C::NAME),
            expected: 1,
            found: C::Input::NAMES.len(),
        });
    }
    Ok(())
}

/// The single input matrix of a cell with one input, as that input type.
fn single_input<T: Scalar, C: Cell<T>>(cell: &C, x: &DMatrix<T>, what: &str) -> Result<C::Input, Error> {
    check_single_input::<T, C>(what)?;
    if x.nrows() != cell.input_rows(0) {
        return Err(Error::Shape {
            what: format!("{what} (input `{}` of {})", C::Input::NAMES[0], C::NAME),
            expected: (cell.input_rows(0), x.ncols()),
            found: x.shape(),
        });
    }
    Ok(C::Input::from_fn(|_| x.clone()))
}

/// Converts a state of one cell into a state of another with the same matrices (names in
/// order, shapes), for handing an encoder's final state to a decoder and adjoints back.
fn convert_state<T: Scalar, A: Tensors<T>, B: Tensors<T>>(
    from: &A,
    rows: impl Fn(usize) -> usize,
    what: &str,
) -> Result<B, Error> {
    if A::NAMES.len() != B::NAMES.len() {
        return Err(Error::Length {
            what: format!("{what}: state matrices ({:?} into {:?})", A::NAMES, B::NAMES),
            expected: B::NAMES.len(),
            found: A::NAMES.len(),
        });
    }
    for (k, m) in from.iter().enumerate() {
        if m.nrows() != rows(k) {
            return Err(Error::Shape {
                what: format!("{what}: `{}` into `{}`", A::NAMES[k], B::NAMES[k]),
                expected: (rows(k), m.ncols()),
                found: m.shape(),
            });
        }
    }
    Ok(B::from_fn(|k| {
        from.get(k).cloned().unwrap_or_else(|| DMatrix::zeros(0, 0))
    }))
}
