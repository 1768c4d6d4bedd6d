//! A dense readout `y = W h + b` on top of a recurrent cell's outputs (one column per sequence).

use crate::{Error, ParamSet, Scalar, SplitMix64};
use nalgebra::{DMatrix, DVector};

/// `y = W h + b`, `W` of `outputs × inputs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T: Scalar> {
    /// `W`.
    pub w: DMatrix<T>,
    /// `b`.
    pub b: DVector<T>,
}

/// Gradients of a [`Dense`] layer, same layout.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseGrad<T: Scalar> {
    /// ∂L/∂W.
    pub w: DMatrix<T>,
    /// ∂L/∂b.
    pub b: DVector<T>,
}

macro_rules! dense_params {
    ($ty:ident) => {
        impl<T: Scalar> ParamSet<T> for $ty<T> {
            fn visit(&self, mut f: impl FnMut(&'static str, &[usize], &[T])) {
                f("w", &[self.w.nrows(), self.w.ncols()], self.w.as_slice());
                f("b", &[self.b.nrows()], self.b.as_slice());
            }
            fn visit_mut(&mut self, mut f: impl FnMut(&'static str, &[usize], &mut [T])) {
                let shape = [self.w.nrows(), self.w.ncols()];
                f("w", &shape, self.w.as_mut_slice());
                let len = [self.b.nrows()];
                f("b", &len, self.b.as_mut_slice());
            }
        }
    };
}
dense_params!(Dense);
dense_params!(DenseGrad);

impl<T: Scalar> Dense<T> {
    /// Xavier-uniform weights, zero bias, from `seed`.
    pub fn init(outputs: usize, inputs: usize, seed: u64) -> Result<Self, Error> {
        if outputs == 0 || inputs == 0 {
            return Err(Error::ZeroDimension {
                cell: "Dense",
                dim: if outputs == 0 { "outputs" } else { "inputs" },
            });
        }
        let w = crate::init::xavier_uniform(&mut SplitMix64::new(seed), outputs, inputs)?;
        Ok(Dense {
            w,
            b: DVector::zeros(outputs),
        })
    }

    fn check(&self, h: &DMatrix<T>) -> Result<(), Error> {
        if self.b.len() != self.w.nrows() {
            return Err(Error::Shape {
                what: "dense bias".into(),
                expected: (self.w.nrows(), 1),
                found: (self.b.len(), 1),
            });
        }
        if h.nrows() != self.w.ncols() {
            return Err(Error::Shape {
                what: "dense input".into(),
                expected: (self.w.ncols(), h.ncols()),
                found: h.shape(),
            });
        }
        Ok(())
    }

    /// `W h + b` for every column of `h`.
    pub fn forward(&self, h: &DMatrix<T>) -> Result<DMatrix<T>, Error> {
        self.check(h)?;
        let mut y = &self.w * h;
        for mut column in y.column_iter_mut() {
            column += &self.b;
        }
        Ok(y)
    }

    /// Given `h` and `∂L/∂y`: the parameter gradients and `∂L/∂h = Wᵀ ∂L/∂y`.
    pub fn backward(&self, h: &DMatrix<T>, d_y: &DMatrix<T>) -> Result<(DenseGrad<T>, DMatrix<T>), Error> {
        self.check(h)?;
        if d_y.shape() != (self.w.nrows(), h.ncols()) {
            return Err(Error::Shape {
                what: "dense output adjoint".into(),
                expected: (self.w.nrows(), h.ncols()),
                found: d_y.shape(),
            });
        }
        let grad = DenseGrad {
            w: d_y * h.transpose(),
            b: d_y.column_sum(),
        };
        Ok((grad, self.w.tr_mul(d_y)))
    }
}
