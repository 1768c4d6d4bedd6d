//! Recurrent neural network cells whose derivatives you can trust.
//!
//! A cell is declared with [`recurrent!`]; the macro writes the forward step and, from the
//! same equations, the reverse-mode backward step, generic over the scalar type.
//!
//! ```
//! use nalgebra::DMatrix;
//! use rnn_core::{Cell, recurrent, seq};
//!
//! recurrent! {
//!     /// A leaky tanh unit with a trainable mixing weight.
//!     pub cell Mine {
//!         input x[I];
//!         state h[H];
//!         param w_hh[H, H], w_hx[H, I], b[H];
//!         hyper leak = 0.5;
//!         step {
//!             let candidate = tanh(w_hh * h + w_hx * x + b);
//!             h = leak * h + (1 - leak) * candidate;
//!         }
//!     }
//! }
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! let cell = Mine::<f64>::init(MineDims { H: 3, I: 2 }, 42)?;
//! let h0 = cell.zero_state(1);
//! let xs: Vec<MineInput<f64>> = (0..5)
//!     .map(|t| MineInput { x: DMatrix::from_element(2, 1, t as f64 * 0.1) })
//!     .collect();
//! let trajectory = seq::unroll(&cell, &h0, &xs)?;
//! // L = sum of the final hidden state: ∂L/∂h_T = 1, nothing on earlier steps.
//! let mut d_states: Vec<MineState<f64>> = (0..5).map(|_| cell.zero_state(1)).collect();
//! d_states[4].h.fill(1.0);
//! let grads = seq::bptt(&cell, &trajectory, &d_states)?;
//! assert_eq!(grads.params.w_hh.shape(), (3, 3));
//! assert_eq!(grads.inputs.len(), 5);
//! # Ok(())
//! # }
//! ```
//!
//! # The DSL
//!
//! ```text
//! recurrent! {
//!     /// docs and attributes pass through to the cell struct
//!     pub cell Name {
//!         input x[I];                        // one or more inputs (vectors), `input x[I], y[J];`
//!         state h[H], c[H];                  // one or more states (vectors)
//!         output h;                          // which state is the output (default: the first)
//!         param w[4 * H, I + H], b[4 * H];   // trainable: matrix, vector, or scalar (`param a;`)
//!         hyper alpha = 0.5;                 // not trained; needs a default; shapes allowed
//!         fn softsign = my_crate::Softsign;  // your element-wise function (see `Activation`)
//!         step {
//!             let [i, f, g, o] = split(w * [x; h] + b);   // equal row blocks
//!             c = sigmoid(f) * c + sigmoid(i) * tanh(g);  // after this line, `c` is the new c
//!             h = sigmoid(o) * tanh(c);
//!         }
//!     }
//! }
//! ```
//!
//! * Dimensions are upper-case names; shapes may use `+` and `*` by a number (`H + I`, `4 * H`).
//!   Shapes are checked symbolically at compile time; the runtime sizes come from the `NameDims`
//!   struct given to the constructor.
//! * `*` is a matrix–vector product when its left side is a matrix, element-wise when both sides
//!   are vectors of the same length, and scaling when one side is a scalar. `+` and `-` are
//!   element-wise; scalars broadcast (`1 - z`). Numbers are scalars.
//! * `[a; b]` stacks vectors; `let [a, b, c] = split(v);` cuts `v` into equal row blocks.
//! * Element-wise functions: `tanh`, `sigmoid`, `relu` (relu′(0) = 0), `identity`, `exp`,
//!   `softplus`, and any type implementing [`Activation`] declared with `fn name = Type;`.
//! * Statements run in order. Every state is assigned exactly once; reading a state before its
//!   assignment gives the old value, after it the new one. Inputs, params and hyper-parameters
//!   cannot be assigned; every param must be used.
//!
//! Every mistake is a compile error on your tokens, saying what to change.
//!
//! # What a cell gets
//! For `pub cell Name`, generic over `T: `[`Scalar`] (f32, f64, `num_dual::Dual64`, ...):
//!
//! * `Name<T>`: the parameters (public fields) and hyper-parameters, with `new(dims)` (zeros),
//!   `init(dims, seed)` (seeded uniform), `from_params(dims, ...)` (shape-checked);
//! * `NameDims` (the sizes), `NameGrad<T>` (gradients, same layout), `NameState<T>`,
//!   `NameInput<T>` (matrices `rows × B`, one column per sequence), `NameProjection<T>` and
//!   `NameCache<T>`;
//! * [`ParamSet`] (visit and flatten parameters by name) and [`Cell`] (the forward step, the
//!   derived backward step, and the state-independent projection the drivers hoist out of the
//!   time loop).
//!
//! The drivers in [`seq`] unroll any cell over a sequence and backpropagate through time;
//! [`drivers`] builds the architectures on them (many-to-one, one-to-many, teacher forcing and
//! free running, encoder–decoder, variable-length batches, truncated BPTT while training),
//! [`layers`] the bidirectional and stacked networks. For training: [`dense`] (readout),
//! [`loss`], [`clip`], [`optim`], [`init`], [`checkpoint`]; [`esn`] fits echo state networks;
//! [`weights`] reads and writes PyTorch-named safetensors files. Under the generated code:
//! [`gemm`], the allocation-free matrix product of the time loop, and [`vmath`], the
//! vectorisable `exp`, `tanh` and sigmoid of the kernels (the feature `exact-math` swaps in the
//! standard library's).

#![forbid(unsafe_code)]

extern crate self as rnn_core;

mod activation;
mod cell;
pub mod cells;
pub mod checkpoint;
mod checks;
pub mod clip;
pub mod dense;
pub mod drivers;
mod error;
pub mod esn;
pub mod gemm;
pub mod init;
pub mod layers;
pub mod loss;
pub mod optim;
mod rng;
mod scalar;
pub mod seq;
mod tensors;
pub mod vmath;
pub mod weights;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use activation::{
    Activation, HardSigmoid, HardTanh, Softsign, exp, identity, relu, round_half_even, sigmoid, softplus,
    tanh,
};
pub use cell::{Cell, Saved};
pub use error::Error;
/// The matrix library of every API (`DMatrix`, `DVector`), re-exported so that a user's crate
/// needs no nalgebra dependency of its own and its version always matches.
pub use nalgebra;
pub use rng::SplitMix64;
pub use rnn_macros::recurrent;
pub use scalar::Scalar;
pub use tensors::{ParamSet, Tensors, check_tensors};
