//! Gradient checks (THEORY.md P2 and P3) for any [`Cell`].

use nalgebra::DMatrix;
use num_dual::Dual64;
use rnn_core::{Cell, Error, ParamSet, Scalar, SplitMix64, Tensors, seq};
use std::fmt;

/// A cell, an initial state, an input sequence and the readouts of the linear loss
/// `L = Σ_t Σ_k ⟨readout[t].k, (state after step t+1).k⟩`.
#[derive(Clone, Debug)]
pub struct Problem<T: Scalar, C: Cell<T>> {
    /// The cell under test.
    pub cell: C,
    /// `s_0`.
    pub initial: C::State,
    /// `x_1 .. x_T`.
    pub inputs: Vec<C::Input>,
    /// `r_1 .. r_T`, one per step, shaped like the state.
    pub readout: Vec<C::State>,
}

fn dot<T: Scalar>(a: &DMatrix<T>, b: &DMatrix<T>) -> T {
    a.iter()
        .zip(b.iter())
        .fold(T::zero(), |acc, (&x, &y)| acc + x * y)
}

fn map_tensors<T: Scalar, U: Scalar, A: Tensors<T>, B: Tensors<U>>(a: &A, f: impl Fn(T) -> U) -> B {
    B::from_fn(|k| a.get(k).map_or_else(|| DMatrix::zeros(0, 0), |m| m.map(&f)))
}

/// Parameters, then every input entry step by step, then the initial state: the layout of
/// [`Problem::gradient`] and [`Problem::variables`].
fn flatten<T: Scalar, I: Tensors<T>, S: Tensors<T>>(mut flat: Vec<T>, inputs: &[I], initial: &S) -> Vec<T> {
    for m in inputs.iter().flat_map(|x| x.iter()).chain(initial.iter()) {
        flat.extend(m.iter().copied());
    }
    flat
}

fn tensors_len<T: Scalar, A: Tensors<T>>(a: &A) -> usize {
    a.iter().map(|m| m.len()).sum()
}

impl<T: Scalar, C: Cell<T>> Problem<T, C> {
    /// The loss.
    pub fn loss(&self) -> Result<T, Error> {
        let states = seq::run(&self.cell, &self.initial, &self.inputs)?;
        Ok(self.readout_loss(&states))
    }

    fn readout_loss(&self, states: &[C::State]) -> T {
        let mut total = T::zero();
        for (state, readout) in states.iter().zip(&self.readout) {
            for (s, r) in state.iter().zip(readout.iter()) {
                total += dot(s, r);
            }
        }
        total
    }

    /// The BPTT gradient, flat: parameters (as [`ParamSet::to_flat`]), then every input
    /// entry (step by step, each matrix column-major), then the initial state's entries.
    pub fn gradient(&self) -> Result<Vec<T>, Error> {
        let trajectory = seq::unroll(&self.cell, &self.initial, &self.inputs)?;
        let grads = seq::bptt(&self.cell, &trajectory, &self.readout)?;
        Ok(flatten(
            grads.params.to_flat(),
            &grads.inputs,
            &grads.initial_state,
        ))
    }

    /// The variables in the layout of [`Problem::gradient`].
    pub fn variables(&self) -> Vec<T> {
        flatten(self.cell.to_flat(), &self.inputs, &self.initial)
    }

    /// Applies `f(index, value)` to every variable, in the layout of [`Problem::gradient`].
    pub fn update_variables(&mut self, mut f: impl FnMut(usize, &mut T)) {
        let mut index = 0;
        self.cell.visit_mut(|_, _, data| {
            for v in data {
                f(index, v);
                index += 1;
            }
        });
        for x in &mut self.inputs {
            for k in 0..C::Input::NAMES.len() {
                if let Some(m) = x.get_mut(k) {
                    for v in m.iter_mut() {
                        f(index, v);
                        index += 1;
                    }
                }
            }
        }
        for k in 0..C::State::NAMES.len() {
            if let Some(m) = self.initial.get_mut(k) {
                for v in m.iter_mut() {
                    f(index, v);
                    index += 1;
                }
            }
        }
    }

