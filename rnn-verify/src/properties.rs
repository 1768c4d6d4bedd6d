//! docs/THEORY.md P1 and P4–P11 as library functions. Each returns a [`Check`]: how many comparisons
//! were made and the worst `error / tolerance` with both values, so a report shows how close a
//! property came to failing, not only whether it did.
//!
//! Conventions (docs/THEORY.md §0): `u = 2⁻⁵³`, `γ_n = n u / (1 − n u)`; `σ̄` is always an *upper*
//! bound of `σ_max(W)` (the smallest of `‖W‖_F`, `√(‖W‖₁‖W‖∞)` and the SVD value times
//! `1 + 10 n u`), never an estimate from below.

use crate::jacobian::{state_jacobians, state_size};
use nalgebra::{DMatrix, DVector};
use rnn_core::cells::{
    Elman, ElmanConcat, ElmanConcatDims, ElmanConcatInput, ElmanConcatState, ElmanDims, ElmanInput,
    ElmanState, Lstm, LstmState, RnnTanh,
};
use rnn_core::clip::{Flat, clip_elementwise, clip_global_norm, global_norm};
use rnn_core::seq::{self, Trajectory};
use rnn_core::{Cell, Error, Tensors};
use rnn_core::{ParamSet, recurrent};
use std::fmt;

/// Unit roundoff of f64.
pub const U: f64 = f64::EPSILON / 2.0;

/// `γ_n = n u / (1 − n u)`.
pub fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    nu / (1.0 - nu)
}

/// The outcome of a property over one or more cases.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Which property (`"P4 vanishing bound"`).
    pub property: &'static str,
    /// Comparisons made.
    pub comparisons: usize,
    /// Comparisons that exceeded their tolerance.
    pub failures: usize,
    /// The largest `error / tolerance` seen (≤ 1 passes; 0 when every comparison was exact).
    pub worst_ratio: f64,
    /// The error at the worst comparison.
    pub worst_error: f64,
    /// The tolerance at the worst comparison.
    pub worst_tolerance: f64,
    /// Where the worst comparison was, with both values.
    pub detail: String,
}

impl Check {
    /// No comparison yet.
    pub fn new(property: &'static str) -> Self {
        Check {
            property,
            comparisons: 0,
            failures: 0,
            worst_ratio: 0.0,
            worst_error: 0.0,
            worst_tolerance: 0.0,
            detail: String::new(),
        }
    }

    /// Records `error ≤ tolerance`; `detail` is only built for a new worst case.
    pub fn record(&mut self, error: f64, tolerance: f64, detail: impl FnOnce() -> String) {
        self.comparisons += 1;
        let ratio = if error == 0.0 {
            0.0
        } else if tolerance > 0.0 {
            error / tolerance
        } else {
            f64::INFINITY
        };
        let failed = ratio.is_nan() || ratio > 1.0;
        if failed {
            self.failures += 1;
        }
        if failed && self.failures == 1
            || ratio > self.worst_ratio
            || (ratio.is_nan() && !self.worst_ratio.is_nan())
        {
            self.worst_ratio = ratio;
            self.worst_error = error;
            self.worst_tolerance = tolerance;
            self.detail = detail();
        }
    }

    /// Records an inequality `value ≤ bound`; the ratio `value / bound` shows how close it came.
    pub fn record_at_most(&mut self, value: f64, bound: f64, detail: impl FnOnce() -> String) {
        if value <= 0.0 && bound >= 0.0 {
            self.record(0.0, bound, detail);
        } else {
            self.record(value, bound, detail);
        }
    }

    /// Records that `found == expected` bit for bit (the tolerance is 0).
    pub fn record_exact(&mut self, found: f64, expected: f64, detail: impl FnOnce() -> String) {
        let error = if found.to_bits() == expected.to_bits() || found == expected {
            0.0
        } else {
            (found - expected).abs().max(f64::MIN_POSITIVE)
        };
        self.record(error, 0.0, || {
            format!("{}: found {found:e}, expected {expected:e}", detail())
        });
    }

    /// Folds another run of the same property in.
    pub fn merge(&mut self, other: Check) {
        self.comparisons += other.comparisons;
        let had_failures = self.failures > 0;
        self.failures += other.failures;
        if other.worst_ratio > self.worst_ratio || (!had_failures && other.failures > 0) {
            self.worst_ratio = other.worst_ratio;
            self.worst_error = other.worst_error;
            self.worst_tolerance = other.worst_tolerance;
            self.detail = other.detail;
        }
    }

    /// True when every comparison held.
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.comparisons > 0
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} comparisons, {} failing, worst error/tolerance {:.3e} ({})",
            self.property, self.comparisons, self.failures, self.worst_ratio, self.detail
        )
    }
}

