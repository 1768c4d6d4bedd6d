//! Regression tests of the bugs an adversarial pass over the public API found (each failed before
//! its fix: a panic, a silently wrong result or a misleading message), and of the messages that
//! name steps: steps are numbered from 1 everywhere (step `t` reads `inputs[t - 1]` and produces
//! state `t`).

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, ElmanState};
use rnn_core::clip::{Flat, clip_elementwise, clip_global_norm};
use rnn_core::layers::{Direction, Layer, Stack};
use rnn_core::optim::{Adam, Momentum, Optimizer, Sgd};
use rnn_core::weights::Slot;
use rnn_core::{Cell, Error, ParamSet, checkpoint, drivers, esn, loss, seq};
use std::path::PathBuf;

fn elman(hidden: usize, input: usize, seed: u64) -> Elman<f64> {
    Elman::init(ElmanDims { H: hidden, I: input }, seed).unwrap()
}

fn inputs(input: usize, steps: usize) -> Vec<ElmanInput<f64>> {
    (0..steps)
        .map(|t| ElmanInput {
            x: DMatrix::from_fn(input, 1, |i, _| ((t + i) as f64 * 0.7).sin()),
        })
        .collect()
}

fn matrices(xs: &[ElmanInput<f64>]) -> Vec<DMatrix<f64>> {
    xs.iter().map(|x| x.x.clone()).collect()
}

/// A scratch directory of this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rnn-regressions-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// 2.1: a stack's backward given the run of a stack of another structure.
#[test]
fn stack_backward_refuses_the_run_of_another_stack() {
    let h0 = elman(3, 2, 0).zero_state(1);
    let xs = matrices(&inputs(2, 4));
    let one_direction = Stack {
        layers: vec![Layer {
            directions: vec![Direction::new(elman(3, 2, 1), false)],
        }],
    };
    let run = one_direction.forward(&xs, std::slice::from_ref(&h0)).unwrap();
    let bidirectional = Stack {
        layers: vec![Layer {
            directions: vec![
                Direction::new(elman(3, 2, 1), false),
                Direction::new(elman(3, 2, 2), true),
            ],
        }],
    };
    let d_outputs = vec![DMatrix::zeros(3, 1); 4];
    // One final-state adjoint, as many as the run has: this wrapped below 0 before.
    let error = bidirectional
        .backward(&run, &d_outputs, std::slice::from_ref(&h0))
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Length {
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{error}"
    );
    let error = bidirectional
        .backward(&run, &vec![DMatrix::zeros(6, 1); 4], &[h0.clone(), h0.clone()])
        .unwrap_err();
    assert!(
        matches!(&error, Error::Length { what, expected: 2, found: 1 } if what.contains("directions")),
        "{error}"
    );
    // Two layers against a run of one.
    let deeper = Stack {
        layers: vec![
            Layer {
                directions: vec![Direction::new(elman(3, 2, 1), false)],
            },
            Layer {
                directions: vec![Direction::new(elman(3, 3, 2), false)],
            },
        ],
    };
    let error = deeper.backward(&run, &d_outputs, &[h0.clone(), h0]).unwrap_err();
    assert!(
        matches!(&error, Error::Length { what, expected: 2, found: 1 } if what.contains("layers")),
        "{error}"
    );
}

// 2.1, the same at the level of a direction: a forward run handed to a reverse direction.
#[test]
fn direction_backward_refuses_a_run_of_the_other_direction() {
    let cell = elman(3, 2, 1);
    let h0 = cell.zero_state(1);
    let xs = matrices(&inputs(2, 4));
    let forward = Direction::new(cell.clone(), false);
    let reverse = Direction::new(cell, true);
    let run = forward.forward(&xs, &h0).unwrap();
    let error = reverse
        .backward(&run, &vec![DMatrix::zeros(3, 1); 4], &h0)
        .unwrap_err();
    assert!(matches!(error, Error::Mismatch { .. }), "{error}");
    assert!(
        forward
            .backward(&run, &vec![DMatrix::zeros(3, 1); 4], &h0)
            .is_ok()
    );
}

