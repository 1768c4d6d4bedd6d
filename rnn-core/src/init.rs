//! Seeded weight initialisation.

use crate::{Error, Scalar, SplitMix64};
use nalgebra::DMatrix;

/// Xavier/Glorot uniform (Glorot & Bengio 2010): entries uniform in `±√(6 / (fan_in + fan_out))`
/// for a `fan_out × fan_in` matrix. A size that cannot be allocated is an [`Error::OutOfRange`].
pub fn xavier_uniform<T: Scalar>(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
) -> Result<DMatrix<T>, Error> {
    let fans = rows as f64 + cols as f64;
    let bound = (6.0 / fans.max(1.0)).sqrt();
    crate::checks::matrix("a Xavier-uniform matrix", rows, cols, |_, _| {
        T::of_f64(rng.uniform(-bound, bound))
    })
}

/// A random orthogonal `n × n` matrix (Q of a QR factorisation of a Gaussian matrix, signs fixed
/// so the distribution is Haar) scaled by `radius`: every eigenvalue and every singular value has
/// modulus `radius`, so the spectral radius and the spectral norm are both `radius`. A size that
/// cannot be allocated is an [`Error::OutOfRange`], a non-finite radius an [`Error::NonFinite`].
pub fn orthogonal<T: Scalar>(rng: &mut SplitMix64, n: usize, radius: f64) -> Result<DMatrix<T>, Error> {
    if !radius.is_finite() {
        return Err(Error::NonFinite {
            what: format!("radius of an orthogonal matrix ({radius})"),
        });
    }
    let gaussian = crate::checks::matrix("an orthogonal matrix", n, n, |_, _| rng.normal())?;
    let (q, r) = gaussian.qr().unpack();
    let q = DMatrix::from_fn(n, n, |i, j| if r[(j, j)] < 0.0 { -q[(i, j)] } else { q[(i, j)] });
    Ok(q.map(|x| T::of_f64(x * radius)))
}
