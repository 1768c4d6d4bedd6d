//! PyTorch parity in float64 for the cells with PyTorch's conventions (`testdata/pytorch/`):
//! outputs, final states and every gradient (parameters, inputs, initial states) within
//! `1e-10 · max(1, |reference|)`. Parameters are matched by PyTorch name.

mod vectors;

use nalgebra::DMatrix;
use rnn_core::cells::{Gru, GruDims, Lstm, LstmDims, RnnRelu, RnnReluDims, RnnTanh, RnnTanhDims};
use rnn_core::{Cell, Tensors, seq};
use vectors::{assert_close, assert_param_grads, batch_matrix, load, load_params, sequence};

/// A one-layer, one-direction module file: `rnn_tanh`, `rnn_relu`, `lstm`, `gru`.
fn check_module<C: Cell<f64>>(mut cell: C, file: &str) {
    let data = load(file);
    load_params(&mut cell, &data["params"], "_l0");
    let inputs: Vec<C::Input> = sequence(&data["inputs"]["x"])
        .into_iter()
        .map(|x| C::Input::from_fn(|_| x.clone()))
        .collect();
    let initial =
        C::State::from_fn(|k| sequence(&data["inputs"][format!("{}0", C::State::NAMES[k])]).remove(0));
    let trajectory = seq::unroll(&cell, &initial, &inputs).unwrap();
    for (t, expected) in sequence(&data["outputs"]["output"]).iter().enumerate() {
        assert_close(
            &format!("{file} output[{t}]"),
            trajectory.output(t + 1).unwrap(),
            expected,
        );
    }
    for (k, name) in C::State::NAMES.iter().enumerate() {
        let expected = sequence(&data["outputs"][format!("{name}_n")]).remove(0);
        assert_close(
            &format!("{file} {name}_n"),
            trajectory.last_state().get(k).unwrap(),
            &expected,
        );
    }
    // L = sum(output * G) + sum(h_n * Gh) [+ sum(c_n * Gc)].
    let steps = inputs.len();
    let g = sequence(&data["loss"]["G"]);
    let mut d_states: Vec<C::State> = (0..steps)
        .map(|t| {
            C::State::from_fn(|k| {
                if k == C::OUTPUT {
                    g[t].clone()
                } else {
                    DMatrix::zeros(g[t].nrows(), g[t].ncols())
                }
            })
        })
        .collect();
    for (k, name) in C::State::NAMES.iter().enumerate() {
        let key = format!("G{name}");
        let final_seed = sequence(&data["loss"][key.as_str()]).remove(0);
        *d_states[steps - 1].get_mut(k).unwrap() += final_seed;
    }
    let grads = seq::bptt(&cell, &trajectory, &d_states).unwrap();
    let reference = &data["grads"];
    assert_param_grads::<C>(&grads.params, reference, "_l0");
    for (t, expected) in sequence(&reference["x"]).iter().enumerate() {
        assert_close(
            &format!("{file} dL/dx[{t}]"),
            grads.inputs[t].get(0).unwrap(),
            expected,
        );
    }
    for (k, name) in C::State::NAMES.iter().enumerate() {
        let expected = sequence(&reference[format!("{name}0")]).remove(0);
        assert_close(
            &format!("{file} dL/d{name}0"),
            grads.initial_state.get(k).unwrap(),
            &expected,
        );
    }
}

/// A cell file: `rnn_tanh_cell`, `lstm_cell`, `gru_cell` (one step).
fn check_cell_file<C: Cell<f64>>(mut cell: C, file: &str) {
    let data = load(file);
    load_params(&mut cell, &data["params"], "");
    let input = C::Input::from_fn(|_| batch_matrix(&data["inputs"]["x"]));
    let state = C::State::from_fn(|k| batch_matrix(&data["inputs"][C::State::NAMES[k]]));
    let trajectory = seq::unroll(&cell, &state, std::slice::from_ref(&input)).unwrap();
    for (k, name) in C::State::NAMES.iter().enumerate() {
        let expected = batch_matrix(&data["outputs"][format!("{name}_next")]);
        assert_close(
            &format!("{file} {name}_next"),
            trajectory.last_state().get(k).unwrap(),
            &expected,
        );
    }
    let d = C::State::from_fn(|k| batch_matrix(&data["loss"][format!("G{}", C::State::NAMES[k])]));
    let grads = seq::bptt(&cell, &trajectory, &[d]).unwrap();
    let reference = &data["grads"];
    assert_param_grads::<C>(&grads.params, reference, "");
    assert_close(
        &format!("{file} dL/dx"),
        grads.inputs[0].get(0).unwrap(),
        &batch_matrix(&reference["x"]),
    );
    for (k, name) in C::State::NAMES.iter().enumerate() {
        assert_close(
            &format!("{file} dL/d{name}"),
            grads.initial_state.get(k).unwrap(),
            &batch_matrix(&reference[*name]),
        );
    }
}

#[test]
fn rnn_tanh_matches_torch() {
    check_module(
        RnnTanh::<f64>::new(RnnTanhDims { H: 5, I: 4 }).unwrap(),
        "rnn_tanh.json",
    );
    check_cell_file(
        RnnTanh::<f64>::new(RnnTanhDims { H: 5, I: 4 }).unwrap(),
        "rnn_tanh_cell.json",
    );
}

#[test]
fn rnn_relu_matches_torch() {
    check_module(
        RnnRelu::<f64>::new(RnnReluDims { H: 5, I: 4 }).unwrap(),
        "rnn_relu.json",
    );
}

#[test]
fn lstm_matches_torch() {
    check_module(Lstm::<f64>::new(LstmDims { H: 5, I: 4 }).unwrap(), "lstm.json");
    check_cell_file(
        Lstm::<f64>::new(LstmDims { H: 5, I: 4 }).unwrap(),
        "lstm_cell.json",
    );
}

#[test]
fn gru_matches_torch() {
    check_module(Gru::<f64>::new(GruDims { H: 5, I: 4 }).unwrap(), "gru.json");
    check_cell_file(Gru::<f64>::new(GruDims { H: 5, I: 4 }).unwrap(), "gru_cell.json");
}
