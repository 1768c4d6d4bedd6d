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

fn check_temperature<T: Scalar>(temperature: T) -> Result<(), Error> {
    crate::checks::positive("softmax temperature", temperature)
}

/// `(z − m) / τ` of every column, `m = max_j z_j`: the shift comes before the division, so a
/// tiny temperature sends every entry but the largest towards −∞ instead of overflowing to
/// `∞ − ∞ = NaN`. The largest entry of each column is 0.
fn shifted<T: Scalar>(logits: &DMatrix<T>, temperature: T) -> Result<DMatrix<T>, Error> {
    check_temperature(temperature)?;
    if logits.nrows() == 0 {
        // No class: no distribution to normalise.
        return Err(Error::Shape {
            what: "softmax logits (one row per class, at least one)".to_owned(),
            expected: (1, logits.ncols()),
            found: logits.shape(),
        });
    }
    let mut out = logits.clone();
    for mut column in out.column_iter_mut() {
        let max = column_max(column.iter().copied());
        column.iter_mut().for_each(|x| *x = (*x - max) / temperature);
    }
    Ok(out)
}

/// `log softmax(z / τ)` of every column: `x_i − ln Σ_j e^{x_j}` with `x = (z − max_j z_j) / τ`
/// (log-sum-exp): the largest entry's log-probability is finite for any finite input; an entry
/// whose probability underflows past the floating-point range is −∞.
pub fn log_softmax<T: Scalar>(logits: &DMatrix<T>, temperature: T) -> Result<DMatrix<T>, Error> {
    let mut out = shifted(logits, temperature)?;
    for mut column in out.column_iter_mut() {
        let sum = column.iter().fold(T::zero(), |acc, &x| acc + x.exp());
        let shift = sum.ln();
        column.iter_mut().for_each(|x| *x -= shift);
    }
    Ok(out)
}

/// `softmax(z / τ)` of every column as `e^{x_i} / Σ_j e^{x_j}` with `x = (z − max_j z_j) / τ`:
/// no overflow at any temperature, every entry accurate to a few ulps relative, columns summing
/// to 1 within `K u`. (Exponentiating [`log_softmax`] instead would turn the rounding of the
/// shift into a relative error of every probability.)
pub fn softmax<T: Scalar>(logits: &DMatrix<T>, temperature: T) -> Result<DMatrix<T>, Error> {
    let mut out = shifted(logits, temperature)?;
    for mut column in out.column_iter_mut() {
        column.iter_mut().for_each(|x| *x = x.exp());
        let sum = column.iter().fold(T::zero(), |acc, &x| acc + x);
        column.iter_mut().for_each(|x| *x /= sum);
    }
    Ok(out)
}

fn column_max<T: Scalar>(values: impl Iterator<Item = T>) -> T {
    values.fold(-T::one() / T::zero(), |m, x| if x > m { x } else { m })
}

/// Softmax cross-entropy with temperature τ, averaged over the `B` columns of `logits` (`K × B`):
/// `L = −(1/B) Σ_b log softmax(z_b / τ)[y_b]`, and `∂L/∂z = (softmax(z/τ) − onehot(y)) / (τ B)`.
pub fn cross_entropy<T: Scalar>(
    logits: &DMatrix<T>,
    targets: &[usize],
    temperature: T,
) -> Result<(T, DMatrix<T>), Error> {
    let (classes, batch) = logits.shape();
    if targets.len() != batch {
        return Err(Error::Length {
            what: "cross-entropy targets (one per column of the logits)".to_owned(),
            expected: batch,
            found: targets.len(),
        });
    }
    if batch == 0 || classes == 0 {
        return Err(Error::Shape {
            what: "cross-entropy logits (classes × columns, both at least 1)".to_owned(),
            expected: (classes.max(1), batch.max(1)),
            found: (classes, batch),
        });
    }
    if let Some((b, &bad)) = targets.iter().enumerate().find(|&(_, &y)| y >= classes) {
        return Err(Error::OutOfRange {
            what: format!("cross-entropy target class of column {b}"),
            range: format!("0..{classes} (the logits' rows)"),
            found: bad.to_string(),
        });
    }
    let log_p = log_softmax(logits, temperature)?;
    let count = T::of_f64(batch as f64);
    let loss = -targets
        .iter()
        .enumerate()
        .fold(T::zero(), |acc, (b, &y)| acc + log_p[(y, b)])
        / count;
    let mut grad = softmax(logits, temperature)?;
    for (b, &y) in targets.iter().enumerate() {
        grad[(y, b)] -= T::one();
    }
    // A division, not a product with 1/(τ B): at a tiny τ the reciprocal overflows, and the
    // exact zeros of `softmax − onehot` must stay zeros.
    let scale = temperature * count;
    grad.iter_mut().for_each(|g| *g /= scale);
    Ok((loss, grad))
}
