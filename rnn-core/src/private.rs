//! Runtime kernels called by the code `recurrent!` generates. Not a stable API: the macro and
//! this module change together.

use crate::gemm::{self, Mat, MatMut};
use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut, DVector, Dyn, MatrixView};
use std::any::TypeId;

pub use crate::activation::{identity, relu, softplus};
pub use crate::tensors::check_tensors;
pub use crate::vmath::{exp, sigmoid, tanh};
pub use crate::{Activation, Cell, Error, ParamSet, Saved, Scalar, Tensors};
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

/// A borrowed block of columns: a step's slice of a wide matrix, or a concatenation operand.
#[derive(Clone, Copy)]
pub struct View<'a, T> {
    rows: usize,
    cols: usize,
    data: &'a [T],
}

impl<T: Scalar> Columns<T> for View<'_, T> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn data(&self) -> &[T] {
        self.data
    }
}

/// A mutable block of columns of a wide matrix (a step's slice of the projection adjoint).
pub struct ViewMut<'a, T> {
    rows: usize,
    cols: usize,
    data: &'a mut [T],
}

impl<T: Scalar> Columns<T> for ViewMut<'_, T> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn data(&self) -> &[T] {
        self.data
    }
}

/// Borrows any [`Columns`] as a [`View`].
pub fn view<T: Scalar, C: Columns<T>>(c: &C) -> View<'_, T> {
    View {
        rows: c.rows(),
        cols: c.cols(),
        data: c.data(),
    }
}

/// Columns `start .. start + count` of `m`. The caller has checked the range.
pub fn columns<T: Scalar>(m: &DMatrix<T>, start: usize, count: usize) -> View<'_, T> {
    let rows = m.nrows();
    View {
        rows,
        cols: count,
        data: &m.as_slice()[start * rows..(start + count) * rows],
    }
}

/// Columns `start .. start + count` of `m`, mutably. The caller has checked the range.
pub fn columns_mut<T: Scalar>(m: &mut DMatrix<T>, start: usize, count: usize) -> ViewMut<'_, T> {
    let rows = m.nrows();
    ViewMut {
        rows,
        cols: count,
        data: &mut m.as_mut_slice()[start * rows..(start + count) * rows],
    }
}

/// A DSL literal as `T`.
pub fn lit<T: Scalar>(value: f64) -> T {
    T::of_f64(value)
}

// The element-wise operations of the generated kernels, as functions rather than closures:
// a closure is one more type per node for the compiler to check, which made long chains
// (`h + h + ... + h`, thousands of terms) slow to compile.

/// `x + y`.
#[inline(always)]
pub fn add<T: Scalar>(x: T, y: T) -> T {
    x + y
}

/// `x - y`.
#[inline(always)]
pub fn sub<T: Scalar>(x: T, y: T) -> T {
    x - y
}

/// `x * y`.
#[inline(always)]
pub fn mul<T: Scalar>(x: T, y: T) -> T {
    x * y
}

/// `-x`.
#[inline(always)]
pub fn neg<T: Scalar>(x: T) -> T {
    -x
}

/// `rows × cols` zeros.
pub fn zeros<T: Scalar>(rows: usize, cols: usize) -> DMatrix<T> {
    DMatrix::zeros(rows, cols)
}

/// Storage a kernel writes into: workspace buffers, states, gradients, projection adjoints.
pub trait Target<T>: Columns<T> {
    /// Column-major storage.
    fn data_mut(&mut self) -> &mut [T];
}

