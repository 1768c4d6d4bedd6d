//! `Elman` against PyTorch's `nn.RNN(tanh)` and `nn.RNNCell` in float64
//! (`testdata/pytorch/rnn_tanh.json`, `rnn_tanh_cell.json`): outputs, final state and every
//! gradient within 1e-10 relative. PyTorch's two biases map onto `b = b_ih + b_hh`; each of
//! PyTorch's bias gradients equals the gradient of `b`.

mod vectors;

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, ElmanState};
use rnn_core::{Cell, seq};
use serde_json::Value;
use vectors::{assert_close, batch_matrix, load, matrix, sequence, vector};

fn elman_from(params: &Value, suffix: &str) -> Elman<f64> {
    let w_hx = matrix(&params[format!("weight_ih{suffix}")]);
    let w_hh = matrix(&params[format!("weight_hh{suffix}")]);
    let b = vector(&params[format!("bias_ih{suffix}")]) + vector(&params[format!("bias_hh{suffix}")]);
    let dims = ElmanDims {
        H: w_hh.nrows(),
        I: w_hx.ncols(),
    };
    Elman::from_params(dims, w_hh, w_hx, b).expect("PyTorch shapes fit the cell")
}

fn assert_param_grads(grad: &rnn_core::cells::ElmanGrad<f64>, reference: &Value, suffix: &str) {
    assert_close(
        "dL/dweight_ih",
        &grad.w_hx,
        &matrix(&reference[format!("weight_ih{suffix}")]),
    );
    assert_close(
        "dL/dweight_hh",
        &grad.w_hh,
        &matrix(&reference[format!("weight_hh{suffix}")]),
    );
    let db = DMatrix::from_column_slice(grad.b.len(), 1, grad.b.as_slice());
    for bias in ["bias_ih", "bias_hh"] {
        let expected = vector(&reference[format!("{bias}{suffix}")]);
        let expected = DMatrix::from_column_slice(expected.len(), 1, expected.as_slice());
        assert_close(&format!("dL/d{bias}"), &db, &expected);
    }
}

#[test]
fn elman_matches_torch_rnn_tanh_sequence() {
    let data = load("rnn_tanh.json");
    let cell = elman_from(&data["params"], "_l0");
    let xs: Vec<ElmanInput<f64>> = sequence(&data["inputs"]["x"])
        .into_iter()
        .map(|x| ElmanInput { x })
        .collect();
    let h0 = ElmanState {
        h: sequence(&data["inputs"]["h0"]).remove(0),
    };
    let trajectory = seq::unroll(&cell, &h0, &xs).unwrap();
    let outputs = sequence(&data["outputs"]["output"]);
    for (t, expected) in outputs.iter().enumerate() {
        assert_close(
            &format!("output[{t}]"),
            trajectory.output(t + 1).unwrap(),
            expected,
        );
    }
    assert_close(
        "h_n",
        &trajectory.last_state().h,
        &sequence(&data["outputs"]["h_n"])[0],
    );

    // L = sum(output * G) + sum(h_n * Gh).
    let g = sequence(&data["loss"]["G"]);
    let gh = sequence(&data["loss"]["Gh"]).remove(0);
    let mut d_states: Vec<ElmanState<f64>> = g.into_iter().map(|h| ElmanState { h }).collect();
    let last = d_states.len() - 1;
    d_states[last].h += &gh;
    let grads = seq::bptt(&cell, &trajectory, &d_states).unwrap();
    let reference = &data["grads"];
    assert_param_grads(&grads.params, reference, "_l0");
    for (t, expected) in sequence(&reference["x"]).iter().enumerate() {
        assert_close(&format!("dL/dx[{t}]"), &grads.inputs[t].x, expected);
    }
    assert_close("dL/dh0", &grads.initial_state.h, &sequence(&reference["h0"])[0]);
}

#[test]
fn elman_matches_torch_rnn_cell() {
    let data = load("rnn_tanh_cell.json");
    let cell = elman_from(&data["params"], "");
    let x = ElmanInput {
        x: batch_matrix(&data["inputs"]["x"]),
    };
    let h = ElmanState {
        h: batch_matrix(&data["inputs"]["h"]),
    };
    let next = cell.forward(&h, &x).unwrap();
    assert_close("h_next", &next.h, &batch_matrix(&data["outputs"]["h_next"]));

    let trajectory = seq::unroll(&cell, &h, std::slice::from_ref(&x)).unwrap();
    let d = ElmanState {
        h: batch_matrix(&data["loss"]["Gh"]),
    };
    let grads = seq::bptt(&cell, &trajectory, &[d]).unwrap();
    let reference = &data["grads"];
    assert_param_grads(&grads.params, reference, "");
    assert_close("dL/dx", &grads.inputs[0].x, &batch_matrix(&reference["x"]));
    assert_close("dL/dh", &grads.initial_state.h, &batch_matrix(&reference["h"]));
}
