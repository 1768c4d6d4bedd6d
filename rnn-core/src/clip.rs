//! Gradient clipping (`docs/THEORY.md` P8).
//!
//! * By global norm (Pascanu, Mikolov & Bengio 2013, Algorithm 1): `g ← min(1, τ/‖g‖₂) g`, the
//!   norm taken over every parameter of every tensor together. Unlike PyTorch's
//!   `clip_grad_norm_` there is no `+ 1e-6` in the denominator: a clipped gradient has norm τ
//!   (to rounding), and a gradient with `‖g‖ ≤ τ` is left bit for bit.
//! * Element-wise (Mikolov 2012): `g_i ← max(−c, min(c, g_i))`; this changes the direction.
//!
//! The norm is computed with scaling, so it does not overflow for entries near `f64::MAX`; a
//! non-finite norm is an error and leaves the gradient unchanged. So is a limit that is negative,
//! NaN or infinite ([`Error::OutOfRange`], [`Error::NonFinite`]); a limit of 0 sets the gradient
//! to 0.
//!
//! ```
//! use rnn_core::clip::{Flat, clip_elementwise, clip_global_norm};
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! let mut g = Flat(vec![3.0_f64, 4.0]);
//! let norm = clip_global_norm(&mut g, 1.0)?;
//! assert_eq!(norm, 5.0);
//! assert!((g.0[0] - 0.6).abs() < 1e-15 && (g.0[1] - 0.8).abs() < 1e-15);
//! clip_elementwise(&mut g, 0.7)?;
//! assert_eq!(g.0[1], 0.7);
//! assert!(clip_global_norm(&mut g, -1.0).is_err());
//! # Ok(())
//! # }
//! ```

use crate::{Error, ParamSet, Scalar};

/// `‖g‖₂` over every entry of `grad`, computed as `m √(Σ (g_i/m)²)` with `m = max |g_i|`.
pub fn global_norm<T: Scalar, P: ParamSet<T>>(grad: &P) -> T {
    let mut largest = T::zero();
    grad.visit(|_, _, data| {
        for &x in data {
            let a = x.abs();
            if a > largest || !a.is_finite() {
                largest = a;
            }
        }
    });
    if largest == T::zero() || !largest.is_finite() {
        // 0, or a NaN/infinity the caller must see.
        return largest;
    }
    let mut sum = T::zero();
    grad.visit(|_, _, data| {
        for &x in data {
            let r = x / largest;
            sum += r * r;
        }
    });
    largest * sum.sqrt()
}

/// Scales `grad` to norm `max_norm` when its norm exceeds it; returns the norm before clipping.
/// `max_norm` must be finite and at least 0; otherwise, or when the norm is not finite, the
/// gradient is left unchanged and an error returned.
pub fn clip_global_norm<T: Scalar, P: ParamSet<T>>(grad: &mut P, max_norm: T) -> Result<T, Error> {
    crate::checks::non_negative("max_norm of clip_global_norm", max_norm)?;
    let norm = global_norm(grad);
    if !norm.is_finite() {
        return Err(Error::NonFinite {
            what: "gradient norm for clipping".to_owned(),
        });
    }
    if norm > max_norm {
        // (g_i / ‖g‖) τ rather than g_i (τ / ‖g‖): the ratio τ/‖g‖ can be subnormal and lose
        // its bits (‖g‖ near f64::MAX), g_i/‖g‖ ≤ 1 cannot.
        grad.visit_mut(|_, _, data| data.iter_mut().for_each(|x| *x = *x / norm * max_norm));
    }
    Ok(norm)
}

/// Clamps every entry of `grad` to `[-limit, limit]`; `limit` must be finite and at least 0
/// (otherwise an error, and the gradient is left unchanged). NaN entries stay NaN.
pub fn clip_elementwise<T: Scalar, P: ParamSet<T>>(grad: &mut P, limit: T) -> Result<(), Error> {
    crate::checks::non_negative("limit of clip_elementwise", limit)?;
    grad.visit_mut(|_, _, data| {
        for x in data.iter_mut() {
            if *x > limit {
                *x = limit;
            } else if *x < -limit {
                *x = -limit;
            }
        }
    });
    Ok(())
}

/// A flat parameter vector, for gradients that are not a cell's (and for tests).
#[derive(Clone, Debug, PartialEq)]
pub struct Flat<T>(pub Vec<T>);

impl<T: Scalar> ParamSet<T> for Flat<T> {
    fn visit(&self, mut f: impl FnMut(&'static str, &[usize], &[T])) {
        f("flat", &[self.0.len()], &self.0);
    }
    fn visit_mut(&mut self, mut f: impl FnMut(&'static str, &[usize], &mut [T])) {
        let len = self.0.len();
        f("flat", &[len], &mut self.0);
    }
}
