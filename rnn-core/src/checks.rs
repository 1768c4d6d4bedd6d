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

fn finite<T: Scalar>(what: &str, value: T) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: format!("{what} ({})", value.real_part()),
        })
    }
}
