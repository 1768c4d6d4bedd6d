//! The verification report: every gradient property on every built-in cell, as a table.
//!
//! `cargo run --release -p rnn-verify -- [--cases N] [--cell NAME] [--seed S]`
//! Exits with status 1 if any check fails, 2 on a usage error.

use rnn_core::Cell;
use rnn_core::cells::*;
use rnn_core::{Error, SplitMix64};
use rnn_verify::{GradReport, Problem, check_dual, check_finite_differences};
use std::io::Write;
use std::process::ExitCode;

struct Options {
    cases: usize,
    cell: Option<String>,
    seed: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        cases: 20,
        cell: None,
        seed: 2026,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--cases" => options.cases = value()?.parse().map_err(|e| format!("--cases: {e}"))?,
            "--cell" => options.cell = Some(value()?),
            "--seed" => options.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--help" | "-h" => {
                return Err("usage: rnn-verify [--cases N] [--cell NAME] [--seed S]".to_owned());
            }
            other => return Err(format!("unknown option {other}; try --help")),
        }
    }
    Ok(options)
}

/// Worst results over all cases of one property on one cell.
struct Row {
    property: &'static str,
    cell: &'static str,
    cases: usize,
    failures: usize,
    worst: Option<GradReport>,
}

impl Row {
    fn add(&mut self, report: GradReport) {
        self.cases += 1;
        if !report.passed() {
            self.failures += 1;
        }
        if self
            .worst
            .as_ref()
            .is_none_or(|w| report.worst_ratio > w.worst_ratio)
        {
            self.worst = Some(report);
        }
    }
}

/// Whether finite differences apply: not across ReLU kinks or rounded gates (THEORY.md P2
/// pitfalls); the test suite checks ReLU cells by P2 away from their kinks.
#[derive(Clone, Copy, PartialEq)]
enum Smooth {
    Yes,
    No,
}

fn check_cell<C: Cell<f64>>(
    make: impl Fn(&mut SplitMix64) -> Result<C, Error>,
    smooth: Smooth,
    options: &Options,
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    if options
        .cell
        .as_deref()
        .is_some_and(|name| !name.eq_ignore_ascii_case(C::NAME))
    {
        return Ok(());
    }
    let mut rng = SplitMix64::new(options.seed ^ C::NAME.len() as u64);
    let mut fd = Row {
        property: "P2 BPTT = central FD",
        cell: C::NAME,
        cases: 0,
        failures: 0,
        worst: None,
    };
    let mut dual = Row {
        property: "P3 BPTT = dual numbers",
        cell: C::NAME,
        cases: 0,
        failures: 0,
        worst: None,
    };
    for case in 0..options.cases {
        let cell = make(&mut rng)?;
        let batch = 1 + (rng.next_u64() % 3) as usize;
        let steps = 1 + (rng.next_u64() % 20) as usize;
        let problem = Problem::seeded(cell, batch, steps, rng.next_u64())?;
        if smooth == Smooth::Yes {
            fd.add(check_finite_differences(&problem)?);
        }
        dual.add(check_dual(&problem)?);
        eprint!("\r{:<14} case {}/{}", C::NAME, case + 1, options.cases);
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    if smooth == Smooth::Yes {
        rows.push(fd);
    }
    rows.push(dual);
    Ok(())
}

fn size(rng: &mut SplitMix64, max: u64) -> usize {
    1 + (rng.next_u64() % max) as usize
}

macro_rules! dims2 {
    ($cell:ident, $dims:ident) => {
        |r: &mut SplitMix64| {
            $cell::init(
                $dims {
                    H: size(r, 6),
                    I: size(r, 4),
                },
                r.next_u64(),
            )
        }
    };
}

fn run(options: &Options) -> Result<Vec<Row>, Error> {
    use Smooth::{No, Yes};
    let mut rows = Vec::new();
    check_cell(dims2!(Elman, ElmanDims), Yes, options, &mut rows)?;
    check_cell(dims2!(ElmanConcat, ElmanConcatDims), Yes, options, &mut rows)?;
    check_cell(
        |r| RunningSum::init(RunningSumDims { H: size(r, 6) }, r.next_u64()),
        Yes,
        options,
        &mut rows,
    )?;
    let leaky = |r: &mut SplitMix64| {
        let mut cell = Leaky::init(LeakyDims { H: size(r, 6) }, r.next_u64())?;
        cell.alpha = r.next_f64();
        Ok(cell)
    };
    check_cell(leaky, Yes, options, &mut rows)?;
    check_cell(dims2!(RnnTanh, RnnTanhDims), Yes, options, &mut rows)?;
    check_cell(dims2!(RnnRelu, RnnReluDims), No, options, &mut rows)?;
    check_cell(dims2!(Lstm, LstmDims), Yes, options, &mut rows)?;
    check_cell(dims2!(Gru, GruDims), Yes, options, &mut rows)?;
    check_cell(dims2!(PeepholeLstm, PeepholeLstmDims), Yes, options, &mut rows)?;
    check_cell(dims2!(Cifg, CifgDims), Yes, options, &mut rows)?;
    check_cell(dims2!(Mgu, MguDims), Yes, options, &mut rows)?;
    check_cell(dims2!(IndRnn, IndRnnDims), No, options, &mut rows)?;
    check_cell(dims2!(HardLstm, HardLstmDims), No, options, &mut rows)?;
    Ok(rows)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let rows = match run(&options) {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if rows.is_empty() {
        eprintln!(
            "no built-in cell is called {:?}",
            options.cell.unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    println!(
        "{:<24} {:<13} {:>5} {:>12} {:>10} {:>10}  verdict",
        "property", "cell", "cases", "worst |err|", "tolerance", "err/tol"
    );
    let mut failed = false;
    for row in &rows {
        let worst = row.worst.as_ref().and_then(|w| w.worst.as_ref());
        let (error, tolerance) = worst.map_or((0.0, 0.0), |w| (w.error, w.tolerance));
        let ratio = row.worst.as_ref().map_or(0.0, |w| w.worst_ratio);
        let verdict = if row.failures == 0 { "pass" } else { "FAIL" };
        failed |= row.failures > 0;
        println!(
            "{:<24} {:<13} {:>5} {:>12.3e} {:>10.3e} {:>10.3e}  {verdict}",
            row.property, row.cell, row.cases, error, tolerance, ratio
        );
        if row.failures > 0
            && let Some(w) = &row.worst
        {
            println!("    {w}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
