//! Echo state networks: a fixed random reservoir, scaled to a chosen spectral radius, and a
//! linear readout solved in closed form by ridge regression.
//!
//! ```
//! use nalgebra::DMatrix;
//! use rnn_core::esn::{EchoStateNetwork, EsnConfig};
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! // Learn y_t = u_{t-1} (a one-step memory) from a random input.
//! let mut rng = rnn_core::SplitMix64::new(1);
//! let u: Vec<f64> = (0..600).map(|_| rng.uniform(-0.5, 0.5)).collect();
//! let inputs: Vec<DMatrix<f64>> = u.iter().map(|&v| DMatrix::from_element(1, 1, v)).collect();
//! let targets: Vec<DMatrix<f64>> =
//!     (0..600).map(|t| DMatrix::from_element(1, 1, if t > 0 { u[t - 1] } else { 0.0 })).collect();
//! let config = EsnConfig { reservoir_size: 50, washout: 50, ..EsnConfig::default() };
//! let mut esn = EchoStateNetwork::new(1, 1, config)?;
//! let fit = esn.fit(&inputs, &targets)?;
//! assert!(fit.nrmse < 0.05, "training NRMSE {}", fit.nrmse);
//! # Ok(())
//! # }
//! ```
//!
//! # The maths
//! The reservoir is the [`Reservoir`] cell, `x_t = (1 − a) x_{t-1} + a tanh(W x_{t-1} +
//! W_in u_t + b)`. `W` is sparse (each entry non-zero with probability `density`, uniform in
//! `[-1, 1]`) and then scaled so that its spectral radius `max |λ_i(W)|` is `spectral_radius`
//! (eigenvalues from nalgebra's real Schur form). A radius below 1 is the usual recipe for the
//! echo state property (the state forgets its initial value); it is a heuristic, not a
//! guarantee (Yildiz, Jaeger & Kiebel 2012), and P11 of `docs/THEORY.md` gives a sufficient
//! condition through the spectral *norm*.
//!
//! Training collects the states `x_t` for `t > washout` as the columns of `X` (`N × M`) with
//! the targets `Y` (`O × M`) and solves the ridge problem with an unpenalised bias,
//! `min ‖Y − W_out X − b 1ᵀ‖² + β ‖W_out‖²`: with `X̃`, `Ỹ` centred by their means `x̄`, `ȳ`,
//! `W_out = Ỹ X̃ᵀ (X̃ X̃ᵀ + β I)⁻¹` (a Cholesky solve, `β > 0` makes it positive definite) and
//! `b = ȳ − W_out x̄`.

use crate::cells::{Reservoir, ReservoirDims, ReservoirInput, ReservoirState};
use crate::dense::Dense;
use crate::{Cell, Error, SplitMix64, seq};
use nalgebra::{DMatrix, DVector};

/// How to draw and train an echo state network. `Default` is a common starting point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EsnConfig {
    /// Reservoir units `N`.
    pub reservoir_size: usize,
    /// Spectral radius of `W` after scaling.
    pub spectral_radius: f64,
    /// Probability that an entry of `W` is non-zero, in (0, 1].
    pub density: f64,
    /// `W_in` uniform in `[-input_scaling, input_scaling]`.
    pub input_scaling: f64,
    /// `b` uniform in `[-bias_scaling, bias_scaling]`.
    pub bias_scaling: f64,
    /// Leak rate `a` in (0, 1].
    pub leak: f64,
    /// Ridge parameter `β > 0`.
    pub ridge: f64,
    /// Initial steps whose states are not used for training (they still depend on the zero
    /// initial state).
    pub washout: usize,
    /// Seed of the reservoir draw.
    pub seed: u64,
}

impl Default for EsnConfig {
    fn default() -> Self {
        EsnConfig {
            reservoir_size: 200,
            spectral_radius: 0.9,
            density: 0.1,
            input_scaling: 1.0,
            bias_scaling: 0.2,
            leak: 1.0,
            ridge: 1e-6,
            washout: 100,
            seed: 0,
        }
    }
}

/// What [`EchoStateNetwork::fit`] reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Training steps used (after the washout), summed over the batch.
    pub samples: usize,
    /// Training root-mean-square error divided by the targets' standard deviation.
    pub nrmse: f64,
}