    /// A readable name for variable `index`: `param w_hh[4]`, `input t=2 x[5]`, `initial h[0]`.
    pub fn label(&self, index: usize) -> String {
        let mut offset = 0;
        let mut found = None;
        self.cell.visit(|name, _, data| {
            if found.is_none() && index < offset + data.len() {
                found = Some(format!("param {name}[{}]", index - offset));
            }
            offset += data.len();
        });
        if let Some(label) = found {
            return label;
        }
        for (t, x) in self.inputs.iter().enumerate() {
            for (k, m) in x.iter().enumerate() {
                if index < offset + m.len() {
                    return format!("input t={} {}[{}]", t + 1, C::Input::NAMES[k], index - offset);
                }
                offset += m.len();
            }
        }
        for (k, m) in self.initial.iter().enumerate() {
            if index < offset + m.len() {
                return format!("initial {}[{}]", C::State::NAMES[k], index - offset);
            }
            offset += m.len();
        }
        format!("variable {index}")
    }

    /// The same problem over another scalar type.
    pub fn retype<U: Scalar>(&self, f: impl Fn(T) -> U + Copy) -> Problem<U, C::Retyped<U>> {
        Problem {
            cell: self.cell.retype(f),
            initial: map_tensors(&self.initial, f),
            inputs: self.inputs.iter().map(|x| map_tensors(x, f)).collect(),
            readout: self.readout.iter().map(|r| map_tensors(r, f)).collect(),
        }
    }
}

impl<C: Cell<f64>> Problem<f64, C> {
    /// A problem for `cell` (whose parameters are kept) with `batch` sequences of `steps`
    /// steps; inputs, initial state and readouts are seeded uniform in `[-1, 1)`.
    pub fn seeded(cell: C, batch: usize, steps: usize, seed: u64) -> Result<Self, Error> {
        let mut rng = SplitMix64::new(seed);
        let mut random = |rows: usize| DMatrix::from_fn(rows, batch, |_, _| rng.uniform(-1.0, 1.0));
        let inputs: Vec<C::Input> = (0..steps)
            .map(|_| C::Input::from_fn(|k| random(cell.input_rows(k))))
            .collect();
        let initial = C::State::from_fn(|k| random(cell.state_rows(k)));
        let readout = (0..steps)
            .map(|_| C::State::from_fn(|k| random(cell.state_rows(k))))
            .collect();
        let problem = Problem {
            cell,
            initial,
            inputs,
            readout,
        };
        problem.loss()?;
        Ok(problem)
    }

    /// The number of variables (parameters, input entries, initial-state entries).
    pub fn variable_count(&self) -> usize {
        self.cell.param_count()
            + self.inputs.iter().map(tensors_len).sum::<usize>()
            + tensors_len(&self.initial)
    }
}

/// The variable where a check came closest to (or furthest past) its tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    /// Which variable.
    pub label: String,
    /// The BPTT value.
    pub bptt: f64,
    /// The oracle's value (finite difference or dual number).
    pub reference: f64,
    /// `|bptt − reference|`.
    pub error: f64,
    /// The tolerance at this variable.
    pub tolerance: f64,
}

/// The outcome of a gradient check: every variable compared, the worst one kept.
#[derive(Clone, Debug, PartialEq)]
pub struct GradReport {
    /// Variables compared.
    pub checked: usize,
    /// Variables whose error exceeded the tolerance.
    pub failures: usize,
    /// The largest `error / tolerance` (≤ 1 passes).
    pub worst_ratio: f64,
    /// The variable behind `worst_ratio`.
    pub worst: Option<Worst>,
}

impl GradReport {
    /// True when every variable is within its tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }

