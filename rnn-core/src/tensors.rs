//! Named collections of matrices (states, inputs, projections) and of parameters.

use crate::{Error, Scalar};
use nalgebra::DMatrix;

/// A fixed set of named `rows × B` matrices: a cell's state, input or projection.
/// Column `j` of every matrix belongs to sequence `j` of the batch.
pub trait Tensors<T: Scalar>: Clone + std::fmt::Debug {
    /// The names of the matrices, in declaration order: the DSL's names of states and inputs;
    /// for a projection, each value's `let` name, or else its DSL text (`w_hx * x + b`).
    const NAMES: &'static [&'static str];

    /// Matrix `k` (in the order of [`Tensors::NAMES`]), or `None` past the end.
    fn get(&self, k: usize) -> Option<&DMatrix<T>>;

    /// Mutable access to matrix `k`.
    fn get_mut(&mut self, k: usize) -> Option<&mut DMatrix<T>>;

    /// Builds the collection from one matrix per name.
    fn from_fn(f: impl FnMut(usize) -> DMatrix<T>) -> Self;

    /// The matrices in order.
    fn iter(&self) -> impl Iterator<Item = &DMatrix<T>> {
        (0..Self::NAMES.len()).filter_map(move |k| self.get(k))
    }

    /// The number of columns (sequences), taken from the first matrix; 0 if there is none.
    fn batch(&self) -> usize {
        self.get(0).map_or(0, |m| m.ncols())
    }
}

/// Every trainable parameter of a cell (or a gradient of the same layout), visited by name.
///
/// The slices are nalgebra's storage: column-major for matrices. The shape passed with each
/// slice is `[]` for a scalar, `[n]` for a vector and `[rows, cols]` for a matrix.
pub trait ParamSet<T: Scalar>: Clone {
    /// Calls `f` on every parameter, in declaration order.
    fn visit(&self, f: impl FnMut(&'static str, &[usize], &[T]));

    /// Calls `f` on every parameter, mutably, in declaration order.
    fn visit_mut(&mut self, f: impl FnMut(&'static str, &[usize], &mut [T]));

    /// The total number of scalars.
    fn param_count(&self) -> usize {
        let mut count = 0;
        self.visit(|_, _, data| count += data.len());
        count
    }

    /// All parameters in one vector (declaration order, each column-major).
    fn to_flat(&self) -> Vec<T> {
        let mut flat = Vec::with_capacity(self.param_count());
        self.visit(|_, _, data| flat.extend_from_slice(data));
        flat
    }

    /// Overwrites all parameters from one vector laid out as [`ParamSet::to_flat`] returns it.
    fn set_flat(&mut self, flat: &[T]) -> Result<(), Error> {
        let expected = self.param_count();
        if flat.len() != expected {
            return Err(Error::Length {
                what: "flat parameter vector".to_owned(),
                expected,
                found: flat.len(),
            });
        }
        let mut offset = 0;
        self.visit_mut(|_, _, data| {
            data.copy_from_slice(&flat[offset..offset + data.len()]);
            offset += data.len();
        });
        Ok(())
    }

    /// Sets every parameter to zero.
    fn fill_zero(&mut self) {
        self.visit_mut(|_, _, data| data.iter_mut().for_each(|x| *x = T::zero()));
    }
}

/// Two parameter sets as one, first then second: clip the gradients of a cell and its readout
/// by one global norm (`clip_global_norm(&mut (cell_grad, readout_grad), τ)`), or step both
/// with one optimizer.
impl<T: Scalar, A: ParamSet<T>, B: ParamSet<T>> ParamSet<T> for (A, B) {
    fn visit(&self, mut f: impl FnMut(&'static str, &[usize], &[T])) {
        self.0.visit(&mut f);
        self.1.visit(&mut f);
    }

    fn visit_mut(&mut self, mut f: impl FnMut(&'static str, &[usize], &mut [T])) {
        self.0.visit_mut(&mut f);
        self.1.visit_mut(&mut f);
    }
}

/// Checks that `tensors` has the given rows and one common batch size, returning the batch.
/// `expected_batch` (if any) must match too. `what` names the collection in errors.
pub fn check_tensors<T: Scalar, X: Tensors<T>>(
    what: &str,
    tensors: &X,
    rows: impl Fn(usize) -> usize,
    expected_batch: Option<usize>,
) -> Result<usize, Error> {
    check_tensors_lazy(|| what.to_owned(), tensors, rows, expected_batch)
}

/// [`check_tensors`] with the description made only on error (checks in loops).
pub(crate) fn check_tensors_lazy<T: Scalar, X: Tensors<T>>(
    what: impl Fn() -> String,
    tensors: &X,
    rows: impl Fn(usize) -> usize,
    expected_batch: Option<usize>,
) -> Result<usize, Error> {
    let mut batch = expected_batch;
    for (k, name) in X::NAMES.iter().enumerate() {
        let Some(m) = tensors.get(k) else { continue };
        let b = *batch.get_or_insert(m.ncols());
        let expected = (rows(k), b);
        if m.shape() != expected {
            return Err(Error::Shape {
                what: format!("{} `{name}`", what()),
                expected,
                found: m.shape(),
            });
        }
    }
    let batch = batch.unwrap_or(0);
    if batch == 0 {
        return Err(Error::Length {
            what: format!("batch size of {}", what()),
            expected: 1,
            found: 0,
        });
    }
    Ok(batch)
}