/// A rigorous upper bound of `σ_max(w)`.
pub fn sigma_upper(w: &DMatrix<f64>) -> f64 {
    let n = w.nrows().max(w.ncols());
    let frobenius = w.norm();
    let one = (0..w.ncols())
        .map(|j| w.column(j).abs().sum())
        .fold(0.0, f64::max);
    let inf = (0..w.nrows()).map(|i| w.row(i).abs().sum()).fold(0.0, f64::max);
    let svd = w.singular_values().max() * (1.0 + 10.0 * n as f64 * U) + 4.0 * gamma(n) * frobenius;
    frobenius.min((one * inf).sqrt()).min(svd)
}

/// `(∂L/∂s_t)` for `t = 0..=T` with the cotangent `last` on the final state only: the library's
/// adjoint recurrence, one [`Cell::step_backward`] per step.
pub fn adjoints<C: Cell<f64>>(
    cell: &C,
    trajectory: &Trajectory<f64, C>,
    last: &C::State,
) -> Result<Vec<C::State>, Error> {
    let steps = trajectory.len();
    let mut out = vec![last.clone()];
    for t in (1..=steps).rev() {
        let saved = trajectory.saved(t).ok_or_else(|| Error::EmptySequence {
            what: "trajectory".into(),
        })?;
        let mut grad = cell.zero_grad();
        let (d_prev, _) = cell.step_backward(saved, &out[out.len() - 1], &mut grad)?;
        out.push(d_prev);
    }
    out.reverse();
    Ok(out)
}

fn column_norm(m: &DMatrix<f64>) -> f64 {
    m.norm()
}

/// A tanh RNN `h_t = tanh(W h_{t-1} + U x_t + b)`: the cells P4, P10 and P11 speak of.
pub trait TanhRnn: Cell<f64> {
    /// `W`.
    fn recurrent_weight(&self) -> DMatrix<f64>;
    /// `S_i = Σ_j |W_ij||h_j| + Σ_j |U_ij||x_j| + |b_i|` for one column (P11's rounding scale).
    fn magnitude(&self, h: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64>;
}

impl TanhRnn for Elman<f64> {
    fn recurrent_weight(&self) -> DMatrix<f64> {
        self.w_hh.clone()
    }
    fn magnitude(&self, h: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
        let bias = DMatrix::from_fn(self.b.len(), h.ncols(), |i, _| self.b[i].abs());
        self.w_hh.abs() * h.abs() + self.w_hx.abs() * x.abs() + bias
    }
}

impl TanhRnn for RnnTanh<f64> {
    fn recurrent_weight(&self) -> DMatrix<f64> {
        self.w_hh.clone()
    }
    fn magnitude(&self, h: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
        let bias = DMatrix::from_fn(self.b_ih.len(), h.ncols(), |i, _| {
            self.b_ih[i].abs() + self.b_hh[i].abs()
        });
        self.w_hh.abs() * h.abs() + self.w_ih.abs() * x.abs() + bias
    }
}

/// P4: `‖∂h_T/∂h_s‖` bounded by `∏ max_i (1 − h²) (σ̄ + γ_{n+3}‖W‖_F)`, per step and globally, for
/// the cotangent `c` on `h_T` (column 0 of the batch); plus `‖g_0‖ ≤ σ̄^T ‖c‖` when `σ̄ < 1`.
pub fn vanishing_bound<C: TanhRnn>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
    c: &DMatrix<f64>,
) -> Result<Check, Error> {
    let mut check = Check::new("P4 vanishing bound");
    let trajectory = seq::unroll(cell, initial, inputs)?;
    let w = cell.recurrent_weight();
    let n = w.nrows();
    let sigma = sigma_upper(&w);
    let factor = sigma + gamma(n + 3) * w.norm();
    let last = C::State::from_fn(|k| if k == 0 { c.clone() } else { DMatrix::zeros(0, 0) });
    let adjoint = adjoints(cell, &trajectory, &last)?;
    let steps = trajectory.len();
    let h = |t: usize| {
        trajectory.states()[t]
            .get(0)
            .cloned()
            .unwrap_or_else(|| DMatrix::zeros(n, 1))
    };
    let mut product = 1.0;
    let c_norm = column_norm(c);
    for s in (0..steps).rev() {
        let g_s = column_norm(adjoint[s].get(0).unwrap_or(c));
        let g_next = column_norm(adjoint[s + 1].get(0).unwrap_or(c));
        let d_max = h(s + 1).iter().map(|v| 1.0 - v * v).fold(0.0, f64::max);
        let step_bound = d_max * factor * g_next * (1.0 + 4.0 * U);
        check.record_at_most(g_s, step_bound, || {
            format!("step s={s}: ‖g_s‖ {g_s:e} vs bound {step_bound:e}")
        });
        product *= d_max * factor;
        let global = product * c_norm * (1.0 + gamma(2 * (steps - s) + 2));
        check.record_at_most(g_s, global, || {
            format!("global s={s}: ‖g_s‖ {g_s:e} vs bound {global:e}")
        });
    }
    if sigma < 1.0 {
        let g_0 = column_norm(adjoint[0].get(0).unwrap_or(c));
        let bound = factor.powi(steps as i32) * c_norm * (1.0 + gamma(2 * steps + 2));
        check.record_at_most(g_0, bound, || format!("‖g_0‖ {g_0:e} vs σ̄^T‖c‖ {bound:e}"));
    }
    Ok(check)
}