// 2.2
#[test]
fn nrmse_of_different_shapes_is_an_error() {
    let error = esn::nrmse(&DMatrix::zeros(2, 2), &DMatrix::from_element(3, 1, 1.0)).unwrap_err();
    assert_eq!(
        error,
        Error::Shape {
            what: "prediction given to nrmse (the target's shape)".into(),
            expected: (3, 1),
            found: (2, 2),
        }
    );
    assert!(matches!(
        esn::nrmse(&DMatrix::zeros(0, 0), &DMatrix::zeros(0, 0)),
        Err(Error::EmptySequence { .. })
    ));
    // A constant target has no spread to divide by.
    assert!(matches!(
        esn::nrmse(&DMatrix::zeros(1, 3), &DMatrix::from_element(1, 3, 2.0)),
        Err(Error::OutOfRange { .. })
    ));
    let target = DMatrix::from_row_slice(1, 4, &[1.0, -1.0, 1.0, -1.0]);
    let predicted = DMatrix::from_row_slice(1, 4, &[0.5, -1.0, 1.0, -1.0]);
    // RMSE √(0.25/4) over a standard deviation of 1.
    assert_eq!(esn::nrmse(&predicted, &target).unwrap(), 0.25);
}

#[test]
fn spectral_radius_of_the_empty_matrix_is_zero() {
    assert_eq!(esn::spectral_radius(&DMatrix::zeros(0, 0)), Ok(0.0));
    assert!(matches!(
        esn::spectral_radius(&DMatrix::zeros(0, 3)),
        Err(Error::Shape { .. })
    ));
}

// 2.3: a forward record handed to a cell of other dimensions.
#[test]
fn bptt_refuses_the_trajectory_of_a_cell_of_other_dimensions() {
    let cell = elman(3, 2, 1);
    let trajectory = seq::unroll(&cell, &cell.zero_state(1), &inputs(2, 4)).unwrap();
    let wider = elman(4, 2, 1);
    let error = seq::bptt(&wider, &trajectory, &vec![wider.zero_state(1); 4]).unwrap_err();
    assert_eq!(
        error,
        Error::Shape {
            what: "initial state of the trajectory given to Elman `h`".into(),
            expected: (4, 1),
            found: (3, 1),
        }
    );
    let other_input = elman(3, 5, 1);
    let error = seq::bptt(&other_input, &trajectory, &vec![other_input.zero_state(1); 4]).unwrap_err();
    assert!(
        matches!(&error, Error::Shape { what, expected: (5, 4), found: (2, 4) } if what.contains("input")),
        "{error}"
    );
    let packed = drivers::unroll_lengths(&cell, &cell.zero_state(1), &inputs(2, 4), &[3]).unwrap();
    assert!(
        drivers::bptt_lengths(
            &wider,
            &packed,
            &vec![wider.zero_state(1); 4],
            &wider.zero_state(1)
        )
        .is_err()
    );
}

// 2.4
#[test]
fn clipping_refuses_negative_and_non_finite_limits_and_leaves_the_gradient() {
    let original = Flat(vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]);
    for limit in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0 - 1e-300] {
        let mut g = original.clone();
        assert!(
            clip_global_norm(&mut g, limit).is_err(),
            "global norm, limit {limit}"
        );
        assert_eq!(g, original, "global norm, limit {limit}");
        let mut g = original.clone();
        assert!(
            clip_elementwise(&mut g, limit).is_err(),
            "element-wise, limit {limit}"
        );
        assert_eq!(g, original, "element-wise, limit {limit}");
    }
    assert!(matches!(
        clip_global_norm(&mut original.clone(), -1.0),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        clip_global_norm(&mut original.clone(), f64::NAN),
        Err(Error::NonFinite { .. })
    ));
    // A limit of 0 is allowed: everything is clipped to 0.
    let mut g = original.clone();
    clip_elementwise(&mut g, 0.0).unwrap();
    assert!(g.0.iter().all(|&x| x == 0.0));
    let mut g = original.clone();
    clip_elementwise(&mut g, 1.5).unwrap();
    assert_eq!(g.0, vec![-1.5, -1.5, -1.0, 0.0, 1.0, 1.5]);
}

