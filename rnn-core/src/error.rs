//! The one error type of the runtime.

use std::fmt;

/// What went wrong, naming both sides of every mismatch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A matrix or vector has the wrong shape. Shapes are `rows × columns`.
    Shape {
        /// What was checked, e.g. "param `w_hh` of Elman (H × H)".
        what: String,
        /// The shape the cell's dimensions call for.
        expected: (usize, usize),
        /// The shape that was given.
        found: (usize, usize),
    },
    /// A count does not match: sequence lengths, batch sizes, flat parameter vectors.
    Length {
        /// What was counted.
        what: String,
        /// The count required.
        expected: usize,
        /// The count given.
        found: usize,
    },
    /// A dimension of a cell is zero; every dimension must be at least 1.
    ZeroDimension {
        /// The cell.
        cell: &'static str,
        /// The dimension's name in the DSL.
        dim: &'static str,
    },
    /// A sequence has no time step.
    EmptySequence {
        /// What was empty.
        what: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape {
                what,
                expected,
                found,
            } => write!(
                f,
                "shape mismatch for {what}: expected {} × {}, found {} × {}",
                expected.0, expected.1, found.0, found.1
            ),
            Error::Length {
                what,
                expected,
                found,
            } => write!(
                f,
                "length mismatch for {what}: expected {expected}, found {found}"
            ),
            Error::ZeroDimension { cell, dim } => {
                write!(
                    f,
                    "dimension `{dim}` of {cell} is 0; every dimension must be at least 1"
                )
            }
            Error::EmptySequence { what } => write!(f, "{what} is empty; a sequence needs at least one step"),
        }
    }
}

impl std::error::Error for Error {}