/// A reservoir and a trained readout `y_t = W_out x_t + b`.
#[derive(Clone, Debug)]
pub struct EchoStateNetwork {
    /// The fixed reservoir.
    pub reservoir: Reservoir<f64>,
    /// The readout (zero until [`EchoStateNetwork::fit`]).
    pub readout: Dense<f64>,
    /// The washout used by [`EchoStateNetwork::fit`].
    pub washout: usize,
    /// The ridge parameter used by [`EchoStateNetwork::fit`].
    pub ridge: f64,
}

fn out_of_range(what: &str, range: &str, found: impl ToString) -> Error {
    Error::OutOfRange {
        what: what.into(),
        range: range.into(),
        found: found.to_string(),
    }
}

/// The spectral radius `max |λ_i|` of a square matrix, from its real Schur form; 0 for the
/// `0 × 0` matrix, which has no eigenvalue.
pub fn spectral_radius(m: &DMatrix<f64>) -> Result<f64, Error> {
    if !m.is_square() {
        return Err(Error::Shape {
            what: "matrix of spectral_radius (square)".into(),
            expected: (m.nrows(), m.nrows()),
            found: m.shape(),
        });
    }
    if m.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            what: "matrix of spectral_radius".into(),
        });
    }
    let largest = m.amax();
    if largest == 0.0 {
        // Also the 0 × 0 matrix, which has no eigenvalue.
        return Ok(0.0);
    }
    // Scaled by the power of two nearest below its largest entry, so the Schur iteration cannot
    // overflow: exact (ρ(cA) = c ρ(A)), and the identity for entries of order 1.
    let scale = 2f64.powi(largest.log2().floor() as i32);
    let schur = nalgebra::linalg::Schur::try_new(m / scale, f64::EPSILON, 100 * m.nrows().max(10))
        .ok_or_else(|| Error::NonFinite {
            what: "Schur iteration of spectral_radius (did not converge)".into(),
        })?;
    // A NaN modulus must not vanish in the maximum (f64::max ignores NaN).
    let radius = scale
        * schur.complex_eigenvalues().iter().fold(0.0_f64, |r, z| {
            let modulus = z.norm();
            if modulus.is_nan() { modulus } else { r.max(modulus) }
        });
    if !radius.is_finite() {
        return Err(Error::NonFinite {
            what: "spectral radius (it exceeds the range of f64)".into(),
        });
    }
    Ok(radius)
}

/// Ridge regression with an unpenalised bias: `features` `F × M` (one sample per column),
/// `targets` `O × M`; returns the readout minimising `‖Y − W X − b 1ᵀ‖² + β ‖W‖²`.
pub fn ridge_regression(
    features: &DMatrix<f64>,
    targets: &DMatrix<f64>,
    ridge: f64,
) -> Result<Dense<f64>, Error> {
    if !(ridge > 0.0 && ridge.is_finite()) {
        return Err(out_of_range("ridge parameter β", "(0, ∞)", ridge));
    }
    if targets.ncols() != features.ncols() {
        return Err(Error::Length {
            what: "samples (columns) of the targets, against the features".into(),
            expected: features.ncols(),
            found: targets.ncols(),
        });
    }
    if features.ncols() == 0 {
        return Err(Error::EmptySequence {
            what: "the training samples of ridge_regression".into(),
        });
    }
    let count = features.ncols() as f64;
    let feature_mean: DVector<f64> = features.column_sum() / count;
    let target_mean: DVector<f64> = targets.column_sum() / count;
    let mut x = features.clone();
    for mut column in x.column_iter_mut() {
        column -= &feature_mean;
    }
    let mut y = targets.clone();
    for mut column in y.column_iter_mut() {
        column -= &target_mean;
    }
    let mut gram = &x * x.transpose();
    for i in 0..gram.nrows() {
        gram[(i, i)] += ridge;
    }
    let cholesky = gram.cholesky().ok_or_else(|| Error::NonFinite {
        what: "Gram matrix of ridge_regression (not positive definite: non-finite features?)".into(),
    })?;
    let w = cholesky.solve(&(&x * y.transpose())).transpose();
    let b = &target_mean - &w * &feature_mean;
    Ok(Dense { w, b })
}

