//! Stacked and bidirectional networks against PyTorch in float64 (`testdata/pytorch/`:
//! `lstm_2layer.json`, `gru_bidir.json`, `lstm_bidir_2layer.json`): outputs, final states and
//! every gradient (each layer's and direction's parameters, inputs, initial states) within 1e-10
//! relative.

mod vectors;

use nalgebra::DMatrix;
use rnn_core::cells::{Gru, GruDims, Lstm, LstmDims};
use rnn_core::layers::{Direction, Layer, Stack};
use rnn_core::{Cell, Tensors};
use vectors::{assert_close, assert_param_grads, load, load_params, sequence};

fn check<C: Cell<f64>>(file: &str, make: impl Fn(usize, usize) -> C) {
    let data = load(file);
    let dims = &data["dims"];
    let get = |k: &str| dims[k].as_u64().unwrap() as usize;
    let (i, h, layers, directions) = (get("I"), get("H"), get("num_layers"), get("num_directions"));
    let suffix = |layer: usize, d: usize| format!("_l{layer}{}", if d == 1 { "_reverse" } else { "" });
    let stack = Stack {
        layers: (0..layers)
            .map(|layer| Layer {
                directions: (0..directions)
                    .map(|d| {
                        let mut cell = make(h, if layer == 0 { i } else { directions * h });
                        load_params(&mut cell, &data["params"], &suffix(layer, d));
                        Direction::new(cell, d == 1)
                    })
                    .collect(),
            })
            .collect(),
    };
    let xs = sequence(&data["inputs"]["x"]);
    let state_seq = |key: &str| -> Vec<Vec<DMatrix<f64>>> {
        C::State::NAMES
            .iter()
            .map(|name| sequence(&data[key][format!("{name}{}", if key == "inputs" { "0" } else { "_n" })]))
            .collect()
    };
    let initial_parts = state_seq("inputs");
    let initial: Vec<C::State> = (0..layers * directions)
        .map(|k| C::State::from_fn(|s| initial_parts[s][k].clone()))
        .collect();
    let run = stack.forward(&xs, &initial).unwrap();
    for (t, expected) in sequence(&data["outputs"]["output"]).iter().enumerate() {
        assert_close(&format!("{file} output[{t}]"), &run.outputs()[t], expected);
    }
    let final_parts = state_seq("outputs");
    for (k, state) in run.finals().enumerate() {
        for (s, name) in C::State::NAMES.iter().enumerate() {
            assert_close(
                &format!("{file} {name}_n[{k}]"),
                state.get(s).unwrap(),
                &final_parts[s][k],
            );
        }
    }
    // L = sum(output * G) + sum(h_n * Gh) [+ sum(c_n * Gc)].
    let g = sequence(&data["loss"]["G"]);
    let seeds: Vec<Vec<DMatrix<f64>>> = C::State::NAMES
        .iter()
        .map(|name| sequence(&data["loss"][format!("G{name}")]))
        .collect();
    let d_finals: Vec<C::State> = (0..layers * directions)
        .map(|k| C::State::from_fn(|s| seeds[s][k].clone()))
        .collect();
    let grads = stack.backward(&run, &g, &d_finals).unwrap();
    let reference = &data["grads"];
    for layer in 0..layers {
        for d in 0..directions {
            assert_param_grads::<C>(
                &grads.directions[layer * directions + d].params,
                reference,
                &suffix(layer, d),
            );
        }
    }
    for (t, expected) in sequence(&reference["x"]).iter().enumerate() {
        assert_close(&format!("{file} dL/dx[{t}]"), &grads.inputs[t], expected);
    }
    for (s, name) in C::State::NAMES.iter().enumerate() {
        let expected = sequence(&reference[format!("{name}0")]);
        for (k, grad) in grads.directions.iter().enumerate() {
            assert_close(
                &format!("{file} dL/d{name}0[{k}]"),
                grad.initial_state.get(s).unwrap(),
                &expected[k],
            );
        }
    }
}

#[test]
fn two_layer_lstm_matches_torch() {
    check("lstm_2layer.json", |h, i| {
        Lstm::<f64>::new(LstmDims { H: h, I: i }).unwrap()
    });
}

#[test]
fn bidirectional_gru_matches_torch() {
    check("gru_bidir.json", |h, i| {
        Gru::<f64>::new(GruDims { H: h, I: i }).unwrap()
    });
}

#[test]
fn two_layer_bidirectional_lstm_matches_torch() {
    check("lstm_bidir_2layer.json", |h, i| {
        Lstm::<f64>::new(LstmDims { H: h, I: i }).unwrap()
    });
}
