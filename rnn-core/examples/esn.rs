//! An echo state network forecasting the Mackey–Glass series (τ = 17), the benchmark of Jaeger
//! & Haas, "Harnessing nonlinearity", Science 2004.
//!
//! `cargo run --release -p rnn-core --example esn`
//!
//! The series `dx/dt = 0.2 x(t−17) / (1 + x(t−17)^10) − 0.1 x(t)` is integrated with Euler
//! steps of 0.1 and sampled every time unit, centred. A reservoir of 400 units (spectral
//! radius 0.95, leak 0.3) reads `x_t`; a ridge readout (β = 1e-8) learns to predict `x_{t+1}`
//! from 2000 steps (100 washed out). Printed: the one-step test NRMSE over the next 500 steps,
//! and the NRMSE of the network running free (its prediction fed back as its input) 100 and
//! 300 steps ahead. `esn.svg` plots the free run against the truth. Exits with 1 if the
//! one-step NRMSE is not below 0.01 or the 100-step free run drifts past 0.1.

mod common;

use common::{Progress, write_plot};
use nalgebra::DMatrix;
use rnn_core::Error;
use rnn_core::esn::{EchoStateNetwork, EsnConfig, nrmse};
use rnn_verify::plot::{Plot, Series};

const TRAIN: usize = 2000;
const TEST: usize = 500;
const FREE: usize = 300;

fn mackey_glass(samples: usize) -> Vec<f64> {
    let (dt, substeps, delay) = (0.1, 10, 170);
    let mut history = vec![1.2_f64; delay + 1];
    let mut series = Vec::with_capacity(samples);
    // 1000 time units of transient are discarded.
    for step in 0..(samples + 1000) * substeps {
        let now = history[history.len() - 1];
        let lagged = history[history.len() - 1 - delay];
        let next = now + dt * (0.2 * lagged / (1.0 + lagged.powi(10)) - 0.1 * now);
        history.push(next);
        if history.len() > 2 * delay {
            history.drain(..delay);
        }
        if step % substeps == 0 && step / substeps >= 1000 {
            series.push(next);
        }
    }
    let mean = series.iter().sum::<f64>() / series.len() as f64;
    series.iter().map(|x| x - mean).collect()
}

fn column(values: &[f64]) -> Vec<DMatrix<f64>> {
    values.iter().map(|&v| DMatrix::from_element(1, 1, v)).collect()
}

fn row(values: &[DMatrix<f64>]) -> DMatrix<f64> {
    DMatrix::from_iterator(1, values.len(), values.iter().map(|m| m[(0, 0)]))
}

fn main() -> Result<(), Error> {
    let series = mackey_glass(TRAIN + TEST + FREE + 1);
    let config = EsnConfig {
        reservoir_size: 400,
        spectral_radius: 0.95,
        density: 0.05,
        input_scaling: 1.0,
        bias_scaling: 0.2,
        leak: 0.3,
        ridge: 1e-8,
        washout: 100,
        seed: 42,
    };
    println!(
        "Mackey-Glass (tau = 17): echo state network, {} units, radius {}, leak {}, ridge {:e}",
        config.reservoir_size, config.spectral_radius, config.leak, config.ridge
    );
    let progress = Progress::new("fitting", 1);
    let mut esn = EchoStateNetwork::new(1, 1, config)?;
    let fit = esn.fit(&column(&series[..TRAIN]), &column(&series[1..=TRAIN]))?;
    progress.update(1, "");
    progress.finish();
    println!(
        "trained on {} steps: training NRMSE {:.3e}",
        fit.samples, fit.nrmse
    );

    // One step ahead over the test range (the reservoir runs on through the training range).
    let predicted = esn.predict(&column(&series[..TRAIN + TEST]))?;
    let one_step = nrmse(
        &row(&predicted[TRAIN..]),
        &DMatrix::from_row_slice(1, TEST, &series[TRAIN + 1..=TRAIN + TEST]),
    )?;
    // Free running after reading the series up to the end of the test range.
    let start = TRAIN + TEST;
    let generated = esn.generate(&column(&series[..start]), FREE)?;
    let truth = &series[start..start + FREE];
    let free = |steps: usize| {
        nrmse(
            &row(&generated[..steps]),
            &DMatrix::from_row_slice(1, steps, &truth[..steps]),
        )
    };
    println!("\n| forecast | NRMSE |\n|---|---|");
    println!("| one step ahead, {TEST} test steps | {one_step:.3e} |");
    let (free_100, free_all) = (free(100)?, free(FREE)?);
    println!("| free running, 100 steps | {free_100:.3e} |");
    println!("| free running, {FREE} steps | {free_all:.3e} |");

    let plot = Plot {
        title: "Mackey-Glass: echo state network running free".into(),
        x_label: "t".into(),
        y_label: "x (centred)".into(),
        log_y: false,
        series: vec![
            Series {
                name: "truth".into(),
                points: truth
                    .iter()
                    .enumerate()
                    .map(|(k, &y)| ((start + k) as f64, y))
                    .collect(),
                color: "#1f77b4",
                dashed: false,
            },
            Series {
                name: "free-running ESN".into(),
                points: generated
                    .iter()
                    .enumerate()
                    .map(|(k, y)| ((start + k) as f64, y[(0, 0)]))
                    .collect(),
                color: "#d62728",
                dashed: true,
            },
        ],
    };
    write_plot(&plot, "esn.svg")?;
    println!("plot written: esn.svg");
    if one_step >= 0.01 || free_100 >= 0.1 {
        eprintln!("the forecast is worse than this example promises");
        std::process::exit(1);
    }
    Ok(())
}
