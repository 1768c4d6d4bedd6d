//! Identical seeds give bit-identical parameters, trajectories and gradients, run after run.

use nalgebra::DMatrix;
use rnn_core::cells::{Lstm, LstmDims, LstmInput};
use rnn_core::{Cell, ParamSet, SplitMix64, seq};

fn run(seed: u64) -> (Vec<u64>, Vec<u64>) {
    let cell = Lstm::<f64>::init(LstmDims { H: 6, I: 3 }, seed).unwrap();
    let mut rng = SplitMix64::new(seed ^ 0xABCD);
    let xs: Vec<LstmInput<f64>> = (0..20)
        .map(|_| LstmInput {
            x: DMatrix::from_fn(3, 2, |_, _| rng.normal()),
        })
        .collect();
    let trajectory = seq::unroll(&cell, &cell.zero_state(2), &xs).unwrap();
    let mut d = vec![cell.zero_state(2); 20];
    d[19].h.fill(1.0);
    let grads = seq::bptt(&cell, &trajectory, &d).unwrap();
    let params = cell.to_flat().iter().map(|x| x.to_bits()).collect();
    let gradient = grads
        .params
        .to_flat()
        .iter()
        .chain(trajectory.last_state().h.iter())
        .map(|x| x.to_bits())
        .collect();
    (params, gradient)
}

#[test]
fn same_seed_same_bits() {
    assert_eq!(run(42), run(42));
    assert_ne!(run(42).0, run(43).0);
    // The generator's stream is fixed: these are the first outputs of SplitMix64(0).
    let mut rng = SplitMix64::new(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
}
