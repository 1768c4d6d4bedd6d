//! The verification report, the project's main job: every applicable property (docs/THEORY.md
//! P1–P11) on every built-in cell, a spectral section, and plots.
//!
//! `cargo run --release -p rnn-verify -- [--cases N] [--cell NAME] [--out DIR] [--seed S]`
//! (`--help` for the options, `--version`).
//!
//! Values are drawn from the crate's proptest strategies with a runner seeded by `--seed`, so a
//! report is reproducible. Exits with status 1 if any check fails (or on an I/O error, such as an
//! `--out` that cannot be created), 2 on a usage error.

use clap::Parser;
use clap::builder::PossibleValuesParser;
use nalgebra::{DMatrix, DVector};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rnn_core::cells::*;
use rnn_core::{Cell, Error, seq};
use rnn_verify::plot::{Plot, Series};
use rnn_verify::properties::{self, Check};
use rnn_verify::strategies::{
    input_sequence, log_uniform_vector, orthogonal, problem, tanh_rnn, uniform_matrix,
};
use rnn_verify::{GradReport, Problem, check_dual, check_finite_differences};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The built-in cells the report checks, in the order of `run`: the values `--cell` accepts.
const CELLS: [&str; 14] = [
    <Elman<f64> as Cell<f64>>::NAME,
    <ElmanConcat<f64> as Cell<f64>>::NAME,
    <RunningSum<f64> as Cell<f64>>::NAME,
    <Leaky<f64> as Cell<f64>>::NAME,
    <RnnTanh<f64> as Cell<f64>>::NAME,
    <RnnRelu<f64> as Cell<f64>>::NAME,
    <Lstm<f64> as Cell<f64>>::NAME,
    <Gru<f64> as Cell<f64>>::NAME,
    <PeepholeLstm<f64> as Cell<f64>>::NAME,
    <Cifg<f64> as Cell<f64>>::NAME,
    <Mgu<f64> as Cell<f64>>::NAME,
    <IndRnn<f64> as Cell<f64>>::NAME,
    <HardLstm<f64> as Cell<f64>>::NAME,
    <Reservoir<f64> as Cell<f64>>::NAME,
];

/// The verification report: every applicable property (P1–P11) on every built-in cell, one row
/// per property and cell, then a spectral section and two plots.
#[derive(Parser)]
#[command(
    version,
    after_help = "Exit status: 0 if every check passes, 1 if a check fails or on an I/O error, \
                  2 on a usage error."
)]
struct Options {
    /// Cases per property and cell
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        allow_negative_numbers = true,
        value_parser = at_least_one
    )]
    cases: usize,
    /// Only this built-in cell (any case); the properties not about one cell, the spectral
    /// section and its plots are skipped
    #[arg(
        long,
        value_name = "NAME",
        ignore_case = true,
        value_parser = PossibleValuesParser::new(CELLS)
    )]
    cell: Option<String>,
    /// Where the plots go (created if missing, even when no plot is written)
    #[arg(long, value_name = "DIR", default_value = "verify-report")]
    out: PathBuf,
    /// Seed of the case generator: the same seed gives the same report
    #[arg(long, value_name = "S", default_value_t = 2026, allow_negative_numbers = true)]
    seed: u64,
}

/// The value of `--cases`: a whole number, at least 1.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Results keyed by (property, cell), in insertion order.
struct Table {
    rows: Vec<((String, String), Check, usize)>,
    index: BTreeMap<(String, String), usize>,
}

impl Table {
    fn add(&mut self, cell: &str, check: Check) {
        let key = (check.property.to_owned(), cell.to_owned());
        match self.index.get(&key) {
            Some(&i) => {
                self.rows[i].1.merge(check);
                self.rows[i].2 += 1;
            }
            None => {
                self.index.insert(key.clone(), self.rows.len());
                self.rows.push((key, check, 1));
            }
        }
    }
}

fn grad_check(property: &'static str, report: GradReport) -> Check {
    let mut check = Check::new(property);
    check.comparisons = report.checked;
    check.failures = report.failures;
    check.worst_ratio = report.worst_ratio;
    if let Some(w) = report.worst {
        check.worst_error = w.error;
        check.worst_tolerance = w.tolerance;
        check.detail = format!("{}: bptt {:e}, reference {:e}", w.label, w.bptt, w.reference);
    }
    check
}

struct Context {
    runner: TestRunner,
    options: Options,
    table: Table,
    started: Instant,
}