/// P10: Lyapunov exponents by the QR method on the state Jacobians of any cell (column 0), with
/// the exact identity (I1) `Σ_t ln R_t[1,1] = ln ‖Φ_T q_1‖` checked to `1e-11 T`.
/// Returns the check and the exponent estimates.
pub fn lyapunov<C: Cell<f64>>(
    cell: &C,
    trajectory: &Trajectory<f64, C>,
    q0: &DMatrix<f64>,
) -> Result<(Check, Vec<f64>), Error> {
    let mut check = Check::new("P10 Lyapunov QR identities");
    let jacobians = state_jacobians(cell, trajectory, 0)?;
    let n = state_size(cell);
    if q0.shape() != (n, n) {
        return Err(Error::Shape {
            what: format!("initial orthonormal basis Q_0 of {}", C::NAME),
            expected: (n, n),
            found: q0.shape(),
        });
    }
    let steps = jacobians.len();
    let mut q = q0.clone();
    // Neumaier-compensated sums: hundreds of logarithms accumulate no drift.
    let mut sums = vec![Compensated::default(); n];
    let mut v = q0.column(0).into_owned();
    let mut log_norm = Compensated::default();
    for j in &jacobians {
        let (qt, r) = (j * &q).qr().unpack();
        let signs = DVector::from_fn(n, |i, _| if r[(i, i)] < 0.0 { -1.0 } else { 1.0 });
        q = qt * DMatrix::from_diagonal(&signs);
        for i in 0..n {
            sums[i].add(r[(i, i)].abs().ln());
        }
        v = j * v;
        let norm = v.norm();
        log_norm.add(norm.ln());
        v /= norm;
    }
    let sums: Vec<f64> = sums.iter().map(Compensated::value).collect();
    let log_norm = log_norm.value();
    let tolerance = 1e-11 * steps as f64;
    check.record((sums[0] - log_norm).abs(), tolerance, || {
        format!("Σ ln R11 {:e} vs ln‖Φ q1‖ {log_norm:e}", sums[0])
    });
    Ok((check, sums.iter().map(|s| s / steps as f64).collect()))
}

/// Neumaier's compensated summation.
#[derive(Clone, Copy, Debug, Default)]
struct Compensated {
    sum: f64,
    correction: f64,
}

impl Compensated {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.correction += (self.sum - t) + x;
        } else {
            self.correction += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.correction
    }
}