impl<T: Scalar> Target<T> for DMatrix<T> {
    fn data_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Scalar> Target<T> for DVector<T> {
    fn data_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Scalar> Target<T> for ViewMut<'_, T> {
    fn data_mut(&mut self) -> &mut [T] {
        self.data
    }
}

// Every kernel below writes its result into `out`, which the generated code sized once (no
// allocation per step). `ACC = false` overwrites `out`, `ACC = true` adds to it. Operands with
// one column are broadcast across the batch; when `out` has one column and the operands have
// many, the columns are summed into it (the adjoint of a broadcast).

/// The column of a (possibly broadcast) operand read for batch column `j`.
#[inline(always)]
fn column_of<T>(data: &[T], cols: usize, rows: usize, j: usize) -> &[T] {
    let c = if cols > 1 { j } else { 0 };
    &data[c * rows..(c + 1) * rows]
}

/// Runs `f(out column, accumulate, j)` for every batch column `j` of the operation; the flag
/// says whether that column adds (always after the first column of a reduction).
#[inline(always)]
fn for_columns<T, const ACC: bool>(
    out: &mut impl Target<T>,
    cols: usize,
    mut f: impl FnMut(&mut [T], bool, usize),
) {
    let rows = out.rows();
    let reduce = out.cols() == 1;
    let data = out.data_mut();
    for j in 0..cols {
        let c = if reduce { 0 } else { j };
        f(&mut data[c * rows..(c + 1) * rows], ACC || (reduce && j > 0), j);
    }
}

/// `out ← f(a)` entry by entry, compiled for the SIMD width of the machine (run-time
/// dispatch) so that element-wise `f` such as [`crate::vmath`]'s run vectorised.
#[inline]
pub fn map_to<T: Scalar, const ACC: bool>(out: &mut impl Target<T>, a: &impl Columns<T>, f: impl Fn(T) -> T) {
    let (rows, a_cols) = (a.rows(), a.cols());
    let cols = a_cols.max(out.cols());
    let reduce = out.cols() == 1;
    let op = Elementwise::<T, _, ACC>::new(
        out.data_mut(),
        (rows, cols, reduce),
        #[inline(always)]
        |o: &mut [T], add: bool, j: usize| {
            let x = column_of(a.data(), a_cols, rows, j);
            if add {
                o.iter_mut().zip(x).for_each(|(o, &x)| *o += f(x));
            } else {
                o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x));
            }
        },
    );
    pulp::Arch::new().dispatch(op);
}

/// `out ← f(a, b)` entry by entry (vectorised as [`map_to`]).
#[inline]
pub fn zip_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    a: &impl Columns<T>,
    b: &impl Columns<T>,
    f: impl Fn(T, T) -> T,
) {
    let rows = a.rows();
    let (a_cols, b_cols) = (a.cols(), b.cols());
    let cols = a_cols.max(b_cols).max(out.cols());
    let reduce = out.cols() == 1;
    let op = Elementwise::<T, _, ACC>::new(
        out.data_mut(),
        (rows, cols, reduce),
        #[inline(always)]
        |o: &mut [T], add: bool, j: usize| {
            let x = column_of(a.data(), a_cols, rows, j);
            let y = column_of(b.data(), b_cols, rows, j);
            let pairs = o.iter_mut().zip(x.iter().zip(y));
            if add {
                pairs.for_each(|(o, (&x, &y))| *o += f(x, y));
            } else {
                pairs.for_each(|(o, (&x, &y))| *o = f(x, y));
            }
        },
    );
    pulp::Arch::new().dispatch(op);
}

/// An element-wise kernel as a [`pulp::WithSimd`] operation: `f(out column, accumulate, j)`
/// for every batch column `j`, inlined into the function `pulp` compiles for the machine's
/// SIMD width (a closure handed to `dispatch` would be compiled apart, for the baseline).
struct Elementwise<'a, T, F, const ACC: bool> {
    out: &'a mut [T],
    rows: usize,
    cols: usize,
    reduce: bool,
    f: F,
}

impl<'a, T, F: Fn(&mut [T], bool, usize), const ACC: bool> Elementwise<'a, T, F, ACC> {
    /// `out` of `rows` per column, `cols` batch columns, summed into one when `reduce`.
    #[inline(always)]
    fn new(out: &'a mut [T], (rows, cols, reduce): (usize, usize, bool), f: F) -> Self {
        Elementwise {
            out,
            rows,
            cols,
            reduce,
            f,
        }
    }
}

