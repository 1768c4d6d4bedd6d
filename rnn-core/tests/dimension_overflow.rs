//! Dimensions so large that a size computed from them does not exist: the constructors of a
//! `recurrent!` cell return `Error::Overflow` naming the cell, the expression and the values,
//! before anything is allocated (no wrapped sizes, no "capacity overflow" panics later).

use nalgebra::{DMatrix, DVector};
use rnn_core::cells::{Elman, ElmanDims, Lstm, LstmDims};
use rnn_core::{Cell, Error, recurrent};

recurrent! {
    /// Several dimension expressions: a concatenation of two states' blocks and the input,
    /// and a hyper-parameter vector.
    pub cell Stacked {
        input x[I];
        state h[H];
        param w[H, 2 * H + I], b[H];
        hyper gain[H] = 1;
        step {
            let [a, c] = split([h; h]);
            h = gain * tanh(w * [a; c; x] + b);
        }
    }
}

/// The fields of an `Error::Overflow`, or a panic naming what came instead.
fn overflow(
    result: Result<impl std::fmt::Debug, Error>,
) -> (&'static str, String, &'static str, String, String) {
    let error = result.expect_err("dimensions this large must be rejected");
    let text = error.to_string();
    match error {
        Error::Overflow {
            cell,
            what,
            limit,
            dims,
        } => (cell, what, limit, dims, text),
        other => panic!("expected Error::Overflow, got {other:?}"),
    }
}

/// `4 * H` past `usize::MAX`: the error names the cell, the expression and the value of `H`,
/// from `new`, `init` and `from_params` alike.
#[test]
fn a_dimension_expression_past_usize_max_is_an_error() {
    let dims = LstmDims { H: 1 << 62, I: 1 };
    let from_params = Lstm::<f64>::from_params(
        dims,
        DMatrix::zeros(4, 1),
        DMatrix::zeros(4, 1),
        DVector::zeros(4),
        DVector::zeros(4),
    );
    for result in [Lstm::<f64>::new(dims), Lstm::<f64>::init(dims, 7), from_params] {
        let (cell, what, limit, values, text) = overflow(result);
        assert_eq!(cell, "Lstm");
        assert!(what.contains("`4 * H`"), "names the expression: {what}");
        assert_eq!(limit, "usize::MAX");
        assert!(
            values.contains("H = 4611686018427387904"),
            "names the value: {values}"
        );
        assert!(
            text.contains("Lstm") && text.contains("4 * H") && text.contains("4611686018427387904"),
            "the message says it all: {text}"
        );
    }
}

/// `4 * H` and `I` fit, but `w_ih` would have 2³³ × 2³¹ = 2⁶⁴ entries.
#[test]
fn a_parameter_whose_entry_count_overflows_is_an_error() {
    let dims = LstmDims {
        H: 1 << 31,
        I: 1 << 31,
    };
    let (cell, what, limit, values, text) = overflow(Lstm::<f64>::new(dims));
    assert_eq!(cell, "Lstm");
    assert!(what.contains("param `w_ih`"), "names the parameter: {what}");
    assert!(
        what.contains("8589934592 × 2147483648"),
        "names the entry counts: {what}"
    );
    assert_eq!(limit, "isize::MAX bytes");
    assert!(values.contains("H = 2147483648") && values.contains("I = 2147483648"));
    assert!(text.contains("w_ih"), "{text}");
}

/// Entry counts that fit in `usize` but whose bytes pass `isize::MAX`, the largest allocation
/// `Vec` (and so nalgebra) can make: a matrix (`H × H` = 2⁶⁰ entries of 8 bytes) and a vector
/// (2⁶¹ entries of 8 bytes).
#[test]
fn sizes_whose_bytes_pass_isize_max_are_errors() {
    let (_, what, limit, _, _) = overflow(Elman::<f64>::new(ElmanDims { H: 1 << 30, I: 1 }));
    assert!(
        what.contains("param `w_hh`") && what.contains("8 bytes"),
        "{what}"
    );
    assert_eq!(limit, "isize::MAX bytes");

    let (_, what, limit, _, _) = overflow(Elman::<f64>::new(ElmanDims { H: 1 << 61, I: 1 }));
    assert!(what.contains("`H`"), "{what}");
    assert_eq!(limit, "isize::MAX bytes");

    // The same sizes in f32 take half the bytes: 2⁶¹ entries of 4 bytes still fail, 2⁶⁰ × 4
    // would fit, so only the former is tried here.
    let (_, _, limit, _, _) = overflow(Elman::<f32>::new(ElmanDims { H: 1 << 61, I: 1 }));
    assert_eq!(limit, "isize::MAX bytes");
}

/// A cell declared outside `rnn-core`: `2 * H + I` (a parameter's columns) overflows, and
/// so does `2 * H` of the concatenation `[h; h]`, which no declaration names.
#[test]
fn a_user_declared_cell_checks_its_expressions() {
    let (cell, what, limit, values, text) = overflow(Stacked::<f64>::new(StackedDims { H: 1 << 63, I: 1 }));
    assert_eq!(cell, "Stacked");
    assert!(what.contains("2 * H"), "names an expression of `H`: {what}");
    assert_eq!(limit, "usize::MAX");
    assert!(values.contains("H = 9223372036854775808") && values.contains("I = 1"));
    assert!(text.contains("Stacked"), "{text}");

    // `H` alone fits, `I` makes `2 * H + I` pass usize::MAX.
    let (_, what, _, _, _) = overflow(Stacked::<f64>::init(
        StackedDims {
            H: 1 << 62,
            I: usize::MAX - (1 << 63) + 1,
        },
        3,
    ));
    assert!(what.contains("`2 * H + I`"), "{what}");
}

/// Sensible dimensions are not affected: the cell is made and steps.
#[test]
fn ordinary_dimensions_still_work() {
    let cell = Stacked::<f64>::init(StackedDims { H: 3, I: 2 }, 1).unwrap();
    assert_eq!(cell.w.shape(), (3, 8));
    let state = cell.zero_state(2);
    let input = StackedInput {
        x: DMatrix::from_element(2, 2, 0.5),
    };
    let projection = cell.project(&input).unwrap();
    let next = cell.step(&projection, &state).unwrap();
    assert_eq!(next.h.shape(), (3, 2));
    assert!(Lstm::<f32>::new(LstmDims { H: 4, I: 3 }).is_ok());
}
