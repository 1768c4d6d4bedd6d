//! Benchmarks of the generated kernels live in `benches/`; this library holds shared inputs.
#![forbid(unsafe_code)]

use nalgebra::DMatrix;
use rnn_core::SplitMix64;

/// A `rows × cols` matrix of seeded values uniform in `[-1, 1)`.
pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = SplitMix64::new(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.uniform(-1.0, 1.0))
}
