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
        let line = format!("plot written: {}", out.join(plot).display());
        assert!(stdout.lines().any(|l| l == line), "no {line:?} in:\n{stdout}");
    }
    // The cells `--cell` accepts are exactly the cells with rows of their own.
    let cells: std::collections::BTreeSet<String> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("property "))
        .skip(1)
        .take_while(|l| !l.starts_with("  err/tol"))
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.chars().skip(31).take(20).collect::<String>().trim().to_owned())
        .filter(|c| !["LinearRnn", "(clipping)", "Elman ~ ElmanConcat"].contains(&c.as_str()))
        .collect();
    let expected: std::collections::BTreeSet<String> = CELLS.iter().map(|c| c.to_string()).collect();
    assert_eq!(cells, expected, "{stdout}");
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

/// The built-in cells the report checks, as `--cell` accepts them.
const CELLS: [&str; 14] = [
    "Elman",
    "ElmanConcat",
    "RunningSum",
    "Leaky",
    "RnnTanh",
    "RnnRelu",
    "Lstm",
    "Gru",
    "PeepholeLstm",
    "Cifg",
    "Mgu",
    "IndRnn",
    "HardLstm",
    "Reservoir",
];

/// A fresh directory name under the system's temp dir (not created).
fn temp_out(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "rnn-verify-report-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    for flag in ["--help", "-h"] {
        let output = report(&[flag]);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "{flag}:\n{stdout}\n{stderr}");
        assert!(stderr.is_empty(), "{flag} wrote to stderr:\n{stderr}");
        for option in [
            "Usage:",
            "--cases <N>",
            "--cell <NAME>",
            "--out <DIR>",
            "--seed <S>",
            "--version",
        ] {
            assert!(stdout.contains(option), "{flag}: no {option:?} in:\n{stdout}");
        }
    }
    for flag in ["--version", "-V"] {
        let output = report(&[flag]);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "{flag}:\n{stdout}\n{stderr}");
        assert!(stderr.is_empty(), "{flag} wrote to stderr:\n{stderr}");
        assert_eq!(
            stdout.trim_end(),
            format!("rnn-verify {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn an_unknown_cell_is_a_usage_error_listing_the_cells() {
    let out = temp_out("unknown-cell");
    let output = report(&[
        "--cell",
        "NoSuchCell",
        "--cases",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("NoSuchCell"), "{stderr}");
    for cell in CELLS {
        assert!(stderr.contains(cell), "{cell} not listed in:\n{stderr}");
    }
    // Rejected before anything runs.
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    assert!(!out.exists());
}

#[test]
fn an_out_that_cannot_be_created_is_an_error_exiting_1() {
    let file = temp_out("file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = file.join("sub");
    let output = report(&["--cases", "1", "--cell", "Leaky", "--out", out.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stderr}",
        text(&output.stdout)
    );
    assert!(stderr.contains(out.to_str().unwrap()), "{stderr}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn out_is_created_and_the_report_says_why_no_plot_was_written() {
    let out = temp_out("one-cell").join("nested");
    let output = report(&["--cases", "1", "--cell", "leaky", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(out.is_dir(), "--out {} not created", out.display());
    assert!(
        stdout.contains("no plots written") && stdout.contains("--cell"),
        "no word on the plots in:\n{stdout}"
    );
    assert!(!stdout.contains("plot written:"), "{stdout}");
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn a_repeated_option_is_an_error() {
    for args in [
        ["--cases", "3", "--cases", "4", "--cell", "Leaky"],
        ["--cell", "Leaky", "--cell", "Gru", "--cases", "1"],
        ["--seed", "1", "--seed", "2", "--cell", "Leaky"],
    ] {
        let output = report(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}:\n{stderr}");
        assert!(stderr.contains(args[0]), "{args:?}:\n{stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?} ran:\n{}",
            text(&output.stdout)
        );
    }
}

#[test]
fn bad_numbers_are_usage_errors() {
    for args in [
        &["--cases", "0"][..],
        &["--cases", "-1"],
        &["--cases", "zero"],
        &["--cases", "1.5"],
        &["--seed", "x"],
        &["--seed", "-1"],
        &["--seed"],
    ] {
        let output = report(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}:\n{stderr}");
        assert!(stderr.contains(args[0]), "{args:?}:\n{stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?} ran:\n{}",
            text(&output.stdout)
        );
    }
}
