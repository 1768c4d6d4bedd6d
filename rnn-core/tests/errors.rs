//! Bad shapes and lengths at run time return typed errors naming both sides, never a panic.

use nalgebra::{DMatrix, DVector};
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, ElmanState, Leaky, LeakyDims};
use rnn_core::{Cell, Error, ParamSet, Saved, Tensors, loss, seq};

fn cell() -> Elman<f64> {
    Elman::init(ElmanDims { H: 3, I: 2 }, 5).unwrap()
}

fn inputs(rows: usize, batch: usize, steps: usize) -> Vec<ElmanInput<f64>> {
    (0..steps)
        .map(|_| ElmanInput {
            x: DMatrix::from_element(rows, batch, 0.5),
        })
        .collect()
}

fn assert_shape(error: Error, what: &str, expected: (usize, usize), found: (usize, usize)) {
    let text = error.to_string();
    match error {
        Error::Shape {
            what: w,
            expected: e,
            found: f,
        } => {
            assert!(w.contains(what), "`{w}` should name {what}");
            assert_eq!((e, f), (expected, found));
            let (e_text, f_text) = (format!("{} × {}", e.0, e.1), format!("{} × {}", f.0, f.1));
            assert!(
                text.contains(&e_text) && text.contains(&f_text),
                "message names both shapes: {text}"
            );
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn from_params_checks_every_shape() {
    let dims = ElmanDims { H: 3, I: 2 };
    let err = Elman::<f64>::from_params(
        dims,
        DMatrix::zeros(3, 3),
        DMatrix::zeros(3, 4),
        DVector::zeros(3),
    )
    .unwrap_err();
    assert_shape(err, "w_hx", (3, 2), (3, 4));
    let err = Elman::<f64>::from_params(
        dims,
        DMatrix::zeros(3, 3),
        DMatrix::zeros(3, 2),
        DVector::zeros(2),
    )
    .unwrap_err();
    assert_shape(err, "param `b` of Elman", (3, 1), (2, 1));
}

#[test]
fn zero_dimensions_are_rejected() {
    let err = Elman::<f64>::new(ElmanDims { H: 0, I: 2 }).unwrap_err();
    assert_eq!(
        err,
        Error::ZeroDimension {
            cell: "Elman",
            dim: "H"
        }
    );
    assert!(Leaky::<f32>::init(LeakyDims { H: 0 }, 1).is_err());
}

#[test]
fn unroll_checks_inputs_and_initial_state() {
    let cell = cell();
    let h0 = cell.zero_state(2);
    let err = seq::unroll(&cell, &h0, &inputs(4, 2, 3)).unwrap_err();
    assert_shape(err, "input at step 1 of Elman `x`", (2, 2), (4, 2));
    let mut xs = inputs(2, 2, 3);
    xs[2].x = DMatrix::zeros(2, 5);
    let err = seq::unroll(&cell, &h0, &xs).unwrap_err();
    assert_shape(err, "input at step 3", (2, 2), (2, 5));
    let err = seq::unroll(
        &cell,
        &ElmanState {
            h: DMatrix::zeros(4, 2),
        },
        &inputs(2, 2, 3),
    )
    .unwrap_err();
    assert_shape(err, "initial state of Elman `h`", (3, 2), (4, 2));
    let err = seq::unroll(&cell, &h0, &[]).unwrap_err();
    assert!(matches!(err, Error::EmptySequence { .. }), "{err:?}");
    let err = seq::run(&cell, &cell.zero_state(0), &inputs(2, 0, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Length {
                expected: 1,
                found: 0,
                ..
            }
        ),
        "batch 0: {err:?}"
    );
}

#[test]
fn bptt_checks_adjoints() {
    let cell = cell();
    let trajectory = seq::unroll(&cell, &cell.zero_state(2), &inputs(2, 2, 3)).unwrap();
    let err = seq::bptt(&cell, &trajectory, &vec![cell.zero_state(2); 2]).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "state adjoints (one per step) of Elman".into(),
            expected: 3,
            found: 2
        }
    );
    let mut d = vec![cell.zero_state(2); 3];
    d[1].h = DMatrix::zeros(3, 1);
    let err = seq::bptt(&cell, &trajectory, &d).unwrap_err();
    assert_shape(err, "state adjoint at step 2", (3, 2), (3, 1));
}

#[test]
fn kernels_check_their_arguments() {
    let cell = cell();
    let err = cell
        .project(&ElmanInput {
            x: DMatrix::zeros(3, 1),
        })
        .unwrap_err();
    assert_shape(err, "input of Elman `x`", (2, 1), (3, 1));
    let projection = cell
        .project(&ElmanInput {
            x: DMatrix::zeros(2, 2),
        })
        .unwrap();
    let err = cell.step(&projection, &cell.zero_state(3)).unwrap_err();
    assert_shape(err, "projection of Elman", (3, 3), (3, 2));
    let state = cell.zero_state(2);
    let (next, cache) = cell.step_cached(&projection, &state).unwrap();
    let saved = Saved {
        state: &state,
        next: &next,
        cache: &cache,
        column: 0,
    };
    let mut grad = cell.zero_grad();
    let err = cell
        .step_backward(saved, &cell.zero_state(1), &mut grad)
        .unwrap_err();
    assert_shape(err, "state adjoint of Elman", (3, 2), (3, 1));
    let other = Elman::<f64>::new(ElmanDims { H: 4, I: 2 }).unwrap();
    let mut wrong_grad = other.zero_grad();
    let err = cell
        .step_backward(saved, &cell.zero_state(2), &mut wrong_grad)
        .unwrap_err();
    assert_shape(err, "gradient of w_hh", (3, 3), (4, 4));
    let err = other
        .step_backward(saved, &other.zero_state(2), &mut other.zero_grad())
        .unwrap_err();
    assert!(
        matches!(err, Error::Shape { .. }),
        "a cache from another cell size: {err:?}"
    );
}

#[test]
fn replaced_fields_are_caught() {
    let mut cell = cell();
    cell.w_hh = DMatrix::zeros(2, 2);
    let err = seq::run(&cell, &cell.zero_state(1), &inputs(2, 1, 2)).unwrap_err();
    assert_shape(err, "param `w_hh` of Elman (H × H)", (3, 3), (2, 2));
}

#[test]
fn flat_parameters_check_their_length() {
    let mut cell = cell();
    let err = cell.set_flat(&[0.0; 3]).unwrap_err();
    assert_eq!(
        err,
        Error::Length {
            what: "flat parameter vector".into(),
            expected: 9 + 6 + 3,
            found: 3
        }
    );
    let flat: Vec<f64> = (0..18).map(f64::from).collect();
    cell.set_flat(&flat).unwrap();
    assert_eq!(cell.to_flat(), flat);
}

#[test]
fn mse_checks_shapes() {
    let err = loss::mse(&DMatrix::<f64>::zeros(2, 3), &DMatrix::zeros(3, 2)).unwrap_err();
    assert_shape(err, "MSE target", (2, 3), (3, 2));
    let (value, grad) = loss::mse(
        &DMatrix::from_row_slice(1, 2, &[1.0, 3.0]),
        &DMatrix::from_row_slice(1, 2, &[0.0, 1.0]),
    )
    .unwrap();
    assert_eq!(value, 2.5);
    assert_eq!(grad, DMatrix::from_row_slice(1, 2, &[1.0, 2.0]));
}

mod non_finite {
    use nalgebra::DMatrix;
    use rnn_core::cells::{Elman, ElmanDims, ElmanInput};
    use rnn_core::seq::{self, Options};
    use rnn_core::{Cell, Error, recurrent};

    recurrent! {
        /// Grows without bound: exp of its own state.
        cell Growth {
            input x[H];
            state h[H];
            param w[H, H];
            step { h = exp(w * h) + x; }
        }
    }

    const CHECK: Options = Options { check_finite: true };

    fn what(error: Error) -> String {
        match error {
            Error::NonFinite { what } => what,
            other => panic!("expected a non-finite report, got {other:?}"),
        }
    }

    fn elman() -> Elman<f64> {
        Elman::init(ElmanDims { H: 3, I: 2 }, 5).unwrap()
    }

    #[test]
    fn a_nan_input_is_reported_with_its_step() {
        let cell = elman();
        let mut xs = vec![
            ElmanInput {
                x: DMatrix::from_element(2, 1, 0.1)
            };
            5
        ];
        xs[2].x[(1, 0)] = f64::NAN;
        assert!(
            seq::unroll(&cell, &cell.zero_state(1), &xs).is_ok(),
            "the check is opt-in"
        );
        let report = what(seq::unroll_with(&cell, &cell.zero_state(1), &xs, CHECK).unwrap_err());
        assert_eq!(report, "input `x` at step 3 (entry 1, 0)");
    }

    #[test]
    fn a_nan_parameter_is_named() {
        let mut cell = elman();
        cell.b[1] = f64::NAN;
        let xs = vec![
            ElmanInput {
                x: DMatrix::zeros(2, 1)
            };
            2
        ];
        let report = what(seq::unroll_with(&cell, &cell.zero_state(1), &xs, CHECK).unwrap_err());
        assert_eq!(report, "param `b` of Elman (entry 1)");
    }

    #[test]
    fn overflow_is_caught_at_the_first_infinite_state() {
        let cell = Growth::from_params(GrowthDims { H: 2 }, DMatrix::from_element(2, 2, 10.0)).unwrap();
        let xs = vec![
            GrowthInput {
                x: DMatrix::from_element(2, 1, 1.0)
            };
            10
        ];
        let states = seq::run(&cell, &cell.zero_state(1), &xs).unwrap();
        let first_infinite = states
            .iter()
            .position(|s| s.h.iter().any(|v: &f64| !v.is_finite()))
            .unwrap()
            + 1;
        let report = what(seq::unroll_with(&cell, &cell.zero_state(1), &xs, CHECK).unwrap_err());
        assert_eq!(
            report,
            format!("state `h` after step {first_infinite} (entry 0, 0)")
        );
    }

    #[test]
    fn a_nan_adjoint_is_reported_in_the_backward_pass() {
        let cell = elman();
        let xs = vec![
            ElmanInput {
                x: DMatrix::from_element(2, 1, 0.1)
            };
            4
        ];
        let trajectory = seq::unroll_with(&cell, &cell.zero_state(1), &xs, CHECK).unwrap();
        let mut d = vec![cell.zero_state(1); 4];
        d[3].h[(2, 0)] = f64::INFINITY;
        let report = what(seq::bptt_with(&cell, &trajectory, &d, CHECK).unwrap_err());
        assert_eq!(report, "state adjoint `h` given for step 4 (entry 2, 0)");
        assert!(seq::bptt(&cell, &trajectory, &d).is_ok(), "the check is opt-in");
    }
}

#[test]
fn truncation_length_zero_is_rejected() {
    let cell = cell();
    let trajectory = seq::unroll(&cell, &cell.zero_state(1), &inputs(2, 1, 3)).unwrap();
    let err = seq::bptt_truncated(&cell, &trajectory, &vec![cell.zero_state(1); 3], 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Length {
                expected: 1,
                found: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn projection_backward_checks_batches() {
    let cell = cell();
    let input = ElmanInput {
        x: DMatrix::zeros(2, 3),
    };
    let d_proj = cell
        .project(&ElmanInput {
            x: DMatrix::zeros(2, 2),
        })
        .unwrap();
    let err = cell
        .project_backward(&input, &d_proj, &mut cell.zero_grad())
        .unwrap_err();
    assert_shape(err, "projection adjoint of Elman", (3, 3), (3, 2));
    let err = cell.step_cached(&d_proj, &cell.zero_state(4)).unwrap_err();
    assert_shape(err, "projection of Elman", (3, 4), (3, 2));
}

#[test]
fn stack_checks_its_adjoints() {
    use rnn_core::layers::{Direction, Layer, Stack};
    let stack = Stack {
        layers: vec![Layer {
            directions: vec![Direction::new(cell(), false), Direction::new(cell(), true)],
        }],
    };
    let xs: Vec<DMatrix<f64>> = (0..3).map(|_| DMatrix::from_element(2, 1, 0.1)).collect();
    let err = stack.forward(&xs, &[cell().zero_state(1)]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Length {
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let run = stack
        .forward(&xs, &[cell().zero_state(1), cell().zero_state(1)])
        .unwrap();
    let d = vec![DMatrix::zeros(3, 1); 3];
    let err = stack
        .backward(&run, &d, &[cell().zero_state(1), cell().zero_state(1)])
        .unwrap_err();
    assert_shape(err, "output adjoint at step 1", (6, 1), (3, 1));
}

#[test]
fn in_place_steps_reject_workspaces_caches_and_columns_made_for_something_else() {
    let cell = Elman::<f64>::init(ElmanDims { H: 3, I: 2 }, 1).unwrap();
    let projection = cell
        .project(&ElmanInput {
            x: DMatrix::zeros(2, 4),
        })
        .unwrap();
    let state = cell.zero_state(2);
    let mut next = cell.zero_state(2);
    let mismatch = |err: Error, what: &str, expected: &str, found: &str| match &err {
        Error::Mismatch {
            what: w,
            expected: e,
            found: f,
        } => {
            assert!(w.contains(what), "`{w}` should name {what}");
            assert!(e.contains(expected) && f.contains(found), "{err}");
            assert!(err.to_string().contains(expected) && err.to_string().contains(found));
        }
        other => panic!("expected a mismatch of {what}, got {other:?}"),
    };

    let mut wide_workspace = cell.workspace(3, 1);
    let err = cell
        .step_into(&projection, 0, &state, &mut next, None, &mut wide_workspace)
        .unwrap_err();
    mismatch(err, "workspace of Elman", "batch 2", "batch 3");

    let other = Elman::<f64>::init(ElmanDims { H: 3, I: 5 }, 1).unwrap();
    let mut other_workspace = other.workspace(2, 1);
    let err = cell
        .step_into(&projection, 0, &state, &mut next, None, &mut other_workspace)
        .unwrap_err();
    mismatch(err, "workspace of Elman", "I: 2", "I: 5");

    let mut workspace = cell.workspace(2, 1);
    let mut small_cache = cell.new_cache(1);
    let err = cell
        .step_into(
            &projection,
            0,
            &state,
            &mut next,
            Some(&mut small_cache),
            &mut workspace,
        )
        .unwrap_err();
    mismatch(err, "cache of Elman", "batch 2", "batch 1");

    // Columns 3..5 of a projection of 4 columns.
    let err = cell
        .step_into(&projection, 3, &state, &mut next, None, &mut workspace)
        .unwrap_err();
    match err {
        Error::Length {
            what,
            expected,
            found,
        } => {
            assert!(
                what.contains("projection of Elman") && what.contains("column 3"),
                "{what}"
            );
            assert_eq!((expected, found), (5, 4));
        }
        other => panic!("expected a column range error, got {other:?}"),
    }
    // Columns 2..4 are fine, and give what the one-step call gives on those columns.
    cell.step_into(&projection, 2, &state, &mut next, None, &mut workspace)
        .unwrap();
    let columns =
        rnn_core::cells::ElmanProjection::from_fn(|k| projection.get(k).unwrap().columns(2, 2).into_owned());
    assert_eq!(next, cell.step(&columns, &state).unwrap());
}
