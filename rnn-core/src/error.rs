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
    /// A value that must be finite is NaN or infinite.
    NonFinite {
        /// Which value.
        what: String,
    },
    /// A weight file lacks a tensor the cell needs.
    MissingKey {
        /// The tensor's name, e.g. `weight_ih_l0`.
        key: String,
    },
    /// A weight file holds a tensor no cell took.
    ExtraKey {
        /// The tensor's name.
        key: String,
    },
    /// Two parameters would be written under one name.
    DuplicateKey {
        /// The tensor's name.
        key: String,
    },
    /// A tensor of a weight file has another shape than the parameter (PyTorch's row-major shape).
    TensorShape {
        /// The tensor's name.
        key: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor of a weight file has an element type the cell cannot take without loss.
    Dtype {
        /// The tensor's name.
        key: String,
        /// What the cell takes.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A weight file is truncated or corrupt.
    Format {
        /// What is wrong with it.
        reason: String,
    },
    /// A workspace or cache was made for other dimensions or another batch size than the
    /// step it is given to (make it with `Cell::workspace` / `Cell::new_cache` of the same
    /// cell, for the same batch).
    Mismatch {
        /// What was given, e.g. "workspace of Lstm".
        what: String,
        /// What the step needs (dimensions and batch).
        expected: String,
        /// What it was made for.
        found: String,
    },
    /// A setting or count lies outside the range it must be in.
    OutOfRange {
        /// What was checked, e.g. "teacher probability".
        what: String,
        /// The allowed range, e.g. "[0, 1]".
        range: String,
        /// The value given.
        found: String,
    },
    /// A size computed from a cell's dimensions is too large to exist: a dimension expression
    /// such as `4 * H` or `H + I` does not fit in `usize`, or a parameter or buffer would take
    /// more than `isize::MAX` bytes, the most one allocation can hold. Returned by the
    /// constructors of a `recurrent!` cell before anything is allocated.
    Overflow {
        /// The cell, e.g. "Lstm".
        cell: &'static str,
        /// What was sized, e.g. "dimension `4 * H`" or "param `w_ih` [4 * H, I]
        /// (8589934592 × 2147483648 entries of 8 bytes)".
        what: String,
        /// The limit it exceeds: "usize::MAX" or "isize::MAX bytes".
        limit: &'static str,
        /// The dimensions given, e.g. "H = 4611686018427387904, I = 1".
        dims: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        reason: String,
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
            Error::NonFinite { what } => write!(f, "the {what} is not finite"),
            Error::MissingKey { key } => write!(f, "the weight file has no tensor `{key}`"),
            Error::ExtraKey { key } => write!(f, "the weight file holds `{key}`, which no parameter takes"),
            Error::DuplicateKey { key } => write!(f, "two parameters would be written as `{key}`"),
            Error::TensorShape { key, expected, found } => write!(
                f,
                "tensor `{key}` has shape {found:?}, the parameter needs {expected:?}"
            ),
            Error::Dtype { key, expected, found } => {
                write!(f, "tensor `{key}` holds {found}, the cell takes {expected}")
            }
            Error::Format { reason } => write!(f, "malformed weight file: {reason}"),
            Error::Mismatch {
                what,
                expected,
                found,
            } => {
                write!(
                    f,
                    "the {what} was made for {found}, but this step needs {expected}"
                )
            }
            Error::OutOfRange { what, range, found } => {
                write!(f, "{what} is {found}, outside its range {range}")
            }
            Error::Overflow {
                cell,
                what,
                limit,
                dims,
            } => write!(f, "{what} of {cell} exceeds {limit} with {dims}"),
            Error::Io { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