/// P10 for a tanh RNN: (I1), (I2) `Σ λ̂_i = mean_t (Σ_i ln(1 − h²_{t,i}) + ln|det W|)` to 1e-9,
/// (I3) `λ̂_1 ≤ mean ln‖J_t‖₂ ≤ ln σ̄ + mean ln max(1 − h²)` with slack 1e-12, and the agreement
/// of the gradient growth rate `r_T = ln(‖g_0‖/‖c‖)/T` with `λ̂_1` within `20/T`.
/// Returns the check, `λ̂` and `r_T`.
pub fn lyapunov_tanh<C: TanhRnn>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
    q0: &DMatrix<f64>,
    c: &DMatrix<f64>,
) -> Result<(Check, Vec<f64>, f64), Error> {
    let trajectory = seq::unroll(cell, initial, inputs)?;
    let (mut check, exponents) = lyapunov(cell, &trajectory, q0)?;
    let w = cell.recurrent_weight();
    let steps = trajectory.len() as f64;
    let ln_det_w = w.clone().lu().determinant().abs().ln();
    let mut mean_ln_det = 0.0;
    let mut mean_ln_d = 0.0;
    for t in 1..=trajectory.len() {
        let h = trajectory.states()[t]
            .get(0)
            .map(|m| m.column(0).into_owned())
            .unwrap_or_default();
        mean_ln_det += h.iter().map(|v| (1.0 - v * v).ln()).sum::<f64>() + ln_det_w;
        mean_ln_d += h.iter().map(|v| 1.0 - v * v).fold(0.0, f64::max).ln();
    }
    mean_ln_det /= steps;
    mean_ln_d /= steps;
    let total: f64 = exponents.iter().sum();
    if total.is_finite() && mean_ln_det.is_finite() {
        check.record((total - mean_ln_det).abs(), 1e-9, || {
            format!("(I2) Σλ̂ {total:e} vs mean ln|det J| {mean_ln_det:e}")
        });
    }
    let jacobians = state_jacobians(cell, &trajectory, 0)?;
    let mean_ln_j = jacobians
        .iter()
        .map(|j| j.singular_values().max().ln())
        .sum::<f64>()
        / steps;
    let chain_top = sigma_upper(&w).ln() + mean_ln_d;
    check.record((exponents[0] - mean_ln_j).max(0.0), 1e-12, || {
        format!("(I3) λ̂1 {:e} > mean ln‖J‖ {mean_ln_j:e}", exponents[0])
    });
    check.record((mean_ln_j - chain_top).max(0.0), 1e-12, || {
        format!("(I3) mean ln‖J‖ {mean_ln_j:e} > ln σ̄ + mean ln max d {chain_top:e}")
    });
    let rate = gradient_growth_rate(cell, &trajectory, c)?;
    check.record((rate - exponents[0]).abs(), 20.0 / steps, || {
        format!("r_T {rate:e} vs λ̂1 {:e}", exponents[0])
    });
    Ok((check, exponents, rate))
}

/// `r_T = ln(‖g_0‖/‖c‖)/T` for the cotangent `c` on the first state of `s_T`, by the library's
/// backward steps. BPTT is linear in the cotangent, so the carried adjoint is renormalised every
/// step and the logarithms of the norms summed: no underflow or overflow for any `T`.
pub fn gradient_growth_rate<C: Cell<f64>>(
    cell: &C,
    trajectory: &Trajectory<f64, C>,
    c: &DMatrix<f64>,
) -> Result<f64, Error> {
    let steps = trajectory.len();
    let norm = c.norm();
    let mut carry = C::State::from_fn(|k| {
        if k == 0 {
            c / norm
        } else {
            DMatrix::zeros(cell.state_rows(k), c.ncols())
        }
    });
    let mut log_growth = 0.0;
    for t in (1..=steps).rev() {
        let saved = trajectory.saved(t).ok_or_else(|| Error::EmptySequence {
            what: "trajectory".into(),
        })?;
        let mut grad = cell.zero_grad();
        let (d_prev, _) = cell.step_backward(saved, &carry, &mut grad)?;
        let size = d_prev.iter().map(|m| m.norm_squared()).sum::<f64>().sqrt();
        log_growth += size.ln();
        carry = C::State::from_fn(|k| d_prev.get(k).map_or_else(|| DMatrix::zeros(0, 0), |m| m / size));
    }
    Ok(log_growth / steps as f64)
}

/// P11: two trajectories of a tanh RNN under the same inputs (column 0) contract:
/// `d_t ≤ σ̄ d_{t-1} + η_t`, `η_t = 2√n (γ_{n+m+1} max_i S_{t,i} + 2u)`, while the bound is above
/// the rounding floor (`1e3 η`). Meaningful for `σ̄ < 1`; the bound holds for any `σ̄`.
pub fn contraction<C: TanhRnn>(
    cell: &C,
    a: &C::State,
    b: &C::State,
    inputs: &[C::Input],
) -> Result<Check, Error> {
    let mut check = Check::new("P11 contraction");
    let first = seq::run(cell, a, inputs)?;
    let second = seq::run(cell, b, inputs)?;
    let w = cell.recurrent_weight();
    let n = w.nrows();
    let m = (0..C::Input::NAMES.len())
        .map(|k| cell.input_rows(k))
        .sum::<usize>();
    let sigma = sigma_upper(&w);
    let h = |states: &[C::State], initial: &C::State, t: usize| -> DMatrix<f64> {
        let s = if t == 0 { initial } else { &states[t - 1] };
        s.get(0)
            .map(|m| m.columns(0, 1).into_owned())
            .unwrap_or_else(|| DMatrix::zeros(n, 1))
    };
    let mut d_prev = (h(&first, a, 0) - h(&second, b, 0)).norm();
    for t in 1..=inputs.len() {
        let x = inputs[t - 1]
            .get(0)
            .map(|m| m.columns(0, 1).into_owned())
            .unwrap_or_else(|| DMatrix::zeros(m, 1));
        let s = cell
            .magnitude(&h(&first, a, t - 1), &x)
            .zip_map(&cell.magnitude(&h(&second, b, t - 1), &x), f64::max);
        let eta = 2.0 * (n as f64).sqrt() * (gamma(n + m + 1) * s.max() + 2.0 * U);
        let d_t = (h(&first, a, t) - h(&second, b, t)).norm();
        let bound = sigma * d_prev + eta;
        if sigma * d_prev > 1e3 * eta || d_t > bound {
            check.record_at_most(d_t, bound, || {
                format!("t={t}: d_t {d_t:e} vs σ̄ d_(t-1) + η {bound:e}")
            });
        }
        d_prev = d_t;
    }
    Ok(check)
}