impl<T, F: Fn(&mut [T], bool, usize), const ACC: bool> pulp::WithSimd for Elementwise<'_, T, F, ACC> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let rows = self.rows;
        for j in 0..self.cols {
            let c = if self.reduce { 0 } else { j };
            (self.f)(
                &mut self.out[c * rows..(c + 1) * rows],
                ACC || (self.reduce && j > 0),
                j,
            );
        }
    }
}

/// Σ f(a) over every entry (the adjoint of broadcasting a scalar).
pub fn sum_map<T: Scalar>(a: &impl Columns<T>, f: impl Fn(T) -> T) -> T {
    a.data().iter().fold(T::zero(), |acc, &x| acc + f(x))
}

/// Σ f(a, b) over every entry of the batch (operands may be broadcast).
pub fn sum_zip<T: Scalar>(a: &impl Columns<T>, b: &impl Columns<T>, f: impl Fn(T, T) -> T) -> T {
    let rows = a.rows();
    let cols = a.cols().max(b.cols());
    let mut total = T::zero();
    for j in 0..cols {
        let x = column_of(a.data(), a.cols(), rows, j);
        let y = column_of(b.data(), b.cols(), rows, j);
        total = x.iter().zip(y).fold(total, |acc, (&x, &y)| acc + f(x, y));
    }
    total
}

/// `out` as the result of a product (its shape holds by construction).
fn result_of<T: Scalar>(out: &mut impl Target<T>) -> MatMut<'_, T> {
    let (rows, cols) = (out.rows(), out.cols());
    MatMut::col_major(out.data_mut(), rows, cols).expect("a kernel's output has its storage")
}

/// A column-major operand.
fn operand<T: Scalar>(c: &impl Columns<T>) -> Mat<'_, T> {
    Mat::col_major(c.data(), c.rows(), c.cols()).expect("a kernel's operand has its storage")
}

/// `out ← W x` for a batch of columns `x` (one matrix product, allocation-free: `gemm`).
pub fn matvec_to<T: Scalar, const ACC: bool>(out: &mut impl Target<T>, w: &DMatrix<T>, x: &impl Columns<T>) {
    gemm::product(result_of(out), operand(w), operand(x), ACC);
}

/// `out ← Wᵀ dy` (`W x` has the batching of `x`, so `out` and `dy` have as many columns).
pub fn matvec_t_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    w: &DMatrix<T>,
    dy: &impl Columns<T>,
) {
    gemm::product_tn(result_of(out), operand(w), operand(dy), ACC);
}

/// `out += dy xᵀ`, summed over the columns (the weight gradient of `W x`).
pub fn outer_to<T: Scalar>(out: &mut impl Target<T>, dy: &impl Columns<T>, x: &impl Columns<T>) {
    gemm::product(result_of(out), operand(dy), operand(x).t(), true);
}

/// `out ← W x` once per sequence (the input projection of every step): nalgebra's blocked
/// GEMM, which packs its operands into a buffer it allocates (outside the time loop).
pub fn seq_matvec_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    w: &DMatrix<T>,
    x: &impl Columns<T>,
) {
    let beta = if ACC { T::one() } else { T::zero() };
    as_view_mut(out).gemm(T::one(), w, &as_view(x), beta);
}

/// `out ← Wᵀ dy` once per sequence (the projection's backward), through nalgebra.
pub fn seq_matvec_t_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    w: &DMatrix<T>,
    dy: &impl Columns<T>,
) {
    let beta = if ACC { T::one() } else { T::zero() };
    let (rows, cols) = w.shape();
    let blocked = [rows, cols, dy.cols()].iter().all(|&n| n > NALGEBRA_SMALL_DIM);
    let float = TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>();
    if blocked && float {
        // nalgebra's `gemm_tr` is one matrix–vector product per column, reading `W` once per
        // column; `Wᵀ` as a strided view (no copy) sends the product to the blocked GEMM. Only
        // where nalgebra does send it there (f32/f64, every dimension above its threshold):
        // its column-by-column fallback does not index row-strided views correctly.
        let w_t =
            MatrixView::<T, Dyn, Dyn, Dyn, Dyn>::from_slice_with_strides(w.as_slice(), cols, rows, rows, 1);
        as_view_mut(out).gemm(T::one(), &w_t, &as_view(dy), beta);
    } else {
        as_view_mut(out).gemm_tr(T::one(), w, &as_view(dy), beta);
    }
}