fn trained_checkpoint(dir: &Scratch) -> (PathBuf, Elman<f64>) {
    let cell = elman(3, 2, 1);
    let mut trained = cell.clone();
    let mut adam = Adam::new(0.01);
    adam.step(&mut trained, &cell).unwrap();
    let path = dir.0.join("checkpoint.safetensors");
    checkpoint::save(&path, &trained, Slot::cell(), &adam).unwrap();
    (path, trained)
}

// 2.5
#[test]
fn checkpoint_load_is_all_or_nothing() {
    let dir = Scratch::new("load");
    let (path, trained) = trained_checkpoint(&dir);
    let untouched = elman(3, 2, 9);
    let mut params = untouched.clone();
    let mut sgd = Sgd { learning_rate: 0.1 };
    assert!(checkpoint::load(&path, &mut params, Slot::cell(), &mut sgd).is_err());
    assert_eq!(
        params.to_flat(),
        untouched.to_flat(),
        "SGD: parameters written before the error"
    );
    // Momentum takes a buffer of one entry per parameter, not Adam's 2n + 1.
    let mut momentum = Momentum::new(0.1, 0.9);
    let before = momentum.clone();
    assert!(checkpoint::load(&path, &mut params, Slot::cell(), &mut momentum).is_err());
    assert_eq!(
        params.to_flat(),
        untouched.to_flat(),
        "momentum: parameters written"
    );
    assert_eq!(momentum, before);
    // Parameters of another shape: nothing written into the optimizer either.
    let mut wrong = elman(4, 2, 1);
    let mut adam = Adam::new(0.5);
    let fresh = adam.clone();
    assert!(checkpoint::load(&path, &mut wrong, Slot::cell(), &mut adam).is_err());
    assert_eq!(adam, fresh);
    // The right pair loads.
    let mut adam = Adam::new(0.01);
    checkpoint::load(&path, &mut params, Slot::cell(), &mut adam).unwrap();
    assert_eq!(params.to_flat(), trained.to_flat());
    assert_eq!(adam.state().len(), 2 * trained.param_count() + 1);
}

// 2.6
#[test]
fn a_failed_save_names_the_file_it_could_not_write_and_leaves_nothing_behind() {
    let dir = Scratch::new("save");
    let cell = elman(3, 2, 1);
    let sgd = Sgd { learning_rate: 0.1 };
    // The temporary file's name is taken by a directory: the error names that path.
    let path = dir.0.join("blocked.safetensors");
    let temporary = dir.0.join("blocked.safetensors.partial");
    std::fs::create_dir(&temporary).unwrap();
    match checkpoint::save(&path, &cell, Slot::cell(), &sgd).unwrap_err() {
        Error::Io { path: named, .. } => assert_eq!(named, temporary.display().to_string()),
        other => panic!("expected an I/O error, got {other}"),
    }
    assert!(temporary.is_dir(), "a directory that is not ours was removed");
    assert!(!path.exists());
    // The rename fails (the target is a directory): the temporary file is removed.
    let target = dir.0.join("a-directory");
    std::fs::create_dir(&target).unwrap();
    match checkpoint::save(&target, &cell, Slot::cell(), &sgd).unwrap_err() {
        Error::Io { path: named, .. } => assert_eq!(named, target.display().to_string()),
        other => panic!("expected an I/O error, got {other}"),
    }
    assert!(
        !dir.0.join("a-directory.partial").exists(),
        "the temporary file was left behind"
    );
}

