//! The seed notebook's task: predict `sin(t/20)` from its 4 previous values with a many-to-one
//! Elman RNN (hidden 50) and a dense readout.
//!
//! `cargo run --release --example sine`
//!
//! Data: `x_t = sin(t/20)` for `t = 0..1000`; every window of 4 consecutive values predicts the
//! next one. The first 80 % of the windows train, the last 20 % validate (a time series is split
//! in time, never shuffled across the boundary). The loss printed is the seed's,
//! `Σ (y − ŷ)² / (2N)`. Full-batch Adam (learning rate 0.01) for 300 epochs; the weights are
//! seeded, so every run prints the same numbers. A plot of validation predictions against the
//! truth is written to `sine.svg`.

mod common;

use common::{Progress, write_plot};
use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanInput};
use rnn_core::dense::Dense;
use rnn_core::optim::{Adam, Optimizer};
use rnn_core::{Cell, Error, seq};
use rnn_verify::plot::{Plot, Series};

const WINDOW: usize = 4;
const HIDDEN: usize = 50;
const EPOCHS: usize = 300;

struct Split {
    /// `WINDOW` matrices `1 × N`: step `k` holds the k-th value of every window.
    inputs: Vec<ElmanInput<f64>>,
    targets: DMatrix<f64>,
}

fn split(series: &[f64], range: std::ops::Range<usize>) -> Split {
    let n = range.len();
    let inputs = (0..WINDOW)
        .map(|k| ElmanInput {
            x: DMatrix::from_fn(1, n, |_, j| series[range.start + j + k]),
        })
        .collect();
    let targets = DMatrix::from_fn(1, n, |_, j| series[range.start + j + WINDOW]);
    Split { inputs, targets }
}

/// Predictions, and the seed's loss Σ (y − ŷ)² / (2N).
fn evaluate(cell: &Elman<f64>, readout: &Dense<f64>, data: &Split) -> Result<(DMatrix<f64>, f64), Error> {
    let n = data.targets.ncols();
    let states = seq::run(cell, &cell.zero_state(n), &data.inputs)?;
    let prediction = readout.forward(&states[WINDOW - 1].h)?;
    let loss = (&prediction - &data.targets).norm_squared() / (2.0 * n as f64);
    Ok((prediction, loss))
}

fn main() -> Result<(), Error> {
    let series: Vec<f64> = (0..1000).map(|t| (t as f64 / 20.0).sin()).collect();
    let windows = series.len() - WINDOW;
    let boundary = windows * 8 / 10;
    let train = split(&series, 0..boundary);
    let validation = split(&series, boundary..windows);
    let n = train.targets.ncols();

    let mut cell = Elman::<f64>::init(ElmanDims { H: HIDDEN, I: 1 }, 2026)?;
    let mut readout = Dense::<f64>::init(1, HIDDEN, 2027)?;
    let (mut cell_opt, mut readout_opt) = (Adam::new(0.01), Adam::new(0.01));
    println!(
        "sine: {n} training and {} validation windows, Elman H = {HIDDEN}, Adam 0.01, {EPOCHS} epochs",
        validation.targets.ncols()
    );
    let mut last_train_loss = f64::NAN;
    // A progress bar on a terminal; the per-epoch lines go to standard output.
    let progress = Progress::new("training", EPOCHS);
    for epoch in 1..=EPOCHS {
        let trajectory = seq::unroll(&cell, &cell.zero_state(n), &train.inputs)?;
        let h = &trajectory.last_state().h;
        let prediction = readout.forward(h)?;
        let residual = &prediction - &train.targets;
        let train_loss = residual.norm_squared() / (2.0 * n as f64);
        // ∂/∂ŷ of Σ (ŷ − y)² / (2N) is (ŷ − y) / N.
        let (readout_grad, d_h) = readout.backward(h, &(residual / n as f64))?;
        let mut d_states = vec![cell.zero_state(n); WINDOW];
        d_states[WINDOW - 1].h = d_h;
        let grads = seq::bptt(&cell, &trajectory, &d_states)?;
        cell_opt.step(&mut cell, &grads.params)?;
        readout_opt.step(&mut readout, &readout_grad)?;
        let (_, validation_loss) = evaluate(&cell, &readout, &validation)?;
        last_train_loss = train_loss;
        progress.update(epoch, "");
        println!("epoch {epoch:>3}  train loss {train_loss:.6e}  validation loss {validation_loss:.6e}");
    }
    progress.finish();
    let (prediction, validation_loss) = evaluate(&cell, &readout, &validation)?;
    let start = (boundary + WINDOW) as f64;
    let plot = Plot {
        title: "sin(t/20): validation predictions".into(),
        x_label: "t".into(),
        y_label: "value".into(),
        log_y: false,
        series: vec![
            Series {
                name: "truth".into(),
                points: validation
                    .targets
                    .iter()
                    .enumerate()
                    .map(|(j, &y)| (start + j as f64, y))
                    .collect(),
                color: "#1f77b4",
                dashed: false,
            },
            Series {
                name: "prediction".into(),
                points: prediction
                    .iter()
                    .enumerate()
                    .map(|(j, &y)| (start + j as f64, y))
                    .collect(),
                color: "#d62728",
                dashed: true,
            },
        ],
    };
    write_plot(&plot, "sine.svg")?;
    println!(
        "final: train loss {last_train_loss:.6e}, validation loss {validation_loss:.6e} (seed notebook: 0.005419); plot written: sine.svg"
    );
    if validation_loss >= 0.005419 {
        eprintln!("the validation loss did not get below the seed notebook's 0.005419");
        std::process::exit(1);
    }
    Ok(())
}