/// P1: one step of `Elman` (`w_hh h + w_hx x + b`) against `ElmanConcat` (`[w_hh | w_hx][h; x] + b`)
/// for the given data (any batch), states within `2γ_{m+1}(1 + γ_{m+1})(S_i + |b_i|) + 2u(|h_A| + |h_B|)`.
pub fn concatenation(
    w_hh: &DMatrix<f64>,
    w_hx: &DMatrix<f64>,
    b: &DVector<f64>,
    h: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> Result<Check, Error> {
    let mut check = Check::new("P1 concatenation");
    let (n, i) = (w_hh.nrows(), w_hx.ncols());
    let split = Elman::from_params(ElmanDims { H: n, I: i }, w_hh.clone(), w_hx.clone(), b.clone())?;
    let w_h = DMatrix::from_fn(
        n,
        n + i,
        |r, c| if c < n { w_hh[(r, c)] } else { w_hx[(r, c - n)] },
    );
    let concat = ElmanConcat::from_params(ElmanConcatDims { H: n, I: i }, w_h.clone(), b.clone())?;
    let a = split
        .forward(&ElmanState { h: h.clone() }, &ElmanInput { x: x.clone() })?
        .h;
    let bb = concat
        .forward(
            &ElmanConcatState { h: h.clone() },
            &ElmanConcatInput { x: x.clone() },
        )?
        .h;
    let batch = h.ncols();
    let v = DMatrix::from_fn(
        n + i,
        batch,
        |r, col| if r < n { h[(r, col)] } else { x[(r - n, col)] },
    );
    let s = w_h.abs() * v.abs();
    let g = gamma(n + i + 1);
    for col in 0..batch {
        for r in 0..n {
            let bound = 2.0 * g * (1.0 + g) * (s[(r, col)] + b[r].abs())
                + 2.0 * U * (a[(r, col)].abs() + bb[(r, col)].abs());
            let error = (a[(r, col)] - bb[(r, col)]).abs();
            check.record(error, bound.max(f64::MIN_POSITIVE), || {
                format!(
                    "h[{r},{col}]: split {:e}, concatenated {:e}",
                    a[(r, col)],
                    bb[(r, col)]
                )
            });
        }
    }
    Ok(check)
}

/// P6: the leaky unit `u_t = α u_{t-1} + β v_t` (`β = 1 − α`; the running sum has α = β = 1)
/// with the cotangent `c` on `u_T`: `∂L/∂u_s = c ⊙ α^{T−s}` and `∂L/∂v_s = c ⊙ β α^{T−s}`, bit
/// for bit when `exact` (α ∈ {0, 1/4, 1/2, 1}, or α = 3/4 with `|c| 3^{T−s} < 2^53`), else
/// within `2γ_{T−s+1}`: docs/THEORY.md's `γ` per side, as this check and the backward step each round
/// their own product of the same factors.
pub fn leaky_exactness<C: Cell<f64>>(
    cell: &C,
    alpha: f64,
    input_weight: f64,
    initial: &C::State,
    inputs: &[C::Input],
    c: &DMatrix<f64>,
    exact: bool,
) -> Result<Check, Error> {
    let mut check = Check::new("P6 leaky exactness");
    let trajectory = seq::unroll(cell, initial, inputs)?;
    let steps = trajectory.len();
    let mut d_states = vec![cell.zero_state(c.ncols()); steps];
    if let Some(m) = d_states[steps - 1].get_mut(0) {
        *m = c.clone();
    }
    let grads = seq::bptt(cell, &trajectory, &d_states)?;
    let adjoint = adjoints(cell, &trajectory, &d_states[steps - 1])?;
    for s in 0..=steps {
        let power = (0..steps - s).fold(1.0, |p, _| p * alpha);
        for (k, &ck) in c.iter().enumerate() {
            let expected = ck * power;
            let found = adjoint[s].get(0).map_or(f64::NAN, |m| m[k]);
            if exact {
                check.record_exact(found, expected, || format!("∂L/∂u_{s}[{k}]"));
            } else {
                check.record(
                    (found - expected).abs(),
                    2.0 * gamma(steps - s + 1) * expected.abs() + f64::MIN_POSITIVE,
                    || format!("∂L/∂u_{s}[{k}]: {found:e} vs {expected:e}"),
                );
            }
            if s > 0 {
                let expected_v = ck * input_weight * power;
                let found_v = grads.inputs[s - 1].get(0).map_or(f64::NAN, |m| m[k]);
                if exact {
                    check.record_exact(found_v, expected_v, || format!("∂L/∂v_{s}[{k}]"));
                } else {
                    check.record(
                        (found_v - expected_v).abs(),
                        2.0 * gamma(steps - s + 2) * expected_v.abs() + f64::MIN_POSITIVE,
                        || format!("∂L/∂v_{s}[{k}]: {found_v:e} vs {expected_v:e}"),
                    );
                }
            }
        }
    }
    Ok(check)
}

recurrent! {
    /// The linear RNN `h_t = W h_{t-1} + U x_t` of docs/THEORY.md P5 (identity activation).
    pub cell LinearRnn {
        input x[I];
        state h[H];
        param w[H, H], u[H, I];
        step {
            h = w * h + u * x;
        }
    }
}

/// P5: for `W = Q diag(λ) Qᵀ` (`Q` orthogonal) and the cotangent `c` on `h_k`, the library's BPTT
/// gives `g_0 = (Wᵀ)^k c = Q diag(λ^k) Qᵀ c` within `1e-12 k ρ^k ‖c‖`, and
/// `ρ^k |q_1·c| (1 − 1e-12 k) ≤ ‖g_0‖ ≤ ρ^k ‖c‖ (1 + 1e-12 k)`, `q_1` the dominant eigenvector.
/// Returns the check and `‖g_0‖`.
pub fn linear_explosion(
    q: &DMatrix<f64>,
    lambda: &[f64],
    steps: usize,
    c: &DMatrix<f64>,
) -> Result<(Check, f64), Error> {
    let mut check = Check::new("P5 linear explosion");
    let n = lambda.len();
    for (what, m, expected) in [("eigenvector matrix Q", q, (n, n)), ("cotangent c", c, (n, 1))] {
        if m.shape() != expected {
            return Err(Error::Shape {
                what: format!("{what} of P5 (n = {n} eigenvalues)"),
                expected,
                found: m.shape(),
            });
        }
    }
    let diag = DMatrix::from_diagonal(&DVector::from_column_slice(lambda));
    let w = q * &diag * q.transpose();
    let cell = LinearRnn::from_params(LinearRnnDims { H: n, I: 1 }, w, DMatrix::zeros(n, 1))?;
    let inputs = vec![
        LinearRnnInput {
            x: DMatrix::zeros(1, 1)
        };
        steps
    ];
    let trajectory = seq::unroll(
        &cell,
        &LinearRnnState {
            h: DMatrix::zeros(n, 1),
        },
        &inputs,
    )?;
    let g = adjoints(&cell, &trajectory, &LinearRnnState { h: c.clone() })?;
    let g0 = &g[0].h;
    let power = DMatrix::from_diagonal(&DVector::from_iterator(
        n,
        lambda.iter().map(|l| l.powi(steps as i32)),
    ));
    let expected = q * power * q.transpose() * c;
    let rho = lambda.iter().fold(0.0_f64, |m, l| m.max(l.abs()));
    let k = steps as f64;
    let scale = rho.powi(steps as i32) * c.norm();
    let error = (g0 - &expected).norm();
    check.record(error, 1e-12 * k * scale + f64::MIN_POSITIVE, || {
        format!("‖g_0 − Q Λ^k Qᵀ c‖ {error:e}, ρ^k‖c‖ {scale:e}")
    });
    let norm = g0.norm();
    check.record_at_most(norm, scale * (1.0 + 1e-12 * k), || {
        format!("‖g_0‖ {norm:e} vs ρ^k‖c‖ {scale:e}")
    });
    let dominant = (0..n)
        .max_by(|&a, &b| lambda[a].abs().total_cmp(&lambda[b].abs()))
        .unwrap_or(0);
    let lower = rho.powi(steps as i32) * q.column(dominant).dot(&c.column(0)).abs() * (1.0 - 1e-12 * k);
    check.record_at_most(lower, norm, || format!("ρ^k|q1·c| {lower:e} vs ‖g_0‖ {norm:e}"));
    Ok((check, norm))
}

/// P7: an LSTM with `w_hh = 0` and the cotangent `c` on `c_T` only: the carousel gives
/// `∂L/∂c_s = c ⊙ ∏_{k=s+1}^T f_k` componentwise within `γ_{T−s}`, with
/// `f_k = σ(W_f x_k + b_if + b_hf)` recomputed here with the σ the generated kernels use
/// ([`rnn_core::vmath::sigmoid`]: the property is about the carousel, not about σ).
pub fn carousel(
    cell: &Lstm<f64>,
    initial: &LstmState<f64>,
    inputs: &[rnn_core::cells::LstmInput<f64>],
    c: &DMatrix<f64>,
) -> Result<Check, Error> {
    let mut check = Check::new("P7 LSTM carousel");
    if cell.w_hh.iter().any(|&w| w != 0.0) {
        return Err(Error::Length {
            what: "nonzero entries of w_hh (P7 needs R = 0)".into(),
            expected: 0,
            found: cell.w_hh.iter().filter(|&&w| w != 0.0).count(),
        });
    }
    let h = cell.w_hh.ncols();
    let trajectory = seq::unroll(cell, initial, inputs)?;
    let last = LstmState {
        h: DMatrix::zeros(h, c.ncols()),
        c: c.clone(),
    };
    let g = adjoints(cell, &trajectory, &last)?;
    let forget: Vec<DMatrix<f64>> = inputs
        .iter()
        .map(|x| {
            let pre = &cell.w_ih * &x.x;
            DMatrix::from_fn(h, c.ncols(), |i, j| {
                rnn_core::vmath::sigmoid((pre[(h + i, j)] + cell.b_ih[h + i]) + (0.0 + cell.b_hh[h + i]))
            })
        })
        .collect();
    let steps = inputs.len();
    let mut product = c.clone();
    for s in (0..=steps).rev() {
        if s < steps {
            product = product.component_mul(&forget[s]);
        }
        for (k, (&found, &expected)) in g[s].c.iter().zip(product.iter()).enumerate() {
            check.record(
                (found - expected).abs(),
                gamma(steps - s + 1) * expected.abs() + f64::MIN_POSITIVE,
                || format!("∂L/∂c_{s}[{k}]: {found:e} vs c ⊙ ∏f {expected:e}"),
            );
        }
    }
    Ok(check)
}

/// P8: norm clipping keeps the direction (`clip(g)_i g_j = clip(g)_j g_i` within `4u|g_i g_j|`,
/// signs exact), gives `‖clip(g)‖ = min(‖g‖, τ)` within `2γ_{n+2}`, leaves `‖g‖ ≤ τ` bit for bit
/// and is idempotent; element-wise clipping bounds `‖·‖∞` by `c` exactly, leaves `‖g‖∞ ≤ c`
/// unchanged, and changes the direction exactly when docs/THEORY.md says it does.
pub fn clipping(g: &[f64], tau: f64, limit: f64) -> Result<Check, Error> {
    let mut check = Check::new("P8 clipping");
    let n = g.len();
    let original = Flat(g.to_vec());
    let norm = global_norm(&original);
    let mut clipped = original.clone();
    clip_global_norm(&mut clipped, tau)?;
    for i in 0..n {
        check.record_exact(clipped.0[i].signum(), g[i].signum(), || {
            format!("sign of entry {i}")
        });
        for j in 0..i {
            let error = (clipped.0[i] * g[j] - clipped.0[j] * g[i]).abs();
            check.record(error, 4.0 * U * (g[i] * g[j]).abs() + f64::MIN_POSITIVE, || {
                format!("direction ({i},{j})")
            });
        }
    }
    let target = norm.min(tau);
    let clipped_norm = global_norm(&clipped);
    check.record(
        (clipped_norm - target).abs(),
        2.0 * gamma(n + 2) * target + f64::MIN_POSITIVE,
        || format!("‖clip(g)‖ {clipped_norm:e} vs min(‖g‖, τ) {target:e}"),
    );
    if norm <= tau {
        for i in 0..n {
            check.record_exact(clipped.0[i], g[i], || format!("unclipped entry {i}"));
        }
    }
    let mut twice = clipped.clone();
    clip_global_norm(&mut twice, tau)?;
    for i in 0..n {
        check.record(
            (twice.0[i] - clipped.0[i]).abs(),
            2.0 * gamma(n + 2) * clipped.0[i].abs() + f64::MIN_POSITIVE,
            || format!("idempotence at {i}"),
        );
    }
    let mut element = original.clone();
    clip_elementwise(&mut element, limit)?;
    let inf = element.0.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    check.record_at_most(inf, limit, || format!("‖clip_e(g)‖∞ {inf:e} vs c {limit:e}"));
    let g_inf = g.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if g_inf <= limit {
        for i in 0..n {
            check.record_exact(element.0[i], g[i], || format!("element-wise unclipped entry {i}"));
        }
    }
    // docs/THEORY.md: clip_e(g) is parallel to g iff nothing is clipped or all nonzero |g_i| are equal
    // (and above c). The change of direction can be arbitrarily small (a component a hair above
    // c), so "not parallel" is asserted when the largest pairwise cross term |g_i e_j − g_j e_i|
    // is ≥ 1e-5 ‖g‖‖e‖ (then 1 − cos ≥ 5e-11), and "parallel" whenever all magnitudes are equal.
    let some_clipped = g.iter().any(|x| x.abs() > limit);
    let nonzero: Vec<f64> = g.iter().filter(|x| **x != 0.0).map(|x| x.abs()).collect();
    let all_equal = nonzero.iter().all(|&x| x == nonzero[0]);
    let e = &element.0;
    let e_norm = global_norm(&element);
    let dot: f64 = e.iter().zip(g).map(|(a, b)| a * b).sum();
    let cos = dot / (e_norm * norm);
    if some_clipped && !all_equal {
        let mut cross = 0.0_f64;
        for i in 0..n {
            for j in 0..i {
                cross = cross.max((g[i] * e[j] - g[j] * e[i]).abs() / (norm * e_norm));
            }
        }
        if cross >= 1e-5 {
            check.record((cos - (1.0 - 1e-12)).max(0.0), f64::MIN_POSITIVE, || {
                format!("element-wise clipping kept the direction (cos {cos:e}, cross {cross:e})")
            });
        }
    }
    if !some_clipped || all_equal {
        check.record((1.0 - cos).max(0.0), 4.0 * gamma(n + 2), || {
            format!("element-wise clipping turned a parallel case (cos {cos:e})")
        });
    }
    Ok(check)
}

/// P9: truncated BPTT ("detach every k") against its definitions: `k ≥ T` is full BPTT bit for
/// bit (E1); otherwise each chunk equals full BPTT of that chunk started from its constant first
/// state (E2): input gradients and the summed parameter gradients within 1e-13 relative.
pub fn truncation<C: Cell<f64>>(
    cell: &C,
    initial: &C::State,
    inputs: &[C::Input],
    d_states: &[C::State],
    k: usize,
) -> Result<Check, Error> {
    let mut check = Check::new("P9 truncated BPTT");
    let trajectory = seq::unroll(cell, initial, inputs)?;
    let truncated = seq::bptt_truncated(cell, &trajectory, d_states, k)?;
    let steps = inputs.len();
    let flat_inputs = |g: &[C::Input]| -> Vec<f64> {
        g.iter()
            .flat_map(|x| x.iter().flat_map(|m| m.iter().copied()).collect::<Vec<_>>())
            .collect()
    };
    if k >= steps {
        let full = seq::bptt(cell, &trajectory, d_states)?;
        for (a, b) in truncated.params.to_flat().iter().zip(full.params.to_flat()) {
            check.record_exact(*a, b, || "parameter gradient (E1)".into());
        }
        for (a, b) in flat_inputs(&truncated.inputs)
            .iter()
            .zip(flat_inputs(&full.inputs))
        {
            check.record_exact(*a, b, || "input gradient (E1)".into());
        }
        return Ok(check);
    }
    let mut summed = cell.zero_grad().to_flat();
    let mut chunk_inputs = Vec::new();
    let mut start = 0;
    while start < steps {
        let end = (start + k).min(steps);
        let sub = seq::unroll(cell, &trajectory.states()[start], &inputs[start..end])?;
        let grads = seq::bptt(cell, &sub, &d_states[start..end])?;
        for (s, g) in summed.iter_mut().zip(grads.params.to_flat()) {
            *s += g;
        }
        chunk_inputs.extend(grads.inputs);
        start = end;
    }
    let truncated_params = truncated.params.to_flat();
    let scale = truncated_params.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    for (i, (a, b)) in truncated_params.iter().zip(&summed).enumerate() {
        check.record(
            (a - b).abs(),
            1e-13 * a.abs().max(b.abs()) + 1e-13 * scale + f64::MIN_POSITIVE,
            || format!("parameter {i}: truncated {a:e}, chunks {b:e} (E2)"),
        );
    }
    for (i, (a, b)) in flat_inputs(&truncated.inputs)
        .iter()
        .zip(flat_inputs(&chunk_inputs))
        .enumerate()
    {
        check.record(
            (a - b).abs(),
            1e-13 * a.abs().max(b.abs()) + f64::MIN_POSITIVE,
            || format!("input entry {i}: truncated {a:e}, chunk {b:e} (E2)"),
        );
    }
    Ok(check)
}