impl EchoStateNetwork {
    /// Draws a reservoir for `inputs` input and `outputs` output channels.
    pub fn new(inputs: usize, outputs: usize, config: EsnConfig) -> Result<Self, Error> {
        let n = config.reservoir_size;
        if !(config.density > 0.0 && config.density <= 1.0) {
            return Err(out_of_range("reservoir density", "(0, 1]", config.density));
        }
        if !(config.leak > 0.0 && config.leak <= 1.0) {
            return Err(out_of_range("leak rate", "(0, 1]", config.leak));
        }
        for (what, scaling) in [
            ("input scaling", config.input_scaling),
            ("bias scaling", config.bias_scaling),
        ] {
            // Drawn uniform in ±scaling, whose width 2 × scaling must be finite.
            if !(scaling >= 0.0 && (2.0 * scaling).is_finite()) {
                return Err(out_of_range(what, "[0, f64::MAX / 2]", scaling));
            }
        }
        if !(config.spectral_radius >= 0.0 && config.spectral_radius.is_finite()) {
            return Err(out_of_range("spectral radius", "[0, ∞)", config.spectral_radius));
        }
        if outputs == 0 {
            return Err(Error::ZeroDimension {
                cell: "EchoStateNetwork",
                dim: "outputs",
            });
        }
        let mut reservoir = Reservoir::<f64>::new(ReservoirDims { N: n, I: inputs })?;
        let mut rng = SplitMix64::new(config.seed);
        let mut w = crate::checks::matrix("the reservoir", n, n, |_, _| {
            let keep = rng.next_f64() < config.density;
            let value = rng.uniform(-1.0, 1.0);
            if keep { value } else { 0.0 }
        })?;
        let radius = spectral_radius(&w)?;
        if radius == 0.0 {
            return Err(out_of_range(
                "spectral radius of the drawn reservoir (raise the density)",
                "(0, ∞)",
                radius,
            ));
        }
        w *= config.spectral_radius / radius;
        // A (numerically) nilpotent draw has a radius made of rounding errors: scaling by it
        // misses the target. So does a target so large that the entries overflow.
        let scaled = spectral_radius(&w)?;
        if (scaled - config.spectral_radius).abs() > 1e-6 * config.spectral_radius {
            return Err(out_of_range(
                "spectral radius of the scaled reservoir (the draw is nearly nilpotent or the \
                 target too large: raise the density or change the seed)",
                &format!("{} ± 1e-6 relative (the target)", config.spectral_radius),
                scaled,
            ));
        }
        reservoir.w = w;
        reservoir.w_in = DMatrix::from_fn(n, inputs, |_, _| {
            rng.uniform(-config.input_scaling, config.input_scaling)
        });
        reservoir.b = DVector::from_fn(n, |_, _| rng.uniform(-config.bias_scaling, config.bias_scaling));
        reservoir.leak = config.leak;
        Ok(EchoStateNetwork {
            reservoir,
            readout: Dense {
                w: DMatrix::zeros(outputs, n),
                b: DVector::zeros(outputs),
            },
            washout: config.washout,
            ridge: config.ridge,
        })
    }

    /// The reservoir states after every step (`N × B` each) from a zero state.
    pub fn states(&self, inputs: &[DMatrix<f64>]) -> Result<Vec<DMatrix<f64>>, Error> {
        let batch = inputs.first().map_or(1, |u| u.ncols());
        self.states_from(&self.reservoir.zero_state(batch).x, inputs)
    }

    fn states_from(
        &self,
        initial: &DMatrix<f64>,
        inputs: &[DMatrix<f64>],
    ) -> Result<Vec<DMatrix<f64>>, Error> {
        let inputs: Vec<ReservoirInput<f64>> =
            inputs.iter().map(|u| ReservoirInput { u: u.clone() }).collect();
        let initial = ReservoirState { x: initial.clone() };
        Ok(seq::run(&self.reservoir, &initial, &inputs)?
            .into_iter()
            .map(|s| s.x)
            .collect())
    }

