// `Trajectory::states` is read-only: popping a state made `seq::bptt` and `last_state` panic.
use rnn_core::cells::{Elman, ElmanDims, ElmanInput};
use rnn_core::nalgebra::DMatrix;
use rnn_core::{Cell, seq};

fn main() {
    let cell = Elman::<f64>::new(ElmanDims { H: 2, I: 1 }).unwrap();
    let xs = vec![ElmanInput { x: DMatrix::zeros(1, 1) }; 3];
    let mut trajectory = seq::unroll(&cell, &cell.zero_state(1), &xs).unwrap();
    trajectory.states.pop();
}
