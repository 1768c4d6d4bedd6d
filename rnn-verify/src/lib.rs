//! Verification of recurrent cells by property (docs/THEORY.md P1–P11).
//!
//! ```
//! use rnn_core::cells::{Elman, ElmanDims};
//! use rnn_verify::{Problem, check_dual, check_finite_differences};
//!
//! let cell = Elman::<f64>::init(ElmanDims { H: 3, I: 2 }, 7).unwrap();
//! let problem = Problem::seeded(cell, 2, 5, 11).unwrap();
//! assert!(check_finite_differences(&problem).unwrap().passed());
//! assert!(check_dual(&problem).unwrap().passed());
//! ```
//!
//! Both checks compare the gradient of the readout loss `L = Σ_t Σ_k ⟨r_{t,k}, s_{t,k}⟩` (every
//! state `k` after every step `t`, random readouts `r`) computed by the generated BPTT with an
//! oracle, for every parameter, every input entry and every initial-state entry:
//!
//! * P2, central finite differences in f64: step `ε_k = 1e-6 · max(1, |θ_k|)`, divided by the
//!   representable difference; pass when `|g_k − D_k| ≤ 1e-5 max(|g_k|, |D_k|) + 1e-7 max(1, ‖g‖∞)`;
//! * P3, forward mode with `num_dual::Dual64` through the same generated forward code (no
//!   step size, pure rounding); pass when `|g_k − d_k| ≤ 1e-11 max(|g_k|, |d_k|) + 1e-12 ‖g‖∞`.
#![forbid(unsafe_code)]

mod gradcheck;
pub mod jacobian;
pub mod plot;
pub mod properties;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod strategies;
pub mod suite;

pub use gradcheck::{
    FlatReader, GradReport, Objective, Problem, Worst, central_difference, check_dual,
    check_finite_differences, check_objective_dual, check_objective_fd,
};
