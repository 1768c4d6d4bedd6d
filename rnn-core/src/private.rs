//! Runtime kernels called by the code `recurrent!` generates. Not a stable API: the macro and
//! this module change together.

use nalgebra::{DMatrix, DMatrixView, DVector};

pub use crate::activation::{exp, identity, relu, sigmoid, softplus, tanh};
pub use crate::tensors::check_tensors;
pub use crate::{Activation, Cell, Error, ParamSet, Scalar, Tensors};
pub use nalgebra;

/// A column-major block of numbers: the batched and unbatched vectors the kernels combine.
pub trait Columns<T> {
    /// Rows.
    fn rows(&self) -> usize;
    /// Columns.
    fn cols(&self) -> usize;
    /// Column-major storage.
    fn data(&self) -> &[T];
}

impl<T: Scalar> Columns<T> for DMatrix<T> {
    fn rows(&self) -> usize {
        self.nrows()
    }
    fn cols(&self) -> usize {
        self.ncols()
    }
    fn data(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Scalar> Columns<T> for DVector<T> {
    fn rows(&self) -> usize {
        self.nrows()
    }
    fn cols(&self) -> usize {
        1
    }
    fn data(&self) -> &[T] {
        self.as_slice()
    }
}

/// A borrowed [`Columns`], so concatenation can take a slice of mixed operands.
pub struct View<'a, T> {
    rows: usize,
    cols: usize,
    data: &'a [T],
}

/// Borrows any [`Columns`] as a [`View`].
pub fn view<T: Scalar, C: Columns<T>>(c: &C) -> View<'_, T> {
    View {
        rows: c.rows(),
        cols: c.cols(),
        data: c.data(),
    }
}

fn as_view<T: Scalar>(c: &impl Columns<T>) -> DMatrixView<'_, T> {
    DMatrixView::from_slice(c.data(), c.rows(), c.cols())
}

/// A DSL literal as `T`.
pub fn lit<T: Scalar>(value: f64) -> T {
    T::of_f64(value)
}

/// `rows × cols` zeros.
pub fn zeros<T: Scalar>(rows: usize, cols: usize) -> DMatrix<T> {
    DMatrix::zeros(rows, cols)
}

/// `W x` for a batch of columns `x`.
pub fn matvec<T: Scalar>(w: &DMatrix<T>, x: &impl Columns<T>) -> DMatrix<T> {
    w * as_view(x)
}

/// `Wᵀ dy`.
pub fn matvec_t<T: Scalar>(w: &DMatrix<T>, dy: &impl Columns<T>) -> DMatrix<T> {
    w.tr_mul(&as_view(dy))
}

/// `dy xᵀ` (summed over the batch columns).
pub fn outer<T: Scalar>(dy: &impl Columns<T>, x: &impl Columns<T>) -> DMatrix<T> {
    as_view(dy) * as_view(x).transpose()
}

/// Element-wise `f(a, b)`; an operand with one column is broadcast across the other's columns.
fn zip<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>, f: impl Fn(T, T) -> T) -> DMatrix<T> {
    let rows = a.rows();
    let cols = a.cols().max(b.cols());
    let (ad, bd) = (a.data(), b.data());
    let (a_step, b_step) = (usize::from(a.cols() > 1) * rows, usize::from(b.cols() > 1) * rows);
    let mut out = Vec::with_capacity(rows * cols);
    for j in 0..cols {
        let ac = &ad[j * a_step..j * a_step + rows];
        let bc = &bd[j * b_step..j * b_step + rows];
        out.extend(ac.iter().zip(bc).map(|(&x, &y)| f(x, y)));
    }
    DMatrix::from_vec(rows, cols, out)
}

/// `a + b`.
pub fn add<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>) -> DMatrix<T> {
    zip(a, b, |x, y| x + y)
}

/// `a - b`.
pub fn sub<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>) -> DMatrix<T> {
    zip(a, b, |x, y| x - y)
}

/// `a ⊙ b`.
pub fn mul<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>) -> DMatrix<T> {
    zip(a, b, |x, y| x * y)
}

/// `f` applied to every entry.
pub fn map<T: Scalar>(a: &impl Columns<T>, f: impl Fn(T) -> T) -> DMatrix<T> {
    DMatrix::from_iterator(a.rows(), a.cols(), a.data().iter().map(|&x| f(x)))
}

/// `f(dy, z)` entry by entry (the backward of an activation).
pub fn map2<T: Scalar>(dy: &impl Columns<T>, z: &impl Columns<T>, f: impl Fn(T, T) -> T) -> DMatrix<T> {
    zip(dy, z, f)
}

/// `v + s` entry by entry.
pub fn add_scalar<T: Scalar>(v: &impl Columns<T>, s: T) -> DMatrix<T> {
    map(v, |x| x + s)
}

/// `s - v` entry by entry.
pub fn scalar_sub<T: Scalar>(s: T, v: &impl Columns<T>) -> DMatrix<T> {
    map(v, |x| s - x)
}

