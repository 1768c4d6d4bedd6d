//! Run-time errors of `recurrent!` cells name what the user wrote (a `let` name, a parameter,
//! the DSL text of a value), never the generated code's internal node names (`p0`, `v15`,
//! `d3`, `g7_dy`).

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, Gru, GruDims, Lstm, LstmDims};
use rnn_core::{Cell, Error, Saved, Tensors, recurrent};

recurrent! {
    /// Its projection is a `let` binding and an activation of a product.
    pub cell Bound {
        input x[I];
        state h[H];
        param w[H, I], u[H, H], v[H, I];
        step {
            let a = w * x;
            h = tanh(a + u * h) + sigmoid(v * x) * h;
        }
    }
}

/// True for words such as `p0`, `v15`, `d3` or `g7_dy`: a letter followed by digits only, or by
/// digits and `_`.
fn is_node_id(word: &str) -> bool {
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest: String = chars.collect();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    first.is_ascii_lowercase()
        && !digits.is_empty()
        && (digits.len() == rest.len() || rest[digits.len()..].starts_with('_'))
}

/// The message of `result`'s error, checked for node ids and for the text it must name.
fn message<V: std::fmt::Debug>(result: Result<V, Error>, names: &str) -> String {
    let text = result.expect_err("this call must fail").to_string();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        assert!(!is_node_id(word), "`{word}` is an internal name, in: {text}");
    }
    assert!(text.contains(names), "the message should name {names}: {text}");
    text
}

#[test]
fn the_node_id_pattern_is_recognised() {
    for id in ["p0", "v15", "d3", "g7_dy"] {
        assert!(is_node_id(id), "{id}");
    }
    for word in ["h", "w_ih", "x", "b_hh", "r_x", "H", "n_x", "v"] {
        assert!(!is_node_id(word), "{word}");
    }
}

/// A projection of `batch` columns with matrix `k` replaced by one of `rows` rows.
fn projection<C: Cell<f64>>(cell: &C, batch: usize, k: usize, rows: usize) -> C::Projection {
    let mut p = C::Projection::from_fn(|j| DMatrix::zeros(cell.projection_rows(j), batch));
    *p.get_mut(k).unwrap() = DMatrix::zeros(rows, batch);
    p
}

/// Every projection check of `cell`, with the text matrix `k` must be named by.
fn provoke<C: Cell<f64>>(cell: &C, k: usize, names: &str) {
    let batch = 2;
    let state = cell.zero_state(batch);
    let wrong_rows = cell.projection_rows(k) + 1;

    // The provided one-step call (its own check) and the in-place step.
    message(cell.step(&projection(cell, batch, k, wrong_rows), &state), names);
    let mut next = cell.zero_state(batch);
    let mut ws = cell.workspace(batch, 1);
    let bad = projection(cell, batch, k, wrong_rows);
    message(cell.step_into(&bad, 0, &state, &mut next, None, &mut ws), names);

    // Too few columns for a step at column 1.
    let narrow = C::Projection::from_fn(|j| DMatrix::zeros(cell.projection_rows(j), batch));
    message(
        cell.step_into(&narrow, 1, &state, &mut next, None, &mut ws),
        "columns of projection",
    );

    // The backward step's projection adjoint and the projection's backward.
    let good = projection(cell, batch, k, cell.projection_rows(k));
    let mut cache = cell.new_cache(batch);
    cell.step_into(&good, 0, &state, &mut next, Some(&mut cache), &mut ws)
        .unwrap();
    let mut grad = cell.zero_grad();
    let mut d_prev = cell.zero_state(batch);
    let mut d_proj = projection(cell, batch, k, wrong_rows);
    let saved = Saved {
        state: &state,
        next: &next,
        cache: &cache,
        column: 0,
    };
    let d_next = cell.zero_state(batch);
    message(
        cell.step_backward_into(saved, &d_next, &mut d_prev, &mut d_proj, &mut grad, &mut ws),
        names,
    );
    let input = C::Input::from_fn(|j| DMatrix::zeros(cell.input_rows(j), batch));
    message(cell.project_backward(&input, &d_proj, &mut grad), names);
}

#[test]
fn projection_errors_name_the_blocks_of_split() {
    let gru = Gru::<f64>::init(GruDims { H: 3, I: 2 }, 1).unwrap();
    assert_eq!(
        <Gru<f64> as Cell<f64>>::Projection::NAMES,
        &["r_x", "z_x", "n_x"][..]
    );
    provoke(&gru, 1, "`z_x`");
    let lstm = Lstm::<f64>::init(LstmDims { H: 3, I: 2 }, 1).unwrap();
    provoke(&lstm, 3, "`o_x`");
}

#[test]
fn projection_errors_name_the_dsl_text_of_a_value() {
    let elman = Elman::<f64>::init(ElmanDims { H: 3, I: 2 }, 1).unwrap();
    provoke(&elman, 0, "`w_hx * x + b`");
}

#[test]
fn a_user_cell_names_its_let_bindings_and_expressions() {
    let cell = Bound::<f64>::init(BoundDims { H: 3, I: 2 }, 1).unwrap();
    let names = <Bound<f64> as Cell<f64>>::Projection::NAMES;
    assert_eq!(names, &["a", "sigmoid(v * x)"][..]);
    provoke(&cell, 0, "`a`");
    provoke(&cell, 1, "`sigmoid(v * x)`");
}
