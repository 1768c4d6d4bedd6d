//! T = 100 000, B = 1: forward and backward through time without stack growth, and memory linear
//! in T. CI runs this file in the release profile. Bytes per step are measured with a counting
//! allocator (dhat's, which behaves as the system allocator while no profiler runs).

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, Gru, GruDims, Lstm, LstmDims};
use rnn_core::{Cell, Tensors, seq};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn inputs<C: Cell<f64>>(cell: &C, steps: usize) -> Vec<C::Input> {
    (0..steps)
        .map(|t| {
            C::Input::from_fn(|k| {
                DMatrix::from_fn(cell.input_rows(k), 1, |i, _| ((t * 7 + i) as f64 * 0.01).sin())
            })
        })
        .collect()
}

/// Heap bytes held by a trajectory of `steps` steps (inputs excluded).
fn trajectory_bytes<C: Cell<f64>>(cell: &C, steps: usize) -> usize {
    let xs = inputs(cell, steps);
    let before = dhat::HeapStats::get().curr_bytes;
    let trajectory = seq::unroll(cell, &cell.zero_state(1), &xs).unwrap();
    let after = dhat::HeapStats::get().curr_bytes;
    assert_eq!(trajectory.len(), steps);
    after - before
}

/// Bytes a step keeps: the numbers of its cache, its new state and its input column, plus the
/// cache and state structs themselves (matrix headers) stored in the trajectory's vectors,
/// which are allocated at their final size.
fn payload<C: Cell<f64>>(cell: &C) -> usize {
    let state: usize = (0..C::State::NAMES.len()).map(|k| cell.state_rows(k)).sum();
    let input: usize = (0..C::Input::NAMES.len()).map(|k| cell.input_rows(k)).sum();
    8 * (cell.cache_len(1) + state + input)
        + std::mem::size_of::<C::Cache>()
        + std::mem::size_of::<C::State>()
}

/// Bytes per step from the difference of two lengths, so fixed costs cancel.
fn bytes_per_step<C: Cell<f64>>(cell: &C) -> f64 {
    let (short, long) = (1000, 3000);
    let (a, b) = (trajectory_bytes(cell, short), trajectory_bytes(cell, long));
    (b - a) as f64 / (long - short) as f64
}

#[test]
fn hundred_thousand_steps_forward_and_backward() {
    let steps = 100_000;
    let cell = Elman::<f64>::init(ElmanDims { H: 8, I: 4 }, 3).unwrap();
    let xs: Vec<ElmanInput<f64>> = inputs(&cell, steps);
    let trajectory = seq::unroll(&cell, &cell.zero_state(1), &xs).unwrap();
    let mut d = vec![cell.zero_state(1); steps];
    d[steps - 1].h.fill(1.0);
    d[steps / 2].h.fill(1.0);
    let grads = seq::bptt(&cell, &trajectory, &d).unwrap();
    assert_eq!(grads.inputs.len(), steps);
    assert!(
        rnn_core::ParamSet::to_flat(&grads.params)
            .iter()
            .all(|g| g.is_finite())
    );
    // The seed at step T/2 reaches back to step 1 only through 50 000 contracting Jacobians:
    // the input gradient there is negligible against the one next to the seed.
    let near = grads.inputs[steps / 2 - 1].x.norm();
    let far = grads.inputs[0].x.norm();
    assert!(near > 0.0 && far < 1e-100 * near, "near {near:e}, far {far:e}");

    // Memory: linear in T, measured per step for three cells (H = 32, B = 1).
    let _profiler = dhat::Profiler::builder().testing().build();
    let elman = Elman::<f64>::init(ElmanDims { H: 32, I: 16 }, 1).unwrap();
    let lstm = Lstm::<f64>::init(LstmDims { H: 32, I: 16 }, 1).unwrap();
    let gru = Gru::<f64>::init(GruDims { H: 32, I: 16 }, 1).unwrap();
    for (name, measured, payload) in [
        ("Elman", bytes_per_step(&elman), payload(&elman)),
        ("Lstm", bytes_per_step(&lstm), payload(&lstm)),
        ("Gru", bytes_per_step(&gru), payload(&gru)),
    ] {
        println!("{name}: {measured:.1} bytes per step (predicted {payload})");
        // Linear in T, and exactly what the step keeps.
        assert_eq!(measured, payload as f64, "{name}");
    }
}
