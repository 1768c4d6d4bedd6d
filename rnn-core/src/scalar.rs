//! The scalar bound of every cell.

/// Any real scalar the generated code can run on: `f32`, `f64`, and `num_dual`'s `Dual64` /
/// `DualSVec64<N>` (forward-mode dual numbers, used to verify the backward pass).
///
/// A blanket-implemented alias of [`nalgebra::RealField`] + `Copy`: nothing to implement.
pub trait Scalar: nalgebra::RealField + Copy {
    /// Converts an `f64` constant (a literal of the DSL, a seeded random number).
    fn of_f64(value: f64) -> Self {
        nalgebra::convert::<f64, Self>(value)
    }

    /// The value as an `f64`: exact for `f32` and `f64`, the real part of a dual number.
    fn real_part(self) -> f64 {
        nalgebra::convert_unchecked::<Self, f64>(self)
    }
}

impl<T: nalgebra::RealField + Copy> Scalar for T {}