/// `s v`.
pub fn scale<T: Scalar>(s: T, v: &impl Columns<T>) -> DMatrix<T> {
    map(v, |x| s * x)
}

/// `-v`.
pub fn neg<T: Scalar>(v: &impl Columns<T>) -> DMatrix<T> {
    map(v, |x| -x)
}

/// `[a; b; ...]`: rows stacked; one-column parts are broadcast to the batch.
pub fn concat<T: Scalar>(parts: &[View<'_, T>]) -> DMatrix<T> {
    let rows: usize = parts.iter().map(|p| p.rows).sum();
    let cols = parts.iter().map(|p| p.cols).max().unwrap_or(1);
    let mut out = Vec::with_capacity(rows * cols);
    for j in 0..cols {
        for p in parts {
            let c = if p.cols > 1 { j } else { 0 };
            out.extend_from_slice(&p.data[c * p.rows..(c + 1) * p.rows]);
        }
    }
    DMatrix::from_vec(rows, cols, out)
}

/// Rows `offset .. offset + count` of `v`.
pub fn rows<T: Scalar>(v: &impl Columns<T>, offset: usize, count: usize) -> DMatrix<T> {
    as_view(v).rows(offset, count).into_owned()
}

/// Block `index` of `parts` equal row blocks of `v`.
pub fn block<T: Scalar>(v: &impl Columns<T>, index: usize, parts: usize) -> DMatrix<T> {
    let size = v.rows() / parts;
    rows(v, index * size, size)
}

/// `target[block index of parts] += d`.
pub fn block_acc<T: Scalar>(target: &mut DMatrix<T>, index: usize, parts: usize, d: &impl Columns<T>) {
    let size = target.nrows() / parts;
    let mut rows = target.rows_mut(index * size, size);
    rows += as_view(d);
}

/// `target += d`, for matrices and vectors alike (same number of entries).
pub fn acc<T: Scalar>(target: &mut impl AccTarget<T>, d: &impl Columns<T>) {
    for (t, &x) in target.data_mut().iter_mut().zip(d.data()) {
        *t += x;
    }
}

/// Storage a gradient is accumulated into.
pub trait AccTarget<T> {
    /// Column-major storage.
    fn data_mut(&mut self) -> &mut [T];
}

impl<T: Scalar> AccTarget<T> for DMatrix<T> {
    fn data_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Scalar> AccTarget<T> for DVector<T> {
    fn data_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

/// Σ over all entries.
pub fn sum_all<T: Scalar>(v: &impl Columns<T>) -> T {
    v.data().iter().fold(T::zero(), |acc, &x| acc + x)
}

/// Σ over columns: the adjoint of broadcasting a one-column vector across the batch.
pub fn sum_cols<T: Scalar>(v: &impl Columns<T>) -> DMatrix<T> {
    let rows = v.rows();
    let mut out = DMatrix::zeros(rows, 1);
    for column in v.data().chunks(rows.max(1)) {
        for (o, &x) in out.as_mut_slice().iter_mut().zip(column) {
            *o += x;
        }
    }
    out
}

/// Σ a ⊙ b.
pub fn dot<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>) -> T {
    a.data()
        .iter()
        .zip(b.data())
        .fold(T::zero(), |acc, (&x, &y)| acc + x * y)
}

/// dy (1 − y²), with y = tanh(x).
pub fn tanh_back<T: Scalar>(dy: T, y: T) -> T {
    dy * (T::one() - y * y)
}

/// dy y (1 − y), with y = σ(x).
pub fn sigmoid_back<T: Scalar>(dy: T, y: T) -> T {
    dy * y * (T::one() - y)
}

/// `dy · [x > 0]`; the derivative at 0 is taken as 0, as PyTorch does.
pub fn relu_back<T: Scalar>(dy: T, x: T) -> T {
    if x > T::zero() { dy } else { T::zero() }
}

/// dy.
pub fn identity_back<T: Scalar>(dy: T, _x: T) -> T {
    dy
}

/// dy y, with y = eˣ.
pub fn exp_back<T: Scalar>(dy: T, y: T) -> T {
    dy * y
}

/// dy σ(x).
pub fn softplus_back<T: Scalar>(dy: T, x: T) -> T {
    dy * sigmoid(x)
}

/// A user activation's value.
pub fn activation_value<T: Scalar, A: Activation>(x: T) -> T {
    A::value(x)
}

/// dy f′(x) for a user activation.
pub fn activation_back<T: Scalar, A: Activation>(dy: T, x: T) -> T {
    dy * A::derivative(x)
}

/// Checks a parameter's shape against the cell's dimensions.
pub fn check_param(
    cell: &str,
    name: &str,
    dims_text: &str,
    found: (usize, usize),
    expected: (usize, usize),
) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            what: format!("param `{name}` of {cell} ({dims_text})"),
            expected,
            found,
        })
    }
}

/// Seeded uniform initialisation in `[-bound, bound]`.
pub fn uniform<T: Scalar>(rng: &mut crate::SplitMix64, bound: f64) -> T {
    T::of_f64(rng.uniform(-bound, bound))
}

pub use crate::rng::SplitMix64;
