//! The report binary as a user runs it: options, exit codes, plots.

use std::process::Command;

fn report(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rnn-verify"))
        .args(args)
        .output()
        .expect("the report binary runs")
}

#[test]
fn a_full_run_passes_and_writes_the_plots() {
    let out = std::env::temp_dir().join(format!("rnn-verify-report-{}", std::process::id()));
    let output = report(&["--cases", "2", "--seed", "7", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "report failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for property in [
        "P1 ", "P2 ", "P3 ", "P4 ", "P5 ", "P6 ", "P7 ", "P8 ", "P9 ", "P10 ", "P11 ",
    ] {
        assert!(stdout.contains(property), "no {property}row in:\n{stdout}");
    }
    assert!(stdout.contains("spectral section"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for plot in ["gradient_vs_lag.svg", "lyapunov_convergence.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).expect("plot written");
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{plot} has no lines"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn one_cell_only() {
    let output = report(&["--cases", "2", "--cell", "lstm"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Lstm") && !stdout.contains("Gru "), "{stdout}");
}

#[test]
fn bad_usage_exits_with_2() {
    assert_eq!(report(&["--bogus"]).status.code(), Some(2));
    assert_eq!(report(&["--cases"]).status.code(), Some(2));
    assert_eq!(report(&["--cases", "zero"]).status.code(), Some(2));
    assert_eq!(
        report(&["--cell", "NoSuchCell", "--cases", "1"]).status.code(),
        Some(2)
    );
}
