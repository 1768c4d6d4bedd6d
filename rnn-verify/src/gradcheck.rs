//! Gradient checks (docs/THEORY.md P2 and P3) for any [`Cell`].

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

/// Any scalar function of flat variables with a claimed gradient: a driver, a whole model, a
/// loss. Implement it to put your own composition under P2 and P3 with [`check_objective_fd`]
/// and [`check_objective_dual`].
///
/// `value` must compute the same function for every scalar type (rebuild the model over `S`
/// from `x`, e.g. with [`FlatReader`]); the checks call it with `f64` for finite differences
/// and `Dual64` for exact derivatives.
pub trait Objective {
    /// The variables at the point checked.
    fn variables(&self) -> Vec<f64>;
    /// The gradient under test at that point, laid out as [`Objective::variables`].
    fn gradient(&self) -> Result<Vec<f64>, Error>;
    /// The function at `x`.
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error>;
    /// A readable name for variable `k`, for failure messages.
    fn label(&self, k: usize) -> String {
        format!("variable {k}")
    }
}

/// Reads flat variables in order into models over any scalar: the inverse of writing them out
/// parameter by parameter and matrix by matrix (each column-major).
#[derive(Debug)]
pub struct FlatReader<'a, S> {
    values: &'a [S],
    at: usize,
}

impl<'a, S: Scalar> FlatReader<'a, S> {
    /// Reads from the start of `values`.
    pub fn new(values: &'a [S]) -> Self {
        FlatReader { values, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [S], Error> {
        let end = self.at + n;
        let slice = self.values.get(self.at..end).ok_or_else(|| Error::Length {
            what: "flat variables".into(),
            expected: end,
            found: self.values.len(),
        })?;
        self.at = end;
        Ok(slice)
    }

    /// Overwrites every parameter of `params`.
    pub fn params<P: ParamSet<S>>(&mut self, params: &mut P) -> Result<(), Error> {
        let values = self.take(params.param_count())?;
        params.set_flat(values)
    }

    /// Overwrites every entry of `m`.
    pub fn matrix(&mut self, m: &mut DMatrix<S>) -> Result<(), Error> {
        let values = self.take(m.len())?;
        m.as_mut_slice().copy_from_slice(values);
        Ok(())
    }

    /// Overwrites every matrix of `x`.
    pub fn tensors<X: Tensors<S>>(&mut self, x: &mut X) -> Result<(), Error> {
        for k in 0..X::NAMES.len() {
            if let Some(m) = x.get_mut(k) {
                self.matrix(m)?;
            }
        }
        Ok(())
    }

    /// True when every value was read.
    pub fn finished(&self) -> bool {
        self.at == self.values.len()
    }
}

/// docs/THEORY.md P2 for any [`Objective`]: central differences with the step and tolerance of
/// [`check_finite_differences`].
pub fn check_objective_fd(objective: &impl Objective) -> Result<GradReport, Error> {
    let gradient = objective.gradient()?;
    let mut variables = objective.variables();
    if gradient.len() != variables.len() {
        return Err(Error::Length {
            what: "gradient (one entry per variable)".into(),
            expected: variables.len(),
            found: gradient.len(),
        });
    }
    let mut reference = Vec::with_capacity(variables.len());
    for k in 0..variables.len() {
        let theta = variables[k];
        let eps = 1e-6 * theta.abs().max(1.0);
        let mut evaluate = |value: f64| -> Result<f64, Error> {
            variables[k] = value;
            objective.value(&variables)
        };
        reference.push(central_difference(&mut evaluate, theta, eps)?);
        variables[k] = theta;
    }
    let atol = 1e-7 * inf_norm(&gradient).max(1.0);
    Ok(GradReport::compare(
        |k| objective.label(k),
        &gradient,
        &reference,
        1e-5,
        atol,
    ))
}

/// docs/THEORY.md P3 for any [`Objective`]: exact forward-mode derivatives (`Dual64`, one variable
/// seeded at a time) with the tolerance of [`check_dual`].
pub fn check_objective_dual(objective: &impl Objective) -> Result<GradReport, Error> {
    let gradient = objective.gradient()?;
    let mut variables: Vec<Dual64> = objective.variables().into_iter().map(Dual64::from_re).collect();
    if gradient.len() != variables.len() {
        return Err(Error::Length {
            what: "gradient (one entry per variable)".into(),
            expected: variables.len(),
            found: gradient.len(),
        });
    }
    let mut reference = Vec::with_capacity(gradient.len());
    for k in 0..variables.len() {
        variables[k].eps = 1.0;
        reference.push(objective.value(&variables)?.eps);
        variables[k].eps = 0.0;
    }
    let atol = 1e-12 * inf_norm(&gradient);
    Ok(GradReport::compare(
        |k| objective.label(k),
        &gradient,
        &reference,
        1e-11,
        atol,
    ))
}

impl<C: Cell<f64>> Objective for Problem<f64, C> {
    fn variables(&self) -> Vec<f64> {
        Problem::variables(self)
    }

    fn gradient(&self) -> Result<Vec<f64>, Error> {
        Problem::gradient(self)
    }

    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut problem = self.retype(S::of_f64);
        let mut index = 0;
        problem.update_variables(|_, v| {
            if let Some(&value) = x.get(index) {
                *v = value;
            }
            index += 1;
        });
        if index != x.len() {
            return Err(Error::Length {
                what: "flat variables of the problem".into(),
                expected: index,
                found: x.len(),
            });
        }
        problem.loss()
    }

    fn label(&self, k: usize) -> String {
        Problem::label(self, k)
    }
}

/// docs/THEORY.md P2: BPTT against central finite differences, in f64.
pub fn check_finite_differences<C: Cell<f64>>(problem: &Problem<f64, C>) -> Result<GradReport, Error> {
    check_objective_fd(problem)
}

/// docs/THEORY.md P3: BPTT against exact forward-mode derivatives (`Dual64`), entry by entry.
pub fn check_dual<C: Cell<f64>>(problem: &Problem<f64, C>) -> Result<GradReport, Error> {
    check_objective_dual(problem)
}
