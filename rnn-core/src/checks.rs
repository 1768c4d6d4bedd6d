//! Checks of the settings handed to public functions (limits, temperatures): a value outside its
//! range is a typed [`Error`] naming the setting and the value, never a silent result.

use crate::{Error, Scalar};

/// `value` must be finite and at least 0 (a clipping limit: 0 clips everything to 0).
pub(crate) fn non_negative<T: Scalar>(what: &str, value: T) -> Result<(), Error> {
    finite(what, value)?;
    if value < T::zero() {
        return Err(Error::OutOfRange {
            what: what.to_owned(),
            range: "[0, ∞) (finite)".to_owned(),
            found: format!("{}", value.real_part()),
        });
    }
    Ok(())
}

/// `value` must be finite and above 0 (a temperature, a learning rate).
pub(crate) fn positive<T: Scalar>(what: &str, value: T) -> Result<(), Error> {
    finite(what, value)?;
    if value <= T::zero() {
        return Err(Error::OutOfRange {
            what: what.to_owned(),
            range: "(0, ∞) (finite)".to_owned(),
            found: format!("{}", value.real_part()),
        });
    }
    Ok(())
}

/// `value` must be finite and at least `floor`.
pub(crate) fn finite_at_least<T: Scalar>(what: &str, value: T, floor: T) -> Result<(), Error> {
    finite(what, value)?;
    if value < floor {
        return Err(Error::OutOfRange {
            what: what.to_owned(),
            range: format!("[{:e}, ∞) (finite)", floor.real_part()),
            found: format!("{:e}", value.real_part()),
        });
    }
    Ok(())
}

fn finite<T: Scalar>(what: &str, value: T) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: format!("{what} ({})", value.real_part()),
        })
    }
}

/// An empty vector with room for `count` values, or [`Error::OutOfRange`] when that room cannot
/// be had (more than `isize::MAX` bytes, or more than the allocator gives): a count taken from the
/// caller (steps to generate, a matrix size) is an error, never a panic or an abort.
pub(crate) fn reserve<V>(what: impl FnOnce() -> String, count: usize) -> Result<Vec<V>, Error> {
    let mut values = Vec::new();
    match values.try_reserve_exact(count) {
        Ok(()) => Ok(values),
        Err(_) => Err(Error::OutOfRange {
            what: what(),
            range: format!(
                "what memory can hold ({} bytes each)",
                std::mem::size_of::<V>().max(1)
            ),
            found: count.to_string(),
        }),
    }
}

/// A `rows × cols` matrix with entry `(i, j)` from `entry` (called column by column), or an
/// error when `rows × cols` overflows or cannot be allocated (see [`reserve`]).
pub(crate) fn matrix<T: Scalar>(
    what: &str,
    rows: usize,
    cols: usize,
    mut entry: impl FnMut(usize, usize) -> T,
) -> Result<nalgebra::DMatrix<T>, Error> {
    let size = || format!("entries of {what} ({rows} × {cols})");
    let count = rows.checked_mul(cols).ok_or_else(|| Error::OutOfRange {
        what: size(),
        range: "0..=usize::MAX".to_owned(),
        found: format!("{rows} × {cols}"),
    })?;
    let mut data = reserve(size, count)?;
    for j in 0..cols {
        for i in 0..rows {
            data.push(entry(i, j));
        }
    }
    Ok(nalgebra::DMatrix::from_vec(rows, cols, data))
}