/// nalgebra sends products whose every dimension exceeds this to the blocked GEMM
/// (`matrixmultiply`), and computes the others column by column.
const NALGEBRA_SMALL_DIM: usize = 5;

/// `out += dy xᵀ` once per sequence (a weight gradient of the projection), through nalgebra.
pub fn seq_outer_to<T: Scalar>(out: &mut impl Target<T>, dy: &impl Columns<T>, x: &impl Columns<T>) {
    as_view_mut(out).gemm(T::one(), &as_view(dy), &as_view(x).transpose(), T::one());
}

fn as_view<T: Scalar>(c: &impl Columns<T>) -> DMatrixView<'_, T> {
    DMatrixView::from_slice(c.data(), c.rows(), c.cols())
}

fn as_view_mut<T: Scalar>(t: &mut impl Target<T>) -> DMatrixViewMut<'_, T> {
    let (rows, cols) = (t.rows(), t.cols());
    DMatrixViewMut::from_slice(t.data_mut(), rows, cols)
}

/// Stores one step's `dy` and `x` of a weight product in slot `slot` of the deferred buffers
/// (`dy` as columns of `dys`, `x` as rows of `xs_t`), so that [`flush_outer`] turns all the
/// steps' outer products into one matrix product.
pub fn defer_outer<T: Scalar>(
    dys: &mut DMatrix<T>,
    xs_t: &mut DMatrix<T>,
    slot: usize,
    dy: &impl Columns<T>,
    x: &impl Columns<T>,
) {
    let batch = dy.cols();
    let first = slot * batch;
    let rows = dy.rows();
    dys.as_mut_slice()[first * rows..(first + batch) * rows].copy_from_slice(dy.data());
    let x_rows = x.rows();
    for (j, column) in x.data().chunks(x_rows).enumerate() {
        for (i, &v) in column.iter().enumerate() {
            xs_t[(first + j, i)] = v;
        }
    }
}

/// `out += dys[.., ..columns] · xs_t[..columns, ..]`: the deferred outer products of
/// [`defer_outer`], as one matrix product.
pub fn flush_outer<T: Scalar>(out: &mut impl Target<T>, dys: &DMatrix<T>, xs_t: &DMatrix<T>, columns: usize) {
    if columns > 0 {
        let (rows, cols) = (dys.nrows(), xs_t.ncols());
        let dys = Mat::col_major(&dys.as_slice()[..rows * columns], rows, columns);
        let xs = Mat::strided(xs_t.as_slice(), columns, cols, 1, xs_t.nrows());
        gemm::product(
            result_of(out),
            dys.expect("the deferred buffers hold `columns` columns"),
            xs.expect("the deferred buffers hold `columns` rows"),
            true,
        );
    }
}

/// `out ← [a; b; ...]`: rows stacked; one-column parts are broadcast to the batch.
pub fn concat_to<T: Scalar>(out: &mut impl Target<T>, parts: &[View<'_, T>]) {
    let cols = out.cols();
    let data = out.data_mut();
    let mut at = 0;
    for j in 0..cols {
        for p in parts {
            let x = column_of(p.data, p.cols, p.rows, j);
            data[at..at + p.rows].copy_from_slice(x);
            at += p.rows;
        }
    }
}

/// `out ← rows offset .. offset + out.rows() of source` (a block of a split, or the adjoint
/// of one part of a concatenation).
pub fn rows_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    source: &impl Columns<T>,
    offset: usize,
) {
    let (rows, src_rows, src_cols, src) = (out.rows(), source.rows(), source.cols(), source.data());
    let cols = src_cols.max(out.cols());
    for_columns::<T, ACC>(out, cols, |o, add, j| {
        let x = &column_of(src, src_cols, src_rows, j)[offset..offset + rows];
        if add {
            o.iter_mut().zip(x).for_each(|(o, &x)| *o += x);
        } else {
            o.copy_from_slice(x);
        }
    });
}