impl Context {
    fn draw<S: Strategy>(&mut self, strategy: S) -> S::Value {
        match strategy.new_tree(&mut self.runner) {
            Ok(tree) => tree.current(),
            Err(reason) => panic!("a strategy of the report rejected every draw: {reason}"),
        }
    }

    fn wants(&self, cell: &str) -> bool {
        self.options
            .cell
            .as_deref()
            .is_none_or(|c| c.eq_ignore_ascii_case(cell))
    }

    fn general(&self) -> bool {
        self.options.cell.is_none()
    }

    fn progress(&self, what: &str, case: usize, total: usize) {
        // A live progress line on a terminal; nothing in logs.
        if !std::io::stderr().is_terminal() {
            return;
        }
        eprint!(
            "\r[{:6.1}s] {what:<40} case {}/{total}   ",
            self.started.elapsed().as_secs_f64(),
            case + 1
        );
        let _ = std::io::stderr().flush();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Smooth {
    Yes,
    No,
}

/// P2 (smooth cells), P3 and P9 on random problems of a cell.
fn cell_checks<C: Cell<f64> + std::fmt::Debug + 'static>(
    cx: &mut Context,
    make: impl Fn(usize, usize) -> Result<C, Error>,
    smooth: Smooth,
) -> Result<(), Error> {
    if !cx.wants(C::NAME) {
        return Ok(());
    }
    let total = cx.options.cases;
    for case in 0..total {
        cx.progress(&format!("{} gradients", C::NAME), case, total);
        let (h, i) = cx.draw((1..=6usize, 1..=4usize));
        let strategy = problem(make(h, i)?, 3, 20);
        let p: Problem<f64, C> = cx.draw(strategy);
        if smooth == Smooth::Yes {
            cx.table.add(
                C::NAME,
                grad_check("P2 BPTT = central FD", check_finite_differences(&p)?),
            );
        }
        cx.table
            .add(C::NAME, grad_check("P3 BPTT = dual numbers", check_dual(&p)?));
        let k = cx.draw(1..=p.inputs.len() + 1);
        cx.table.add(
            C::NAME,
            properties::truncation(&p.cell, &p.initial, &p.inputs, &p.readout, k)?,
        );
    }
    Ok(())
}

fn elman_inputs(xs: Vec<DMatrix<f64>>) -> Vec<ElmanInput<f64>> {
    xs.into_iter().map(|x| ElmanInput { x }).collect()
}

fn as_rnn_tanh(cell: &Elman<f64>) -> RnnTanh<f64> {
    let dims = cell.dims();
    RnnTanh::from_params(
        RnnTanhDims { H: dims.H, I: dims.I },
        cell.w_hx.clone(),
        cell.w_hh.clone(),
        cell.b.clone(),
        DVector::zeros(dims.H),
    )
    .expect("same dimensions")
}

/// P4, P10 and P11 for the tanh RNNs (`Elman`, `RnnTanh`), P1 for the Elman pair.
fn tanh_checks(cx: &mut Context) -> Result<(), Error> {
    let total = cx.options.cases;
    for case in 0..total {
        cx.progress("tanh RNN spectral properties", case, total);
        let (n, i, sigma, steps) = cx.draw((1..=8usize, 1..=4usize, 0.05..=1.5_f64, 1..=40usize));
        let cell = cx.draw(tanh_rnn(n, i, sigma));
        let (xs, h0, c) = cx.draw((
            input_sequence(i, 1, steps),
            uniform_matrix(n, 1),
            uniform_matrix(n, 1),
        ));
        let inputs = elman_inputs(xs.clone());
        let tanh = as_rnn_tanh(&cell);
        let tanh_inputs: Vec<RnnTanhInput<f64>> = xs.iter().map(|x| RnnTanhInput { x: x.clone() }).collect();
        if cx.wants("Elman") {
            cx.table.add(
                "Elman",
                properties::vanishing_bound(&cell, &ElmanState { h: h0.clone() }, &inputs, &c)?,
            );
        }
        if cx.wants("RnnTanh") {
            cx.table.add(
                "RnnTanh",
                properties::vanishing_bound(&tanh, &RnnTanhState { h: h0.clone() }, &tanh_inputs, &c)?,
            );
        }
        let contraction_sigma = cx.draw(0.05..=0.99_f64);
        let contracting = cx.draw(tanh_rnn(n, i, contraction_sigma));
        let (a, b) = cx.draw((uniform_matrix(n, 1), uniform_matrix(n, 1)));
        if cx.wants("Elman") {
            cx.table.add(
                "Elman",
                properties::contraction(
                    &contracting,
                    &ElmanState { h: a.clone() },
                    &ElmanState { h: b.clone() },
                    &inputs,
                )?,
            );
        }
        if cx.wants("RnnTanh") {
            let tanh_c = as_rnn_tanh(&contracting);
            cx.table.add(
                "RnnTanh",
                properties::contraction(
                    &tanh_c,
                    &RnnTanhState { h: a },
                    &RnnTanhState { h: b },
                    &tanh_inputs,
                )?,
            );
        }
        if cx.wants("Elman") || cx.wants("ElmanConcat") {
            let batch = cx.draw(1..=4usize);
            let (w_hh, w_hx, b, h, x) = cx.draw((
                uniform_matrix(n, n),
                uniform_matrix(n, i),
                uniform_matrix(n, 1),
                uniform_matrix(n, batch),
                uniform_matrix(i, batch),
            ));
            let scale = cx.draw((-3i32..=3).prop_map(|e| 10f64.powi(e)));
            let b = DVector::from_column_slice(b.as_slice()) * scale;
            cx.table.add(
                "Elman ~ ElmanConcat",
                properties::concatenation(&(w_hh * scale), &(w_hx * scale), &b, &(h * scale), &(x * scale))?,
            );
        }
    }
    // P10 on longer runs, fewer cases (each is T = 100..400 Jacobians).
    let total = cx.options.cases.div_ceil(2);
    for case in 0..total {
        cx.progress("tanh RNN Lyapunov exponents", case, total);
        let (n, i, sigma, steps) = cx.draw((2..=8usize, 1..=3usize, 0.5..=3.0_f64, 100..=400usize));
        let cell = cx.draw(tanh_rnn(n, i, sigma));
        let (xs, q0, c) = cx.draw((input_sequence(i, 1, steps), orthogonal(n), uniform_matrix(n, 1)));
        if c.norm() < 1e-3 {
            continue;
        }
        let xs: Vec<DMatrix<f64>> = xs.into_iter().map(|x| x * 0.3).collect();
        if cx.wants("Elman") {
            let (check, _, _) = properties::lyapunov_tanh(
                &cell,
                &ElmanState {
                    h: DMatrix::zeros(n, 1),
                },
                &elman_inputs(xs.clone()),
                &q0,
                &c,
            )?;
            cx.table.add("Elman", check);
        }
        if cx.wants("RnnTanh") {
            let inputs: Vec<RnnTanhInput<f64>> = xs.into_iter().map(|x| RnnTanhInput { x }).collect();
            let (check, _, _) = properties::lyapunov_tanh(
                &as_rnn_tanh(&cell),
                &RnnTanhState {
                    h: DMatrix::zeros(n, 1),
                },
                &inputs,
                &q0,
                &c,
            )?;
            cx.table.add("RnnTanh", check);
        }
    }
    Ok(())
}

/// P5, P6, P7, P8 and the generic P10 identity on the gated cells.
fn other_checks(cx: &mut Context) -> Result<(), Error> {
    let total = cx.options.cases;
    for case in 0..total {
        cx.progress("P5-P8 and gated Lyapunov", case, total);
        if cx.general() {
            let (n, k) = cx.draw((1..=6usize, 1..=40usize));
            let (q, lambda, c) = cx.draw((
                orthogonal(n),
                proptest::collection::vec(-2.0..=2.0_f64, n),
                uniform_matrix(n, 1),
            ));
            cx.table
                .add("LinearRnn", properties::linear_explosion(&q, &lambda, k, &c)?.0);
            let g = cx.draw((1..=64usize).prop_flat_map(|n| log_uniform_vector(n, -3.0, 6.0)));
            let (tau, limit) = cx.draw(((-3.0..=7.0_f64), (-3.0..=7.0_f64)));
            cx.table.add(
                "(clipping)",
                properties::clipping(&g, 10f64.powf(tau), 10f64.powf(limit))?,
            );
        }
        let (n, steps) = cx.draw((1..=5usize, 1..=200usize));
        let (xs, h0, c) = cx.draw((
            input_sequence(n, 1, steps),
            uniform_matrix(n, 1),
            uniform_matrix(n, 1),
        ));
        if cx.wants("Leaky") {
            let (alpha, exact) = cx.draw(proptest::prop_oneof![
                proptest::strategy::Just((0.0, true)),
                proptest::strategy::Just((0.25, true)),
                proptest::strategy::Just((0.5, true)),
                proptest::strategy::Just((1.0, true)),
                (0.0..=1.0_f64).prop_map(|a| (a, false)),
            ]);
            let mut leaky = Leaky::new(LeakyDims { H: n })?;
            leaky.alpha = alpha;
            let inputs: Vec<LeakyInput<f64>> = xs.iter().map(|x| LeakyInput { x: x.clone() }).collect();
            cx.table.add(
                "Leaky",
                properties::leaky_exactness(
                    &leaky,
                    alpha,
                    1.0 - alpha,
                    &LeakyState { h: h0.clone() },
                    &inputs,
                    &c,
                    exact,
                )?,
            );
        }
        if cx.wants("RunningSum") {
            let sum = RunningSum::new(RunningSumDims { H: n })?;
            let inputs: Vec<RunningSumInput<f64>> =
                xs.iter().map(|x| RunningSumInput { x: x.clone() }).collect();
            cx.table.add(
                "RunningSum",
                properties::leaky_exactness(&sum, 1.0, 1.0, &RunningSumState { h: h0 }, &inputs, &c, true)?,
            );
        }
        if cx.wants("Lstm") {
            let (h, i, steps) = cx.draw((1..=5usize, 1..=4usize, 1..=60usize));
            let (w_ih, b_ih, b_hh, xs, c) = cx.draw((
                uniform_matrix(4 * h, i),
                uniform_matrix(4 * h, 1),
                uniform_matrix(4 * h, 1),
                input_sequence(i, 1, steps),
                uniform_matrix(h, 1),
            ));
            let lstm = Lstm::from_params(
                LstmDims { H: h, I: i },
                w_ih,
                DMatrix::zeros(4 * h, h),
                DVector::from_column_slice(b_ih.as_slice()),
                DVector::from_column_slice(b_hh.as_slice()),
            )?;
            let inputs: Vec<LstmInput<f64>> = xs.into_iter().map(|x| LstmInput { x }).collect();
            let initial = LstmState {
                h: DMatrix::zeros(h, 1),
                c: DMatrix::from_element(h, 1, 0.5),
            };
            cx.table
                .add("Lstm", properties::carousel(&lstm, &initial, &inputs, &c)?);
        }
    }
    let total = cx.options.cases.div_ceil(4);
    for case in 0..total {
        cx.progress("gated-cell Lyapunov identity", case, total);
        gated_lyapunov(cx, |h, i| Lstm::init(LstmDims { H: h, I: i }, 1))?;
        gated_lyapunov(cx, |h, i| Gru::init(GruDims { H: h, I: i }, 1))?;
    }
    Ok(())
}

fn gated_lyapunov<C: Cell<f64> + std::fmt::Debug + 'static>(
    cx: &mut Context,
    make: impl Fn(usize, usize) -> Result<C, Error>,
) -> Result<(), Error> {
    if !cx.wants(C::NAME) {
        return Ok(());
    }
    let (h, i, steps) = cx.draw((1..=5usize, 1..=3usize, 50..=200usize));
    let p: Problem<f64, C> = cx.draw(problem(make(h, i)?, 1, 1));
    let xs: Vec<C::Input> = (0..steps).map(|_| p.inputs[0].clone()).collect();
    let trajectory = seq::unroll(&p.cell, &p.initial, &xs)?;
    let n = rnn_verify::jacobian::state_size(&p.cell);
    let q0 = cx.draw(orthogonal(n));
    cx.table
        .add(C::NAME, properties::lyapunov(&p.cell, &trajectory, &q0)?.0);
    Ok(())
}

