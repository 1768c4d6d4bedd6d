//! The shapes and FLOP counts shared by the benchmarks in `benches/` (see `benches/README.md`).
#![forbid(unsafe_code)]

/// A benchmark shape: `T` steps, batch `B`, input size `I`, hidden size `H`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `S1` .. `S4`.
    pub name: &'static str,
    /// `T`.
    pub steps: usize,
    /// `B`.
    pub batch: usize,
    /// `I`.
    pub input: usize,
    /// `H`.
    pub hidden: usize,
}

/// The four shapes of the performance issue, as in `benches/peers/`.
pub const SHAPES: [Shape; 4] = [
    Shape {
        name: "S1",
        steps: 100,
        batch: 1,
        input: 16,
        hidden: 32,
    },
    Shape {
        name: "S2",
        steps: 100,
        batch: 1,
        input: 64,
        hidden: 128,
    },
    Shape {
        name: "S3",
        steps: 50,
        batch: 32,
        input: 128,
        hidden: 256,
    },
    Shape {
        name: "S4",
        steps: 20,
        batch: 64,
        input: 512,
        hidden: 512,
    },
];

/// Nominal forward FLOPs `T·2·B·G·H·(I+H)` of a cell with `gates` gate blocks (Elman 1, LSTM
/// 4, GRU 3); forward+backward is counted as 3× this.
pub fn forward_flops(shape: Shape, gates: usize) -> u64 {
    (shape.steps * 2 * shape.batch * gates * shape.hidden * (shape.input + shape.hidden)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_match_the_reference_convention() {
        // benches/peers/torch-results.md: LSTM S1 fwd 265 us at 4.63 GFLOP/s → 1.2288 MFLOP.
        assert_eq!(forward_flops(SHAPES[0], 4), 1_228_800);
        // LSTM S4 fwd: 82,420 us at 65.14 GFLOP/s → 5.369 GFLOP.
        assert_eq!(forward_flops(SHAPES[3], 4), 5_368_709_120);
    }
}