// 2.8
#[test]
fn an_empty_stack_or_layer_is_an_error() {
    let xs = matrices(&inputs(2, 4));
    let empty: Stack<f64, Elman<f64>> = Stack { layers: vec![] };
    assert!(matches!(empty.forward(&xs, &[]), Err(Error::OutOfRange { .. })));
    let no_directions: Layer<f64, Elman<f64>> = Layer { directions: vec![] };
    assert!(matches!(
        no_directions.forward(&xs, &[]),
        Err(Error::OutOfRange { .. })
    ));
    let in_stack = Stack {
        layers: vec![no_directions.clone()],
    };
    assert!(matches!(
        in_stack.forward(&xs, &[]),
        Err(Error::OutOfRange { .. })
    ));
    // A layer emptied after its forward pass.
    let cell = elman(3, 2, 1);
    let mut layer = Layer {
        directions: vec![Direction::new(cell.clone(), false)],
    };
    let run = layer.forward(&xs, &[cell.zero_state(1)]).unwrap();
    layer.directions.clear();
    assert!(layer.backward(&run, &vec![DMatrix::zeros(3, 1); 4], &[]).is_err());
}

rnn_core::recurrent! {
    /// Two inputs of one size: a layer would feed `x_t` to both.
    pub cell TwoInputs {
        input x[I], u[I];
        state h[H];
        param w[H, I], v[H, I], r[H, H];
        step { h = tanh(w * x + v * u + r * h); }
    }
}

// 2.9
#[test]
fn layers_refuse_cells_with_several_inputs() {
    let cell = TwoInputs::<f64>::init(TwoInputsDims { H: 2, I: 2 }, 3).unwrap();
    let h0 = cell.zero_state(1);
    let xs = matrices(&inputs(2, 4));
    let layer = Layer {
        directions: vec![Direction::new(cell.clone(), false)],
    };
    let error = layer.forward(&xs, std::slice::from_ref(&h0)).unwrap_err();
    assert_eq!(
        error,
        Error::Length {
            what: "inputs of TwoInputs (a layer feeds one input)".into(),
            expected: 1,
            found: 2,
        }
    );
    let stack = Stack { layers: vec![layer] };
    assert!(stack.forward(&xs, &[h0]).is_err());
}

// Point 3: steps are numbered from 1 in every message.
#[test]
fn every_message_numbers_the_first_step_1() {
    let cell = elman(3, 2, 1);
    let h0 = cell.zero_state(1);
    let mut xs = inputs(2, 4);
    xs[0].x = DMatrix::zeros(5, 1);
    let shape = seq::unroll(&cell, &h0, &xs).unwrap_err().to_string();
    assert!(shape.contains("input at step 1 of Elman"), "{shape}");
    let mut xs = inputs(2, 4);
    xs[0].x[(0, 0)] = f64::NAN;
    let options = seq::Options { check_finite: true };
    let finite = seq::unroll_with(&cell, &h0, &xs, options)
        .unwrap_err()
        .to_string();
    assert!(finite.contains("at step 1 "), "{finite}");

    let xs = inputs(2, 4);
    let mut d_states = vec![h0.clone(); 4];
    d_states[0] = ElmanState {
        h: DMatrix::zeros(7, 1),
    };
    let trajectory = seq::unroll(&cell, &h0, &xs).unwrap();
    let bptt = seq::bptt(&cell, &trajectory, &d_states).unwrap_err().to_string();
    let packed = drivers::unroll_lengths(&cell, &h0, &xs, &[4]).unwrap();
    let lengths = drivers::bptt_lengths(&cell, &packed, &d_states, &h0)
        .unwrap_err()
        .to_string();
    assert!(bptt.contains("state adjoint at step 1 of Elman"), "{bptt}");
    assert_eq!(bptt, lengths);
}