/// `out ← block index of source` (rows cut into blocks of `out`'s height: a `split`).
pub fn split_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    source: &impl Columns<T>,
    index: usize,
) {
    let offset = index * out.rows();
    rows_to::<T, ACC>(out, source, offset);
}

/// `out[block index of parts] ← d` (the adjoint of a split); without `ACC`, the other blocks
/// are zeroed.
pub fn block_to<T: Scalar, const ACC: bool>(
    out: &mut impl Target<T>,
    d: &impl Columns<T>,
    index: usize,
    parts: usize,
) {
    let rows = out.rows();
    let size = rows / parts;
    let (d_cols, d_data) = (d.cols(), d.data());
    if !ACC {
        out.data_mut().iter_mut().for_each(|o| *o = T::zero());
    }
    let cols = d_cols.max(out.cols());
    for_columns::<T, true>(out, cols, |o, _, j| {
        let x = column_of(d_data, d_cols, size, j);
        o[index * size..(index + 1) * size]
            .iter_mut()
            .zip(x)
            .for_each(|(o, &x)| *o += x);
    });
}

/// Sets every entry to zero.
pub fn fill_zero<T: Scalar>(out: &mut impl Target<T>) {
    out.data_mut().iter_mut().for_each(|o| *o = T::zero());
}

/// `Some(shape)` when a workspace or cache buffer does not have the shape the step needs.
pub fn wrong_shape<T: Scalar>(m: &DMatrix<T>, rows: usize, cols: usize) -> Option<(usize, usize)> {
    (m.shape() != (rows, cols)).then(|| m.shape())
}

/// Checks that a workspace or cache was made for these dimensions and this batch.
pub fn check_made_for<D: PartialEq + std::fmt::Debug>(
    what: &'static str,
    cell: &'static str,
    made_for: (D, usize),
    needed: (D, usize),
) -> Result<(), Error> {
    if made_for == needed {
        Ok(())
    } else {
        let describe = |(dims, batch): &(D, usize)| format!("{dims:?} and batch {batch}");
        Err(Error::Mismatch {
            what: format!("{what} of {cell}"),
            expected: describe(&needed),
            found: describe(&made_for),
        })
    }
}

/// Checks the projection a step reads: every matrix has its rows and the same width, and
/// columns `column .. column + batch` exist.
pub fn check_projection_columns<T: Scalar, P: Tensors<T>>(
    what: &'static str,
    projection: &P,
    rows: impl Fn(usize) -> usize,
    column: usize,
    batch: usize,
) -> Result<(), Error> {
    let mut width = None;
    for (k, name) in P::NAMES.iter().enumerate() {
        let Some(m) = projection.get(k) else { continue };
        let cols = *width.get_or_insert(m.ncols());
        if m.shape() != (rows(k), cols) {
            return Err(Error::Shape {
                what: format!("{what} `{name}`"),
                expected: (rows(k), cols),
                found: m.shape(),
            });
        }
        if column.checked_add(batch).is_none_or(|end| end > cols) {
            return Err(Error::Length {
                what: format!("columns of {what} `{name}` (a step of batch {batch} at column {column})"),
                expected: column.saturating_add(batch),
                found: cols,
            });
        }
    }
    Ok(())
}

/// How many backward steps a workspace defers the weight products of: `steps`, at least one,
/// and no more than about 4096 columns (then the buffers are flushed into the gradient and
/// reused), so that a workspace's size never depends on a caller's count alone.
pub fn deferred_capacity(batch: usize, steps: usize) -> usize {
    const DEFERRED_COLUMNS: usize = 4096;
    steps.clamp(1, (DEFERRED_COLUMNS / batch.max(1)).max(1))
}