    /// Trains the readout on `targets[t]` (`O × B`), the desired output after reading
    /// `inputs[t]` (`I × B`), skipping the first `washout` steps.
    pub fn fit(&mut self, inputs: &[DMatrix<f64>], targets: &[DMatrix<f64>]) -> Result<Fit, Error> {
        if targets.len() != inputs.len() {
            return Err(Error::Length {
                what: "targets (one per input step)".into(),
                expected: inputs.len(),
                found: targets.len(),
            });
        }
        if inputs.is_empty() {
            return Err(Error::EmptySequence {
                what: "the input sequence given to EchoStateNetwork::fit".into(),
            });
        }
        if self.washout >= inputs.len() {
            return Err(out_of_range(
                "washout (steps skipped before training)",
                &format!(
                    "0..{} (fewer than the {} steps given)",
                    inputs.len(),
                    inputs.len()
                ),
                self.washout,
            ));
        }
        let states = self.states(inputs)?;
        let outputs = self.readout.w.nrows();
        for (t, y) in targets.iter().enumerate() {
            if y.shape() != (outputs, states[t].ncols()) {
                return Err(Error::Shape {
                    what: format!("target at step {}", t + 1),
                    expected: (outputs, states[t].ncols()),
                    found: y.shape(),
                });
            }
        }
        let features = crate::seq::hstack(
            &states[self.washout..].iter().collect::<Vec<_>>(),
            states[0].nrows(),
        );
        let wanted = crate::seq::hstack(&targets[self.washout..].iter().collect::<Vec<_>>(), outputs);
        self.readout = ridge_regression(&features, &wanted, self.ridge)?;
        let predicted = self.readout.forward(&features)?;
        Ok(Fit {
            samples: features.ncols(),
            nrmse: nrmse(&predicted, &wanted)?,
        })
    }

    /// The readout after every step, from a zero state.
    pub fn predict(&self, inputs: &[DMatrix<f64>]) -> Result<Vec<DMatrix<f64>>, Error> {
        self.states(inputs)?
            .iter()
            .map(|x| self.readout.forward(x))
            .collect()
    }

    /// Teacher-forced over `inputs`, then free running for `steps` more, each output fed back
    /// as the next input (needs as many outputs as inputs). Returns the free-running outputs.
    pub fn generate(&self, inputs: &[DMatrix<f64>], steps: usize) -> Result<Vec<DMatrix<f64>>, Error> {
        if self.readout.w.nrows() != self.reservoir.w_in.ncols() {
            return Err(Error::Shape {
                what: "readout of a generating echo state network (outputs × reservoir, outputs = inputs)"
                    .into(),
                expected: (self.reservoir.w_in.ncols(), self.reservoir.w.nrows()),
                found: self.readout.w.shape(),
            });
        }
        let states = self.states(inputs)?;
        let mut x = states.last().cloned().ok_or_else(|| Error::EmptySequence {
            what: "the warm-up inputs of generate".into(),
        })?;
        let mut generated =
            crate::checks::reserve(|| "steps generated by an echo state network".to_owned(), steps)?;
        for _ in 0..steps {
            let y = self.readout.forward(&x)?;
            x = self
                .reservoir
                .forward(&ReservoirState { x }, &ReservoirInput { u: y.clone() })?
                .x;
            generated.push(y);
        }
        Ok(generated)
    }
}

/// Root-mean-square error over every entry divided by the targets' standard deviation.
///
/// The two matrices must have one shape ([`Error::Shape`] otherwise) with at least one entry
/// ([`Error::EmptySequence`]); targets without spread (every entry equal) have no NRMSE
/// ([`Error::OutOfRange`] on their variance), and non-finite entries are an
/// [`Error::NonFinite`].
pub fn nrmse(predicted: &DMatrix<f64>, target: &DMatrix<f64>) -> Result<f64, Error> {
    if predicted.shape() != target.shape() {
        return Err(Error::Shape {
            what: "prediction given to nrmse (the target's shape)".into(),
            expected: target.shape(),
            found: predicted.shape(),
        });
    }
    if target.is_empty() {
        return Err(Error::EmptySequence {
            what: "the target given to nrmse".into(),
        });
    }
    for (what, m) in [("prediction", predicted), ("target", target)] {
        if let Some(i) = m.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: format!(
                    "{what} given to nrmse (entry {}, {})",
                    i % m.nrows(),
                    i / m.nrows()
                ),
            });
        }
    }
    let n = target.len() as f64;
    let mean = target.sum() / n;
    let variance = target.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
    if variance <= 0.0 {
        return Err(out_of_range(
            "variance of the target given to nrmse",
            "(0, ∞) (the NRMSE divides by it)",
            variance,
        ));
    }
    let value = ((predicted - target).norm_squared() / n / variance).sqrt();
    if !value.is_finite() || !variance.is_finite() {
        // Entries near f64::MAX overflow when squared.
        return Err(Error::NonFinite {
            what: "NRMSE (its squares overflow f64)".into(),
        });
    }
    Ok(value)
}