/// The spectral section: gradient norm against lag and Lyapunov convergence for σ below, near
/// and above 1, printed and plotted.
fn spectral(cx: &mut Context) -> Result<Vec<PathBuf>, Error> {
    let (n, i, steps) = (8, 4, 60);
    let colors = ["#1f77b4", "#2ca02c", "#d62728"];
    let mut decay = Plot {
        title: "Gradient norm against time lag (tanh RNN, n = 8, T = 60)".into(),
        x_label: "lag T − s".into(),
        y_label: "‖∂L/∂h_s‖ (dashed: bounds)".into(),
        log_y: true,
        series: Vec::new(),
    };
    let mut lyapunov_plot = Plot {
        title: "Largest Lyapunov exponent estimate λ̂₁(t) (T = 400)".into(),
        x_label: "steps t".into(),
        y_label: "λ̂₁(t)".into(),
        log_y: false,
        series: Vec::new(),
    };
    println!();
    println!("spectral section: tanh RNN, n = {n}, W = σ·Q (every singular value σ), inputs ×0.1");
    println!(
        "{:>6} {:>9} {:>9} {:>14} {:>14} {:>14} {:>12}",
        "σ", "σ_max", "ρ(W)", "bound rate", "measured r_T", "λ̂₁ (T=400)", "r_400 − λ̂₁"
    );
    for (k, sigma) in [0.5, 1.0, 1.5].into_iter().enumerate() {
        let q = cx.draw(orthogonal(n));
        let w = &q * sigma;
        let (w_hx, b, c) = cx.draw((uniform_matrix(n, i), uniform_matrix(n, 1), uniform_matrix(n, 1)));
        let cell = Elman::from_params(
            ElmanDims { H: n, I: i },
            w.clone(),
            w_hx * 0.5,
            DVector::from_column_slice(b.as_slice()) * 0.1,
        )?;
        let xs = cx.draw(input_sequence(i, 1, 400));
        let inputs = elman_inputs(xs.into_iter().map(|x| x * 0.1).collect());
        let trajectory = seq::unroll(&cell, &cell.zero_state(1), &inputs[..steps])?;
        let g = properties::adjoints(&cell, &trajectory, &ElmanState { h: c.clone() })?;
        let sigma_bar = properties::sigma_upper(&w);
        let rho = w
            .clone()
            .complex_eigenvalues()
            .iter()
            .fold(0.0_f64, |m, z| m.max(z.norm()));
        let mut measured = Vec::new();
        let mut bound_with_d = Vec::new();
        let mut bound_plain = Vec::new();
        let mut product = c.norm();
        let mut mean_ln_d = 0.0;
        for lag in 0..=steps {
            let s = steps - lag;
            if lag > 0 {
                // Elman's output is its whole state `h`.
                let d = trajectory
                    .output(s + 1)
                    .expect("a state after every step")
                    .iter()
                    .map(|v| 1.0 - v * v)
                    .fold(0.0, f64::max);
                product *= d * sigma_bar;
                mean_ln_d += d.ln();
            }
            measured.push((lag as f64, g[s].h.norm()));
            bound_with_d.push((lag as f64, product));
            bound_plain.push((lag as f64, c.norm() * sigma_bar.powi(lag as i32)));
        }
        let rate_bound = sigma_bar.ln() + mean_ln_d / steps as f64;
        let measured_rate = (g[0].h.norm() / c.norm()).ln() / steps as f64;
        decay.series.push(Series {
            name: format!("σ = {sigma}: measured"),
            points: measured,
            color: colors[k],
            dashed: false,
        });
        decay.series.push(Series {
            name: format!("σ = {sigma}: ∏(1−h²)σ̄^lag"),
            points: bound_with_d,
            color: colors[k],
            dashed: true,
        });
        if sigma <= 1.0 {
            decay.series.push(Series {
                name: format!("σ = {sigma}: σ̄^lag"),
                points: bound_plain,
                color: "#999",
                dashed: true,
            });
        }
        // Lyapunov convergence over 400 steps, and the measured gradient growth rate.
        let long = seq::unroll(&cell, &cell.zero_state(1), &inputs)?;
        let jacobians = rnn_verify::jacobian::state_jacobians(&cell, &long, 0)?;
        let mut qm = DMatrix::identity(n, n);
        let mut running = 0.0;
        let mut points = Vec::new();
        for (t, j) in jacobians.iter().enumerate() {
            let (qt, r) = (j * &qm).qr().unpack();
            let signs = DVector::from_fn(n, |a, _| if r[(a, a)] < 0.0 { -1.0 } else { 1.0 });
            qm = qt * DMatrix::from_diagonal(&signs);
            running += r[(0, 0)].abs().ln();
            points.push(((t + 1) as f64, running / (t + 1) as f64));
        }
        let lambda = points.last().map_or(f64::NAN, |p| p.1);
        let r_400 = properties::gradient_growth_rate(&cell, &long, &c)?;
        lyapunov_plot.series.push(Series {
            name: format!("σ = {sigma}"),
            points,
            color: colors[k],
            dashed: false,
        });
        lyapunov_plot.series.push(Series {
            name: format!("σ = {sigma}: r_400"),
            points: vec![(1.0, r_400), (400.0, r_400)],
            color: colors[k],
            dashed: true,
        });
        println!(
            "{sigma:>6.2} {:>9.4} {rho:>9.4} {rate_bound:>14.4} {measured_rate:>14.4} {lambda:>14.4} {:>12.2e}",
            w.singular_values().max(),
            r_400 - lambda
        );
    }
    println!(
        "  bound rate = ln σ̄ + mean ln max(1 − h²) (P4/P10 I3: upper bound of the measured rate per step)"
    );
    // `main` created `--out`.
    let mut written = Vec::new();
    for (name, plot) in [
        ("gradient_vs_lag.svg", &decay),
        ("lyapunov_convergence.svg", &lyapunov_plot),
    ] {
        let path = cx.options.out.join(name);
        std::fs::write(&path, plot.to_svg()).map_err(|e| Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        written.push(path);
    }
    Ok(written)
}

fn run(cx: &mut Context) -> Result<Vec<PathBuf>, Error> {
    use Smooth::{No, Yes};
    cell_checks(cx, |h, i| Elman::new(ElmanDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| ElmanConcat::new(ElmanConcatDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, _| RunningSum::new(RunningSumDims { H: h }), Yes)?;
    cell_checks(cx, |h, _| Leaky::new(LeakyDims { H: h }), Yes)?;
    cell_checks(cx, |h, i| RnnTanh::new(RnnTanhDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| RnnRelu::new(RnnReluDims { H: h, I: i }), No)?;
    cell_checks(cx, |h, i| Lstm::new(LstmDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| Gru::new(GruDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| PeepholeLstm::new(PeepholeLstmDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| Cifg::new(CifgDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| Mgu::new(MguDims { H: h, I: i }), Yes)?;
    cell_checks(cx, |h, i| IndRnn::new(IndRnnDims { H: h, I: i }), No)?;
    cell_checks(cx, |h, i| HardLstm::new(HardLstmDims { H: h, I: i }), No)?;
    cell_checks(cx, |h, i| Reservoir::new(ReservoirDims { N: h, I: i }), Yes)?;
    tanh_checks(cx)?;
    other_checks(cx)?;
    eprintln!();
    if cx.general() {
        spectral(cx)
    } else {
        Ok(Vec::new())
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2; `--help` and `--version` print to stdout and exit with 0.
    let options = Options::parse();
    if let Err(e) = std::fs::create_dir_all(&options.out) {
        eprintln!("error: cannot create --out {}: {e}", options.out.display());
        return ExitCode::FAILURE;
    }
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&options.seed.to_le_bytes());
    let runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let mut cx = Context {
        runner,
        options,
        table: Table {
            rows: Vec::new(),
            index: BTreeMap::new(),
        },
        started: Instant::now(),
    };
    let plots = match run(&mut cx) {
        Ok(plots) => plots,
        Err(error) => {
            eprintln!("\nerror: {error}");
            return ExitCode::FAILURE;
        }
    };
    if cx.table.rows.is_empty() {
        // `--cell` accepts only the names in `CELLS`, and `run` checks each of them.
        eprintln!(
            "error: the report has no check of cell {:?}",
            cx.options.cell.clone().unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }
    println!();
    println!(
        "{:<30} {:<20} {:>6} {:>8} {:>12} {:>11} {:>10}  verdict",
        "property", "cell", "cases", "checks", "worst |err|", "tolerance", "err/tol"
    );
    let mut failed = 0;
    for ((property, cell), check, cases) in &cx.table.rows {
        let verdict = if check.passed() { "pass" } else { "FAIL" };
        if !check.passed() {
            failed += 1;
        }
        println!(
            "{property:<30} {cell:<20} {cases:>6} {:>8} {:>12.3e} {:>11.3e} {:>10.3e}  {verdict}",
            check.comparisons, check.worst_error, check.worst_tolerance, check.worst_ratio
        );
        if !check.passed() {
            println!("    worst: {}", check.detail);
        }
    }
    println!(
        "  err/tol: the worst error / tolerance over all cases (≤ 1 passes); tolerance 0 means bitwise equality."
    );
    println!(
        "  For inequalities (P4, P5 bounds, P8 ‖·‖∞, P11) the columns are the value and its bound: err/tol is how"
    );
    println!("  close the bound came to being reached.");
    for path in &plots {
        println!("plot written: {}", path.display());
    }
    if plots.is_empty() {
        println!(
            "no plots written to {}: they come from the spectral section, which runs only without --cell",
            cx.options.out.display()
        );
    }
    println!(
        "{} property rows, {} failing, {:.1} s",
        cx.table.rows.len(),
        failed,
        cx.started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