    fn compare(
        labels: impl Fn(usize) -> String,
        bptt: &[f64],
        reference: &[f64],
        rtol: f64,
        atol: f64,
    ) -> Self {
        let mut report = GradReport {
            checked: bptt.len(),
            failures: 0,
            worst_ratio: 0.0,
            worst: None,
        };
        for (k, (&g, &d)) in bptt.iter().zip(reference).enumerate() {
            let error = (g - d).abs();
            let tolerance = rtol * g.abs().max(d.abs()) + atol;
            let ratio = if error == 0.0 {
                0.0
            } else if tolerance == 0.0 {
                f64::INFINITY
            } else {
                error / tolerance
            };
            if ratio > 1.0 || ratio.is_nan() {
                report.failures += 1;
            }
            if ratio > report.worst_ratio || report.worst.is_none() || ratio.is_nan() {
                report.worst_ratio = ratio;
                report.worst = Some(Worst {
                    label: labels(k),
                    bptt: g,
                    reference: d,
                    error,
                    tolerance,
                });
            }
        }
        report
    }
}

impl fmt::Display for GradReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} variables, {} failing, worst error/tolerance {:.3e}",
            self.checked, self.failures, self.worst_ratio
        )?;
        if let Some(w) = &self.worst {
            write!(
                f,
                " at {}: bptt {:e}, reference {:e}, |diff| {:e}, tolerance {:e}",
                w.label, w.bptt, w.reference, w.error, w.tolerance
            )?;
        }
        Ok(())
    }
}

fn inf_norm(g: &[f64]) -> f64 {
    g.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
}

/// The central difference `(f(x + ε) − f(x − ε)) / ((x + ε) − (x − ε))`, divided by the
/// representable step (Numerical Recipes §5.7), as [`check_finite_differences`] uses it.
pub fn central_difference<E>(mut f: impl FnMut(f64) -> Result<f64, E>, x: f64, eps: f64) -> Result<f64, E> {
    let (plus, minus) = (x + eps, x - eps);
    Ok((f(plus)? - f(minus)?) / (plus - minus))
}

/// THEORY.md P2: BPTT against central finite differences, in f64.
pub fn check_finite_differences<C: Cell<f64>>(problem: &Problem<f64, C>) -> Result<GradReport, Error> {
    let gradient = problem.gradient()?;
    let variables = problem.variables();
    let mut reference = Vec::with_capacity(variables.len());
    for (k, &theta) in variables.iter().enumerate() {
        let eps = 1e-6 * theta.abs().max(1.0);
        let evaluate = |value: f64| -> Result<f64, Error> {
            let mut shifted = problem.clone();
            shifted.update_variables(|index, v| {
                if index == k {
                    *v = value;
                }
            });
            shifted.loss()
        };
        reference.push(central_difference(evaluate, theta, eps)?);
    }
    let atol = 1e-7 * inf_norm(&gradient).max(1.0);
    Ok(GradReport::compare(
        |k| problem.label(k),
        &gradient,
        &reference,
        1e-5,
        atol,
    ))
}

/// THEORY.md P3: BPTT against exact forward-mode derivatives (`Dual64`), entry by entry.
pub fn check_dual<C: Cell<f64>>(problem: &Problem<f64, C>) -> Result<GradReport, Error> {
    let gradient = problem.gradient()?;
    let base = problem.retype(Dual64::from_re);
    let mut reference = Vec::with_capacity(gradient.len());
    for k in 0..gradient.len() {
        let mut seeded = base.clone();
        seeded.update_variables(|index, v| {
            if index == k {
                v.eps = 1.0;
            }
        });
        reference.push(seeded.loss()?.eps);
    }
    let atol = 1e-12 * inf_norm(&gradient);
    Ok(GradReport::compare(
        |k| problem.label(k),
        &gradient,
        &reference,
        1e-11,
        atol,
    ))
}
