//! Losses, each returning its value and its gradient with respect to the prediction.

use crate::{Error, Scalar};
use nalgebra::DMatrix;

/// Mean squared error, `L = (1/N) Σ (ŷ − y)²` over all `N` entries (PyTorch's `MSELoss`
/// with `reduction = 'mean'`), and `∂L/∂ŷ = 2 (ŷ − y) / N`.
pub fn mse<T: Scalar>(prediction: &DMatrix<T>, target: &DMatrix<T>) -> Result<(T, DMatrix<T>), Error> {
    if prediction.shape() != target.shape() {
        return Err(Error::Shape {
            what: "MSE target (must match the prediction)".to_owned(),
            expected: prediction.shape(),
            found: target.shape(),
        });
    }
    let n = prediction.len();
    if n == 0 {
        return Err(Error::Length {
            what: "entries of the MSE prediction".to_owned(),
            expected: 1,
            found: 0,
        });
    }
    let count = T::of_f64(n as f64);
    let diff = prediction - target;
    let loss = diff.iter().fold(T::zero(), |acc, &d| acc + d * d) / count;
    let two = T::of_f64(2.0);
    let grad = diff.map(|d| two * d / count);
    Ok((loss, grad))
}
