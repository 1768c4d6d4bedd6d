// `PackedTrajectory::outputs` is read-only: truncating it made `bptt_lengths` panic.
use rnn_core::cells::{Elman, ElmanDims, ElmanInput};
use rnn_core::nalgebra::DMatrix;
use rnn_core::{Cell, drivers};

fn main() {
    let cell = Elman::<f64>::new(ElmanDims { H: 2, I: 1 }).unwrap();
    let xs = vec![ElmanInput { x: DMatrix::zeros(1, 1) }; 3];
    let mut packed = drivers::unroll_lengths(&cell, &cell.zero_state(1), &xs, &[2]).unwrap();
    packed.outputs.truncate(1);
}
