// `DecoderRun::outputs` and `teacher_fed` are read-only: clearing them made `backward` panic.
use rnn_core::cells::{Elman, ElmanDims};
use rnn_core::dense::Dense;
use rnn_core::drivers::{Decoder, Feed};
use rnn_core::nalgebra::DMatrix;
use rnn_core::Cell;

fn main() {
    let cell = Elman::<f64>::new(ElmanDims { H: 2, I: 1 }).unwrap();
    let decoder = Decoder { readout: Dense::init(1, 2, 0).unwrap(), cell };
    let targets = vec![DMatrix::zeros(1, 1); 3];
    let initial = decoder.cell.zero_state(1);
    let mut run = decoder.forward(&initial, &DMatrix::zeros(1, 1), &targets, Feed::Teacher).unwrap();
    run.outputs.clear();
    run.teacher_fed.clear();
}
