//! Vectorisable `exp`, `tanh` and the logistic sigmoid for `f32` and `f64`: the activations
//! of the generated kernels.
//!
//! ```
//! use rnn_core::vmath;
//!
//! let y = vmath::tanh_f32(0.5);
//! assert!((y - 0.5_f32.tanh()).abs() <= 4.0 * f32::EPSILON);
//! // The generic entry points take any scalar: f32 and f64 go through the functions here,
//! // dual numbers through the standard library's.
//! assert_eq!(vmath::sigmoid(0.0_f64), 0.5);
//! ```
//!
//! The standard library's `exp` and `tanh` are calls into the C library, one value at a time.
//! The functions here are branch-free arithmetic (selects, bit operations, a polynomial), so
//! the compiler vectorises a loop over them; the kernels run such loops under run-time SIMD
//! dispatch. At batch 1 the activations are most of a step's work.
//!
//! # Accuracy
//!
//! Against the standard library (`f32::exp`, `f32::tanh`, and `1 / (1 + e^−x)` computed with it
//! as in the exact [`crate::sigmoid`]), over the *whole* input range, the largest
//! differences are, in units in the last place:
//!
//! | function | f32 | f64 |
//! |---|---:|---:|
//! | `exp` | 1 | 1 |
//! | `tanh` | 4 | 4 |
//! | `sigmoid` | 2 | 2 |
//!
//! (checked by `tests/vmath.rs`: every 97th `f32` bit pattern, a dense grid of 8 million
//! `f64`s, and random `f32`/`f64` inputs drawn over all bit patterns and densely where the
//! formulas change. Measured maxima: `tanh` 4 ulps in f32, 3 in f64, both for small `|x|`,
//! where `expm1(2|x|) / (expm1(2|x|) + 2)` rounds three times.) Non-finite inputs give what the
//! standard library gives: `exp(NaN) = NaN`, `exp(−∞) = 0`, `exp(∞) = ∞`, `tanh(±∞) = ±1`,
//! `tanh(−0) = −0`, `sigmoid(±∞) = 1, 0`.
//!
//! # Method
//!
//! `exp(x) = 2ⁿ eʳ` with `n = round(x / ln 2)` and `r = x − n ln 2` (`ln 2` in two parts, so
//! `r` is exact to the last bit), `|r| ≤ ln 2 / 2`; `eʳ` is its Taylor polynomial (degree 7 in
//! f32, 13 in f64: truncation below 2⁻²⁷ and 2⁻⁵⁷ relative); `2ⁿ` is applied as two powers of
//! two so that results near the underflow threshold round once, as subnormals.
//! `tanh(x) = sign(x) · e / (e + 2)` with `e = expm1(2|x|)` evaluated as `2ⁿ q + (2ⁿ − 1)`,
//! `q = eʳ − 1` by its polynomial (no cancellation for small `|x|`); `|x|` is clamped where
//! `tanh` rounds to 1. `sigmoid(x) = 1 / (1 + e)` for `x ≥ 0` and `e / (1 + e)` otherwise, with
//! `e = exp(−|x|)`.
//!
//! # The exact path
//!
//! Build `rnn-core` with the feature `exact-math` and the generic entry points ([`exp`],
//! [`tanh`], [`sigmoid`], used by every generated kernel) call the standard library instead.
//! The public activations of the crate root (`rnn_core::Activation` implementors and the
//! functions the DSL names) are unaffected when called directly.

use crate::Scalar;
use std::any::TypeId;

