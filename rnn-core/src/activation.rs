//! Element-wise functions: the built-in activations and the trait for your own.

use crate::Scalar;

/// An element-wise function of your own, usable in `recurrent!` through `fn name = Type;`.
/// Both functions take the *input* `x` of the activation.
///
/// ```
/// use rnn_core::{Activation, Scalar};
///
/// /// softsign(x) = x / (1 + |x|)
/// pub struct Softsign;
///
/// impl Activation for Softsign {
///     fn value<T: Scalar>(x: T) -> T {
///         x / (T::one() + x.abs())
///     }
///     fn derivative<T: Scalar>(x: T) -> T {
///         let d = T::one() + x.abs();
///         T::one() / (d * d)
///     }
/// }
/// assert_eq!(Softsign::value(1.0_f64), 0.5);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `rnn_core::Activation`: implement `value` and `derivative` for it",
    label = "used as an element-wise function, but not an `Activation`",
    note = "an element-wise function of `recurrent!` (`fn name = Type;`) is a type with \
            `impl rnn_core::Activation for Type {{ fn value<T: Scalar>(x: T) -> T {{ ... }} \
            fn derivative<T: Scalar>(x: T) -> T {{ ... }} }}`, both of the input `x`"
)]
pub trait Activation {
    /// f(x).
    fn value<T: Scalar>(x: T) -> T;
    /// f′(x).
    fn derivative<T: Scalar>(x: T) -> T;
}

/// tanh(x).
pub fn tanh<T: Scalar>(x: T) -> T {
    x.tanh()
}

/// The logistic function 1 / (1 + e^(−x)), evaluated without overflow for any x.
pub fn sigmoid<T: Scalar>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// max(x, 0).
pub fn relu<T: Scalar>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// x.
pub fn identity<T: Scalar>(x: T) -> T {
    x
}

/// e^x.
pub fn exp<T: Scalar>(x: T) -> T {
    x.exp()
}

/// ln(1 + e^x), evaluated as max(x, 0) + ln(1 + e^(−|x|)) so it neither overflows nor loses
/// the small values.
pub fn softplus<T: Scalar>(x: T) -> T {
    let positive = if x > T::zero() { x } else { T::zero() };
    positive + (-x.abs()).exp().ln_1p()
}

/// Rounds to the nearest integer, ties to even (`round(0.5) = 0`, `round(1.5) = 2`), as Python's
/// `round`, `numpy.round` and `f64::round_ties_even`; generic over the scalar (num-traits has no
/// such rounding, and `round` rounds ties away from zero).
///
/// The result is a constant: for a dual number, the rounded real part with a zero derivative
/// (the derivative of rounding almost everywhere). It is computed on the real part because
/// `num_dual` panics in `round()`.
pub fn round_half_even<T: Scalar>(x: T) -> T {
    T::of_f64(x.real_part().round_ties_even())
}

/// `round(σ(x))` (ties to even): a hard gate, 0 or 1. Its derivative is 0 almost everywhere
/// (taken as 0 everywhere), so finite differences do not apply across its jumps (THEORY.md P2).
pub struct HardSigmoid;

impl Activation for HardSigmoid {
    fn value<T: Scalar>(x: T) -> T {
        round_half_even(sigmoid(x))
    }
    fn derivative<T: Scalar>(_x: T) -> T {
        T::zero()
    }
}

/// `round(tanh(x))` (ties to even): −1, 0 or 1, derivative 0 (see [`HardSigmoid`]).
pub struct HardTanh;

impl Activation for HardTanh {
    fn value<T: Scalar>(x: T) -> T {
        round_half_even(x.tanh())
    }
    fn derivative<T: Scalar>(_x: T) -> T {
        T::zero()
    }
}

/// softsign(x) = x / (1 + |x|), with derivative 1 / (1 + |x|)²: a ready-made [`Activation`]
/// (use it as `fn softsign = rnn_core::Softsign;`).
pub struct Softsign;

impl Activation for Softsign {
    fn value<T: Scalar>(x: T) -> T {
        x / (T::one() + x.abs())
    }
    fn derivative<T: Scalar>(x: T) -> T {
        let d = T::one() + x.abs();
        T::one() / (d * d)
    }
}
