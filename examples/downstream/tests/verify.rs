//! The whole applicable suite for this crate's cells, as a user writes it.

use downstream_example::*;

rnn_verify::verify_cell!(swish_gate: SwishGate<f64> = SwishGateDims { H: 4, I: 3 });
rnn_verify::verify_cell!(relu_gate: ReluGate<f64> = ReluGateDims { H: 4, I: 3 }, nonsmooth);
