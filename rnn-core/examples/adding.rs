//! The adding problem (Hochreiter & Schmidhuber 1997, experiment 4): a long-range dependency
//! that gated cells learn and a plain tanh RNN does not.
//!
//! `cargo run --release -p rnn-core --example adding`
//!
//! Each sequence has `T` steps of two channels: a value uniform in `[0, 1)` and a marker that
//! is 1 at exactly two steps, one in each half of the sequence, 0 elsewhere. The target is the
//! sum of the two marked values, read after the last step (many-to-one). Always answering 1
//! (the mean) scores the variance of the sum, `1/6 ≈ 0.167` MSE; a model *solves* the task
//! when its test MSE is below a tenth of that, 0.0167.
//!
//! Elman, GRU and LSTM cells of the same hidden size get the same data, seeds, optimiser (Adam,
//! learning rate 0.01, gradients clipped to global norm 1) and number of updates. The table of
//! test MSEs is printed; `adding.svg` plots the learning curves. The program exits with 1 if a
//! gated cell fails to solve the task or the Elman cell solves it (the claim would not hold).

mod common;

use common::{Progress, write_plot};
use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, Gru, GruDims, Lstm, LstmDims};
use rnn_core::clip::clip_global_norm;
use rnn_core::dense::Dense;
use rnn_core::optim::{Adam, Optimizer};
use rnn_core::{Cell, Error, SplitMix64, Tensors, drivers, seq};
use rnn_verify::plot::{Plot, Series};

const STEPS: usize = 100;
const HIDDEN: usize = 32;
const BATCH: usize = 32;
const UPDATES: usize = 1200;
const EVERY: usize = 50;
const SOLVED: f64 = 1.0 / 60.0;

/// `STEPS` inputs `2 × B` and the targets `1 × B`.
fn batch(rng: &mut SplitMix64, size: usize) -> (Vec<DMatrix<f64>>, DMatrix<f64>) {
    let mut xs = vec![DMatrix::zeros(2, size); STEPS];
    let mut target = DMatrix::zeros(1, size);
    for col in 0..size {
        for x in xs.iter_mut() {
            x[(0, col)] = rng.next_f64();
        }
        let first = (rng.next_f64() * (STEPS / 2) as f64) as usize;
        let second = STEPS / 2 + (rng.next_f64() * (STEPS / 2) as f64) as usize;
        for t in [first, second] {
            xs[t][(1, col)] = 1.0;
            target[(0, col)] += xs[t][(0, col)];
        }
    }
    (xs, target)
}

fn as_inputs<C: Cell<f64>>(xs: &[DMatrix<f64>]) -> Vec<C::Input> {
    xs.iter().map(|x| C::Input::from_fn(|_| x.clone())).collect()
}

fn test_mse<C: Cell<f64>>(
    cell: &C,
    readout: &Dense<f64>,
    xs: &[C::Input],
    target: &DMatrix<f64>,
) -> Result<f64, Error> {
    let states = seq::run(cell, &cell.zero_state(target.ncols()), xs)?;
    let last = states[states.len() - 1]
        .get(C::OUTPUT)
        .cloned()
        .unwrap_or_default();
    Ok((readout.forward(&last)? - target).norm_squared() / target.ncols() as f64)
}

/// Trains `cell` with a dense readout; returns the test MSE every `EVERY` updates.
fn train<C: Cell<f64>>(mut cell: C, test: &(Vec<DMatrix<f64>>, DMatrix<f64>)) -> Result<Vec<f64>, Error> {
    let mut readout = Dense::<f64>::init(1, HIDDEN, 3)?;
    let (mut cell_opt, mut readout_opt) = (Adam::new(0.01), Adam::new(0.01));
    let mut rng = SplitMix64::new(2026);
    let test_inputs = as_inputs::<C>(&test.0);
    let mut curve = vec![test_mse(&cell, &readout, &test_inputs, &test.1)?];
    let progress = Progress::new(C::NAME, UPDATES);
    for update in 1..=UPDATES {
        let (xs, target) = batch(&mut rng, BATCH);
        let trajectory = seq::unroll(&cell, &cell.zero_state(BATCH), &as_inputs::<C>(&xs))?;
        let last = trajectory.output(STEPS).cloned().unwrap_or_default();
        let residual = readout.forward(&last)? - &target;
        // L = Σ (ŷ − y)² / B.
        let (readout_grad, d_h) = readout.backward(&last, &(&residual * (2.0 / BATCH as f64)))?;
        let d_states = drivers::last_output_adjoint(&cell, STEPS, &d_h)?;
        let grads = seq::bptt(&cell, &trajectory, &d_states)?.params;
        // One global norm over both models, as PyTorch's clip_grad_norm_ over all parameters.
        let mut all = (grads, readout_grad);
        clip_global_norm(&mut all, 1.0)?;
        cell_opt.step(&mut cell, &all.0)?;
        readout_opt.step(&mut readout, &all.1)?;
        if update % EVERY == 0 {
            curve.push(test_mse(&cell, &readout, &test_inputs, &test.1)?);
            progress.update(update, &format!("test MSE {:.4}", curve[curve.len() - 1]));
        }
    }
    progress.finish();
    Ok(curve)
}

fn main() -> Result<(), Error> {
    println!(
        "adding problem: T = {STEPS}, hidden {HIDDEN}, batch {BATCH}, {UPDATES} Adam updates (lr 0.01, clip 1.0)"
    );
    println!(
        "baseline (always 1): MSE {:.4}; solved below {SOLVED:.4}",
        1.0 / 6.0
    );
    let test = batch(&mut SplitMix64::new(7), 1000);
    let curves = vec![
        (
            "Elman",
            train(Elman::<f64>::init(ElmanDims { H: HIDDEN, I: 2 }, 1)?, &test)?,
        ),
        (
            "GRU",
            train(Gru::<f64>::init(GruDims { H: HIDDEN, I: 2 }, 1)?, &test)?,
        ),
        (
            "LSTM",
            train(Lstm::<f64>::init(LstmDims { H: HIDDEN, I: 2 }, 1)?, &test)?,
        ),
    ];
    println!("\n| cell | test MSE | solved |\n|---|---|---|");
    let mut claim_holds = true;
    for (name, curve) in &curves {
        let last = curve[curve.len() - 1];
        let solved = last < SOLVED;
        println!("| {name} | {last:.5} | {} |", if solved { "yes" } else { "no" });
        claim_holds &= solved == (*name != "Elman");
    }
    let colors = ["#7f7f7f", "#2ca02c", "#1f77b4"];
    let mut series: Vec<Series> = curves
        .iter()
        .zip(colors)
        .map(|((name, curve), color)| Series {
            name: (*name).into(),
            points: curve
                .iter()
                .enumerate()
                .map(|(k, &mse)| ((k * EVERY) as f64, mse))
                .collect(),
            color,
            dashed: false,
        })
        .collect();
    series.push(Series {
        name: "baseline 1/6".into(),
        points: vec![(0.0, 1.0 / 6.0), (UPDATES as f64, 1.0 / 6.0)],
        color: "#d62728",
        dashed: true,
    });
    let plot = Plot {
        title: format!("adding problem, T = {STEPS}: test MSE"),
        x_label: "update".into(),
        y_label: "MSE".into(),
        log_y: true,
        series,
    };
    write_plot(&plot, "adding.svg")?;
    println!("plot written: adding.svg");
    if !claim_holds {
        eprintln!("the gated cells did not win as claimed");
        std::process::exit(1);
    }
    Ok(())
}
