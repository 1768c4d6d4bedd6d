//! Resuming from a checkpoint gives bit-identical results to uninterrupted training.

use nalgebra::DMatrix;
use rnn_core::cells::{Lstm, LstmDims, LstmInput};
use rnn_core::optim::{Adam, Optimizer};
use rnn_core::weights::Slot;
use rnn_core::{Cell, ParamSet, checkpoint, seq};

fn data() -> (Vec<LstmInput<f64>>, DMatrix<f64>) {
    let xs = (0..6)
        .map(|t| LstmInput {
            x: DMatrix::from_fn(2, 3, |i, j| ((t * 5 + i * 2 + j) as f64 * 0.37).sin()),
        })
        .collect();
    (xs, DMatrix::from_fn(4, 3, |i, j| ((i + j) as f64 * 0.3).cos()))
}

/// One full-batch training step on `L = ½‖h_T − y‖²`.
fn train_step(cell: &mut Lstm<f64>, optimizer: &mut Adam<f64>) {
    let (xs, target) = data();
    let trajectory = seq::unroll(cell, &cell.zero_state(3), &xs).unwrap();
    let mut d = vec![cell.zero_state(3); xs.len()];
    d[xs.len() - 1].h = &trajectory.last_state().h - &target;
    let grads = seq::bptt(cell, &trajectory, &d).unwrap();
    optimizer.step(cell, &grads.params).unwrap();
}

fn bits(cell: &Lstm<f64>) -> Vec<u64> {
    cell.to_flat().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn resume_equals_uninterrupted_training() {
    let dims = LstmDims { H: 4, I: 2 };
    let mut straight = (Lstm::<f64>::init(dims, 8).unwrap(), Adam::new(0.01));
    for _ in 0..10 {
        train_step(&mut straight.0, &mut straight.1);
    }

    let dir = std::env::temp_dir().join(format!("rnn-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.safetensors");
    let mut first = (Lstm::<f64>::init(dims, 8).unwrap(), Adam::new(0.01));
    for _ in 0..4 {
        train_step(&mut first.0, &mut first.1);
    }
    checkpoint::save(&path, &first.0, Slot::cell(), &first.1).unwrap();
    drop(first);

    let mut resumed = (Lstm::<f64>::new(dims).unwrap(), Adam::new(0.01));
    checkpoint::load(&path, &mut resumed.0, Slot::cell(), &mut resumed.1).unwrap();
    for _ in 4..10 {
        train_step(&mut resumed.0, &mut resumed.1);
    }
    assert_eq!(bits(&resumed.0), bits(&straight.0));
    assert!(!dir.join("run.safetensors.partial").exists());

    // A checkpoint of another shape is refused, naming the tensor.
    let mut other = (
        Lstm::<f64>::new(LstmDims { H: 5, I: 2 }).unwrap(),
        Adam::new(0.01),
    );
    let err = checkpoint::load(&path, &mut other.0, Slot::cell(), &mut other.1).unwrap_err();
    assert!(matches!(err, rnn_core::Error::TensorShape { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(<Lstm<f64> as Cell<f64>>::NAME, "Lstm");
}