/// A `rows × cols` matrix of `value` for a constructor, or an error when the caller's dimensions
/// ask for more than can be allocated (rather than an abort).
pub fn filled_matrix<T: Scalar>(what: &str, rows: usize, cols: usize, value: T) -> Result<DMatrix<T>, Error> {
    crate::checks::matrix(what, rows, cols, |_, _| value)
}

/// A vector of `len` copies of `value` for a constructor, fallibly as [`filled_matrix`].
pub fn filled_vector<T: Scalar>(what: &str, len: usize, value: T) -> Result<DVector<T>, Error> {
    let mut data = crate::checks::reserve(|| format!("entries of {what}"), len)?;
    data.resize(len, value);
    Ok(DVector::from_vec(data))
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

/// The value of the dimension expression `text` of `cell`, `Σ coefficient × dimension +
/// constant` (`terms` pairs each coefficient with the dimension's value), or
/// [`Error::Overflow`] when it does not fit in `usize`. `dims` describes the dimensions given.
pub fn dimension(
    cell: &'static str,
    text: &str,
    terms: &[(usize, usize)],
    constant: usize,
    dims: &dyn Fn() -> String,
) -> Result<usize, Error> {
    terms
        .iter()
        .try_fold(constant, |sum, &(coefficient, value)| {
            coefficient
                .checked_mul(value)
                .and_then(|term| sum.checked_add(term))
        })
        .ok_or_else(|| Error::Overflow {
            cell,
            what: format!("dimension `{text}`"),
            limit: "usize::MAX",
            dims: dims(),
        })
}

/// Checks that `rows × cols` entries of `T` fit in one allocation: at most `isize::MAX` bytes,
/// the most a `Vec` (and so a nalgebra matrix) can hold; else [`Error::Overflow`] naming
/// `what` and the counts.
pub fn check_entries<T>(
    cell: &'static str,
    what: &str,
    rows: usize,
    cols: usize,
    dims: &dyn Fn() -> String,
) -> Result<(), Error> {
    let size = std::mem::size_of::<T>();
    let bytes = rows
        .checked_mul(cols)
        .and_then(|entries| entries.checked_mul(size));
    if bytes.is_some_and(|bytes| bytes <= isize::MAX as usize) {
        return Ok(());
    }
    let entries = if cols == 1 {
        format!("{rows} entries")
    } else {
        format!("{rows} × {cols} entries")
    };
    Err(Error::Overflow {
        cell,
        what: format!("{what} ({entries} of {size} bytes)"),
        limit: "isize::MAX bytes",
        dims: dims(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_products_agree_on_both_paths() {
        // Few columns (dot products) and many (packed panels of Wᵀ), f64 and f32, overwrite and add.
        for (rows, cols, batch) in [(8, 7, 6), (12, 9, 33), (3, 4, 8), (8, 7, 1), (70, 300, 9)] {
            let w = DMatrix::from_fn(rows, cols, |i, j| ((3 * i + 7 * j) as f64 * 0.37).sin());
            let dy = DMatrix::from_fn(rows, batch, |i, j| ((5 * i + j) as f64 * 0.11).cos());
            let expected = w.transpose() * &dy;
            let mut out = DMatrix::from_element(cols, batch, f64::NAN);
            matvec_t_to::<f64, false>(&mut out, &w, &dy);
            assert!((&out - &expected).amax() < 1e-12, "{rows}×{cols}, batch {batch}");
            matvec_t_to::<f64, true>(&mut out, &w, &dy);
            assert!(
                (&out - 2.0 * &expected).amax() < 1e-12,
                "{rows}×{cols}, batch {batch}, adding"
            );
            let (w32, dy32) = (w.map(|x| x as f32), dy.map(|x| x as f32));
            let mut out32 = DMatrix::zeros(cols, batch);
            matvec_t_to::<f32, false>(&mut out32, &w32, &dy32);
            assert!((out32.map(f64::from) - &expected).amax() < 1e-5);
        }
    }
}
