//! What the examples share: a progress bar on a terminal (plain log lines elsewhere) and
//! writing a plot.

use rnn_core::Error;
use rnn_verify::plot::Plot;
use std::io::{IsTerminal, Write};

/// A one-line progress bar on standard error, drawn only when it is a terminal.
pub struct Progress {
    total: usize,
    label: String,
    shown: bool,
}

impl Progress {
    /// A bar for `total` units of work.
    pub fn new(label: &str, total: usize) -> Self {
        Progress {
            total: total.max(1),
            label: label.to_owned(),
            shown: std::io::stderr().is_terminal(),
        }
    }

    /// Shows `done` of the total, with a short status text.
    pub fn update(&self, done: usize, status: &str) {
        if !self.shown {
            return;
        }
        let filled = done.min(self.total) * 30 / self.total;
        eprint!(
            "\r{} [{}{}] {done}/{} {status}   ",
            self.label,
            "=".repeat(filled),
            " ".repeat(30 - filled),
            self.total
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Writes `plot` as SVG to `path`.
pub fn write_plot(plot: &Plot, path: &str) -> Result<(), Error> {
    std::fs::write(path, plot.to_svg()).map_err(|e| Error::Io {
        path: path.into(),
        reason: e.to_string(),
    })
}