macro_rules! float_math {
    (
        $t:ident, $bits:ident, $exp_fn:ident, $tanh_fn:ident, $sigmoid_fn:ident, $expm1_fn:ident,
        mantissa = $mant:expr, bias = $bias:expr,
        max = $max:expr, min = $min:expr, tanh_one = $tanh_one:expr,
        ln2_hi = $ln2_hi:expr, ln2_lo = $ln2_lo:expr,
        taylor = [$($c:expr),*]
    ) => {
        /// `2^k` for `k` within the normal exponent range.
        #[inline(always)]
        fn pow2(k: $t) -> $t {
            $t::from_bits((((k as i64) + $bias) as $bits) << $mant)
        }

        /// `round(x)` (ties to even) for `|x| < 2^(mantissa − 1)`, by the magic-number trick.
        #[inline(always)]
        fn round(x: $t) -> $t {
            let magic: $t = 1.5 * (2.0 as $t).powi($mant);
            (x + magic) - magic
        }

        /// `(n, r)` with `x = n ln 2 + r`, `|r| ≤ ln 2 / 2` (up to rounding).
        #[inline(always)]
        fn reduce(x: $t) -> ($t, $t) {
            let n = round(x * std::$t::consts::LOG2_E);
            let r = (x - n * $ln2_hi) - n * $ln2_lo;
            (n, r)
        }

        /// `(eʳ − 1) / r`'s Taylor polynomial times `r`: `r + r²/2 + …`.
        #[inline(always)]
        fn expm1_poly(r: $t) -> $t {
            let coefficients: &[$t] = &[$($c),*];
            let mut p: $t = 0.0;
            for &c in coefficients.iter().rev() {
                p = p * r + c;
            }
            p * r
        }

        #[doc = concat!("`e^x` for `", stringify!($t), "`, vectorisable (see the module docs for its accuracy).")]
        #[inline(always)]
        pub fn $exp_fn(x: $t) -> $t {
            let clamped = if x > $max { $max } else if x < $min { $min } else { x };
            let (n, r) = reduce(clamped);
            let p = expm1_poly(r) + 1.0;
            // 2ⁿ as two factors, each a normal number, so subnormal results round once.
            let half = round(n * 0.5 - 0.25);
            let y = p * pow2(half) * pow2(n - half);
            if x > $max {
                $t::INFINITY
            } else if x < $min {
                0.0
            } else {
                y
            }
        }

        /// `e^y − 1` for `0 ≤ y ≤ 2 · tanh_one`.
        #[inline(always)]
        fn $expm1_fn(y: $t) -> $t {
            let (n, r) = reduce(y);
            let scale = pow2(n);
            scale * expm1_poly(r) + (scale - 1.0)
        }

        #[doc = concat!("`tanh(x)` for `", stringify!($t), "`, vectorisable (see the module docs for its accuracy).")]
        #[inline(always)]
        pub fn $tanh_fn(x: $t) -> $t {
            let a = x.abs();
            let a = if a > $tanh_one { $tanh_one } else { a };
            let e = $expm1_fn(2.0 * a);
            (e / (e + 2.0)).copysign(x)
        }

        #[doc = concat!("The logistic function `1 / (1 + e^−x)` for `", stringify!($t), "`, vectorisable (see the module docs).")]
        #[inline(always)]
        pub fn $sigmoid_fn(x: $t) -> $t {
            let e = $exp_fn(-x.abs());
            let d = 1.0 + e;
            if x >= 0.0 { 1.0 / d } else { e / d }
        }
    };
}

mod single {
    float_math!(
        f32,
        u32,
        exp_f32,
        tanh_f32,
        sigmoid_f32,
        expm1_f32,
        mantissa = 23,
        bias = 127,
        max = 88.722_83,
        min = -103.972_08,
        tanh_one = 9.5,
        ln2_hi = 0.693_359_4,
        ln2_lo = -2.121_944_4e-4,
        taylor = [
            1.0,
            0.5,
            1.0 / 6.0,
            1.0 / 24.0,
            1.0 / 120.0,
            1.0 / 720.0,
            1.0 / 5040.0
        ]
    );
}

mod double {
    float_math!(
        f64,
        u64,
        exp_f64,
        tanh_f64,
        sigmoid_f64,
        expm1_f64,
        mantissa = 52,
        bias = 1023,
        max = 709.782_712_893_384,
        min = -745.133_219_101_941_2,
        tanh_one = 19.5,
        ln2_hi = 6.931_471_803_691_238e-1,
        ln2_lo = 1.908_214_929_270_587_7e-10,
        taylor = [
            1.0,
            0.5,
            1.0 / 6.0,
            1.0 / 24.0,
            1.0 / 120.0,
            1.0 / 720.0,
            1.0 / 5040.0,
            1.0 / 40320.0,
            1.0 / 362880.0,
            1.0 / 3628800.0,
            1.0 / 39916800.0,
            1.0 / 479001600.0,
            1.0 / 6227020800.0
        ]
    );
}

pub use double::{exp_f64, sigmoid_f64, tanh_f64};
pub use single::{exp_f32, sigmoid_f32, tanh_f32};

/// Applies `on_f32` / `on_f64` when `T` is that type (the test folds away after
/// monomorphisation), `exact` otherwise or with the feature `exact-math`.
#[inline(always)]
fn by_type<T: Scalar>(x: T, on_f32: fn(f32) -> f32, on_f64: fn(f64) -> f64, exact: fn(T) -> T) -> T {
    if cfg!(feature = "exact-math") {
        exact(x)
    } else if TypeId::of::<T>() == TypeId::of::<f32>() {
        // f32 → f64 → f32 is exact, and the compiler removes both conversions.
        T::of_f64(f64::from(on_f32(x.real_part() as f32)))
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        T::of_f64(on_f64(x.real_part()))
    } else {
        exact(x)
    }
}

/// `e^x`: [`exp_f32`] / [`exp_f64`] for floats, the standard library's for other scalars.
#[inline(always)]
pub fn exp<T: Scalar>(x: T) -> T {
    by_type(x, exp_f32, exp_f64, |x| x.exp())
}

/// `tanh(x)`: [`tanh_f32`] / [`tanh_f64`] for floats, the standard library's otherwise.
#[inline(always)]
pub fn tanh<T: Scalar>(x: T) -> T {
    by_type(x, tanh_f32, tanh_f64, |x| x.tanh())
}

/// The logistic function: [`sigmoid_f32`] / [`sigmoid_f64`] for floats, the exact
/// [`crate::sigmoid`] formula through the standard library's `exp` otherwise.
#[inline(always)]
pub fn sigmoid<T: Scalar>(x: T) -> T {
    by_type(x, sigmoid_f32, sigmoid_f64, crate::activation::sigmoid)
}
