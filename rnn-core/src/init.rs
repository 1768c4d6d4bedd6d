//! Seeded weight initialisation.

use crate::{Scalar, SplitMix64};
use nalgebra::DMatrix;

/// Xavier/Glorot uniform (Glorot & Bengio 2010): entries uniform in `±√(6 / (fan_in + fan_out))`
/// for a `fan_out × fan_in` matrix.
pub fn xavier_uniform<T: Scalar>(rng: &mut SplitMix64, rows: usize, cols: usize) -> DMatrix<T> {
    let bound = (6.0 / (rows + cols).max(1) as f64).sqrt();
    DMatrix::from_fn(rows, cols, |_, _| T::of_f64(rng.uniform(-bound, bound)))
}

/// A random orthogonal `n × n` matrix (Q of a QR factorisation of a Gaussian matrix, signs fixed
/// so the distribution is Haar) scaled by `radius`: every eigenvalue and every singular value has
/// modulus `radius`, so the spectral radius and the spectral norm are both `radius`.
pub fn orthogonal<T: Scalar>(rng: &mut SplitMix64, n: usize, radius: f64) -> DMatrix<T> {
    let gaussian = DMatrix::<f64>::from_fn(n, n, |_, _| rng.normal());
    let (q, r) = gaussian.qr().unpack();
    let q = DMatrix::from_fn(n, n, |i, j| if r[(j, j)] < 0.0 { -q[(i, j)] } else { q[(i, j)] });
    q.map(|x| T::of_f64(x * radius))
}