#[test]
fn loss_messages_say_what_is_wrong() {
    let error = loss::cross_entropy(&DMatrix::<f64>::zeros(3, 2), &[0, 3], 1.0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cross-entropy target class of column 1 is 3, outside its range 0..3 (the logits' rows)"
    );
    let error = loss::softmax(&DMatrix::<f64>::zeros(3, 1), -1.0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "softmax temperature is -1, outside its range (0, ∞) (finite)"
    );
    let error = loss::softmax(&DMatrix::<f64>::zeros(3, 1), f64::NAN).unwrap_err();
    assert_eq!(error.to_string(), "the softmax temperature (NaN) is not finite");
}

#[test]
fn fitting_an_echo_state_network_to_nothing_says_so() {
    let config = esn::EsnConfig {
        reservoir_size: 20,
        density: 0.5,
        washout: 0,
        ..esn::EsnConfig::default()
    };
    let mut network = esn::EchoStateNetwork::new(1, 1, config).unwrap();
    let error = network.fit(&[], &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the input sequence given to EchoStateNetwork::fit is empty; a sequence needs at least one step"
    );
    network.washout = 3;
    let steps = vec![DMatrix::from_element(1, 1, 0.5); 3];
    let error = network.fit(&steps, &steps).unwrap_err();
    assert_eq!(
        error.to_string(),
        "washout (steps skipped before training) is 3, outside its range 0..3 (fewer than the 3 steps given)"
    );
}

// Found by the API harness: a tiny temperature overflowed `z / τ` into `∞ − ∞ = NaN`.
#[test]
fn softmax_at_a_tiny_temperature_is_the_arg_max() {
    let z = DMatrix::from_column_slice(3, 1, &[0.5, -1.25, 2.0]);
    let p = loss::softmax(&z, 5e-324).unwrap();
    assert_eq!(p.as_slice(), &[0.0, 0.0, 1.0]);
    let log_p = loss::log_softmax(&z, 5e-324).unwrap();
    assert_eq!(log_p[(2, 0)], 0.0);
    assert!(log_p[(0, 0)] == f64::NEG_INFINITY && log_p[(1, 0)] == f64::NEG_INFINITY);
    let (value, grad) = loss::cross_entropy(&z, &[2], 5e-324).unwrap();
    assert_eq!(value, 0.0);
    assert!(grad.iter().all(|g| g.is_finite()), "{grad}");
}

// Found by the API harness: the Schur iteration overflowed and reported radius 0.
#[test]
fn spectral_radius_of_huge_entries_scales_them() {
    let m = DMatrix::from_row_slice(2, 2, &[2.006e299, 3.894e300, -2.568e299, 0.0]);
    let scaled = esn::spectral_radius(&(&m * 1e-300)).unwrap();
    let radius = esn::spectral_radius(&m).unwrap();
    assert!(
        (radius - scaled * 1e300).abs() <= 1e-12 * radius,
        "{radius:e} against {:e}",
        scaled * 1e300
    );
}

// Found by the API harness: a nilpotent draw was scaled by a radius made of rounding errors,
// and a huge target overflowed the reservoir to infinities.
#[test]
fn an_echo_state_network_has_the_radius_it_promises_or_an_error() {
    let nilpotent = esn::EsnConfig {
        reservoir_size: 5,
        spectral_radius: 0.736214760623411,
        density: 0.21414584194881683,
        input_scaling: 0.5220113129612655,
        bias_scaling: 0.6649938390250185,
        leak: 0.8347074517726428,
        ridge: 0.0060300011598887334,
        washout: 0,
        seed: 11370364552228205491,
    };
    let huge = esn::EsnConfig {
        reservoir_size: 5,
        spectral_radius: f64::MAX,
        density: 0.5,
        ..esn::EsnConfig::default()
    };
    for config in [nilpotent, huge] {
        match esn::EchoStateNetwork::new(1, 1, config) {
            Ok(network) => {
                let radius = esn::spectral_radius(&network.reservoir.w).unwrap();
                assert!(
                    (radius - config.spectral_radius).abs() <= 1e-6 * config.spectral_radius,
                    "radius {radius} for {config:?}"
                );
            }
            Err(error) => assert!(matches!(
                error,
                Error::OutOfRange { .. } | Error::NonFinite { .. }
            )),
        }
    }
}

// Found by the API harness: counts taken from the caller made buffers that overflowed or could
// not be allocated (a panic, or an abort no caller can catch).
#[test]
fn huge_counts_are_errors() {
    let cell = elman(3, 2, 1);
    let h0 = cell.zero_state(1);
    let context = ElmanInput {
        x: DMatrix::zeros(2, 1),
    };
    for steps in [1 << 40, usize::MAX / 2, usize::MAX] {
        assert!(
            drivers::one_to_many(&cell, &h0, &context, steps).is_err(),
            "{steps}"
        );
        assert!(
            drivers::last_output_adjoint(&cell, steps, &DMatrix::zeros(3, 1)).is_err(),
            "{steps}"
        );
        assert!(
            rnn_core::dense::Dense::<f64>::init(steps, 3, 1).is_err(),
            "{steps}"
        );
        let decoder = drivers::Decoder {
            cell: elman(3, 2, 1),
            readout: rnn_core::dense::Dense::init(2, 3, 1).unwrap(),
        };
        assert!(
            decoder.generate(&h0, &DMatrix::zeros(2, 1), steps).is_err(),
            "{steps}"
        );
    }
    // A window reaching that far back is full BPTT: nothing is reserved for it up front.
    let mut tbptt = drivers::TruncatedBptt::new(&cell, &h0, usize::MAX).unwrap();
    let window = tbptt.window(&cell, &inputs(2, 3)).unwrap();
    assert_eq!(window.trajectory().len(), 3);
}

// Found by the API harness: save wrote a diverged optimizer state that load then refused.
#[test]
fn a_checkpoint_that_load_would_refuse_is_not_written() {
    let dir = Scratch::new("diverged");
    let cell = elman(3, 2, 1);
    let mut params = cell.clone();
    let mut adam = Adam::new(0.01);
    let mut huge = cell.clone();
    huge.visit_mut(|_, _, data| data.iter_mut().for_each(|x| *x = 1e300));
    adam.step(&mut params, &huge).unwrap();
    let path = dir.0.join("diverged.safetensors");
    assert!(matches!(
        checkpoint::save(&path, &params, Slot::cell(), &adam),
        Err(Error::NonFinite { .. })
    ));
    assert!(!path.exists());
}

// Found by the API harness: the extent of a strided view overflowed.
#[test]
fn strided_views_whose_extent_overflows_are_errors() {
    let data = [0.0_f64; 8];
    let huge = usize::MAX / 2 + 1;
    assert!(rnn_core::gemm::Mat::strided(&data, 2, 2, huge, huge).is_err());
    assert!(rnn_core::gemm::Mat::col_major(&data, huge, 4).is_err());
    let mut out = [0.0_f64; 8];
    assert!(rnn_core::gemm::MatMut::with_col_stride(&mut out, 2, 2, usize::MAX).is_err());
    assert!(rnn_core::gemm::Mat::strided(&data, 2, 4, 1, 2).is_ok());
}

// Found by the API harness: `column + batch` overflowed in the projection check of a step, and
// a workspace for a huge number of deferred steps could not be allocated.
#[test]
fn steps_at_a_huge_column_and_huge_workspaces_are_handled() {
    let cell = elman(3, 2, 1);
    let state = cell.zero_state(1);
    let projection = cell
        .project(&ElmanInput {
            x: DMatrix::zeros(2, 1),
        })
        .unwrap();
    let mut next = cell.zero_state(1);
    let mut workspace = cell.workspace(1, usize::MAX);
    let error = cell
        .step_into(&projection, usize::MAX, &state, &mut next, None, &mut workspace)
        .unwrap_err();
    assert!(matches!(error, Error::Length { .. }), "{error}");
    assert!(
        cell.step_into(&projection, 0, &state, &mut next, None, &mut workspace)
            .is_ok()
    );
}

// Found by the API harness: a cell whose dimensions fit in `isize::MAX` bytes but not in memory
// aborted the process while allocating its parameters.
#[test]
fn a_cell_too_large_for_memory_is_an_error() {
    for input in [1 << 40, 1 << 44] {
        let error = Elman::<f64>::init(ElmanDims { H: 2, I: input }, 1).unwrap_err();
        assert!(matches!(error, Error::OutOfRange { .. }), "{error}");
        assert!(error.to_string().contains("param `w_hx` of Elman"), "{error}");
        assert!(Elman::<f64>::new(ElmanDims { H: 2, I: input }).is_err());
    }
}

// Found by the API harness: edge cases of the losses, the optimizers, clipping and writers.
#[test]
fn degenerate_settings_and_sizes_are_errors_or_exact() {
    // No class: no distribution.
    assert!(matches!(
        loss::softmax(&DMatrix::<f64>::zeros(0, 1), 1.0),
        Err(Error::Shape { .. })
    ));
    // ε = 0 turned a zero gradient into 0 / 0, and a subnormal ε let a gradient whose square
    // underflows step by η |g| / ε ≫ η.
    for epsilon in [0.0, 5e-324, 1e-200] {
        let mut adam = Adam::new(0.25);
        adam.epsilon = epsilon;
        let mut params = Flat(vec![1.0, 2.0]);
        assert!(
            adam.step(&mut params, &Flat(vec![0.0, -1e-300])).is_err(),
            "ε = {epsilon:e}"
        );
        assert_eq!(params.0, vec![1.0, 2.0]);
    }
    let mut adam = Adam::new(0.25);
    adam.epsilon = 1.5e-154;
    let mut params = Flat(vec![1.0_f64, 2.0]);
    adam.step(&mut params, &Flat(vec![0.0, -1e-300])).unwrap();
    assert!(
        (params.0[1] - 2.0).abs() <= 0.25,
        "a first step beyond η: {}",
        params.0[1]
    );
    // A norm near f64::MAX: the clipped gradient has norm τ to rounding.
    let mut g = Flat(vec![f64::MAX, 0.0]);
    let tau = 2.8629806349269536e-4;
    clip_global_norm(&mut g, tau).unwrap();
    assert!(
        (g.0[0] - tau).abs() <= 2.0 * f64::EPSILON * tau,
        "{} against {tau}",
        g.0[0]
    );
    // A spectral radius beyond f64's range.
    assert!(esn::spectral_radius(&DMatrix::from_element(4, 4, f64::MAX)).is_err());
    // A set with a repeated name adds nothing.
    let mut writer = rnn_core::weights::WeightWriter::new();
    let one = Flat(vec![1.0_f64]);
    assert!(writer.add(&(one.clone(), one.clone()), Slot::cell()).is_err());
    writer.add(&one, Slot::cell()).unwrap();
}

// Found by the API harness: a scaling whose width 2s overflows drew an infinite reservoir.
#[test]
fn echo_state_scalings_are_checked() {
    for (input_scaling, bias_scaling) in [
        (f64::MAX, 0.0),
        (0.5, f64::INFINITY),
        (f64::NAN, 0.1),
        (-1.0, 0.1),
    ] {
        let config = esn::EsnConfig {
            reservoir_size: 4,
            density: 0.8,
            input_scaling,
            bias_scaling,
            ..esn::EsnConfig::default()
        };
        let error = esn::EchoStateNetwork::new(1, 1, config).unwrap_err();
        assert!(matches!(error, Error::OutOfRange { .. }), "{error}");
    }
}

// Found by the API harness: `Aᵀ B` with an empty inner dimension indexed an empty `A`.
#[test]
fn a_transposed_product_over_nothing_is_zero() {
    use rnn_core::gemm::{Mat, MatMut, gemm_tn};
    let (a, b) = ([0.0_f64; 0], [0.0_f64; 0]);
    let mut c = [7.0_f64; 4];
    let a = Mat::strided(&a, 0, 2, 1, 1).unwrap();
    let b = Mat::strided(&b, 0, 1, 1, 0).unwrap();
    gemm_tn(MatMut::with_col_stride(&mut c, 2, 1, 2).unwrap(), a, b, false).unwrap();
    assert_eq!(c, [0.0, 0.0, 7.0, 7.0]);
}
