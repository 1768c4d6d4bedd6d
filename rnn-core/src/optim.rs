//! Optimizers over any [`ParamSet`] (a cell, or [`Flat`](crate::clip::Flat) parameters), with
//! PyTorch's update rules:
//!
//! * SGD: `θ ← θ − η g`;
//! * momentum (`torch.optim.SGD(momentum=μ)`): `b ← μ b + g`, `θ ← θ − η b` (`b = g` at the first step);
//! * Adam (Kingma & Ba 2015, `torch.optim.Adam`): `m ← β₁ m + (1 − β₁) g`,
//!   `v ← β₂ v + (1 − β₂) g²`, `θ ← θ − η m̂ / (√v̂ + ε)` with `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`.
//!
//! The optimizer's state ([`Optimizer::state`]) is a flat vector, so checkpoints can save it.
//!
//! Settings are checked at every step as PyTorch checks them at construction: a learning rate
//! or momentum that is negative or not finite, an ε that is not finite or below the square root
//! of the smallest normal number (≈ 1.5e-154 in f64, 1.1e-19 in f32; PyTorch allows 0, which
//! turns a zero gradient into 0 / 0 and lets a gradient whose square underflows take a step far
//! beyond η), or a β outside `[0, 1)`, is an
//! [`Error::OutOfRange`] / [`Error::NonFinite`] and leaves the parameters unchanged. So is a
//! gradient whose layout (the shape of every tensor, in order) differs from the parameters'.

use crate::{Error, ParamSet, Scalar};

/// An update rule.
pub trait Optimizer<T: Scalar> {
    /// Updates `params` from `grads` (same layout; checked).
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error>;
    /// The state (moments, step count) as one flat vector; empty for SGD.
    fn state(&self) -> Vec<T>;
    /// Restores a state returned by [`Optimizer::state`]; on error the optimizer is unchanged.
    fn set_state(&mut self, state: &[T]) -> Result<(), Error>;
    /// Checks that `state` is a state this optimizer could have reached on parameters of
    /// `params` scalars (its length, and values such as a step count), without changing
    /// anything: [`crate::checkpoint::load`] checks before it writes.
    fn check_state(&self, state: &[T], params: usize) -> Result<(), Error>;
}

/// The gradient as one vector, after checking that it is laid out as the parameters: the same
/// number of tensors with the same shapes, in order.
fn flat_grads<T: Scalar, P: ParamSet<T>, G: ParamSet<T>>(params: &P, grads: &G) -> Result<Vec<T>, Error> {
    let mut shapes: Vec<(&'static str, Vec<usize>)> = Vec::new();
    params.visit(|name, shape, _| shapes.push((name, shape.to_vec())));
    let mut k = 0;
    let mut mismatch = None;
    grads.visit(|name, shape, _| {
        if mismatch.is_none() {
            match shapes.get(k) {
                Some((_, expected)) if expected.as_slice() == shape => {}
                Some((param, expected)) => {
                    mismatch = Some(Error::TensorShape {
                        key: format!("gradient `{name}` for parameter `{param}`"),
                        expected: expected.clone(),
                        found: shape.to_vec(),
                    });
                }
                None => {}
            }
        }
        k += 1;
    });
    if let Some(error) = mismatch {
        return Err(error);
    }
    if k != shapes.len() {
        return Err(Error::Length {
            what: "gradient tensors (one per parameter)".into(),
            expected: shapes.len(),
            found: k,
        });
    }
    Ok(grads.to_flat())
}

fn state_length<T>(what: &str, state: &[T], allowed: &[usize]) -> Result<(), Error> {
    if allowed.contains(&state.len()) {
        return Ok(());
    }
    Err(Error::OutOfRange {
        what: format!("length of the {what} state"),
        range: allowed
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
        found: state.len().to_string(),
    })
}

fn finite_state<T: Scalar>(what: &str, state: &[T]) -> Result<(), Error> {
    match state.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::NonFinite {
            what: format!("{what} state (entry {i})"),
        }),
        None => Ok(()),
    }
}

fn apply<T: Scalar, P: ParamSet<T>>(params: &mut P, mut update: impl FnMut(usize, &mut T)) {
    let mut index = 0;
    params.visit_mut(|_, _, data| {
        for x in data {
            update(index, x);
            index += 1;
        }
    });
}

/// Plain stochastic gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd<T> {
    /// Learning rate η.
    pub learning_rate: T,
}

impl<T: Scalar> Optimizer<T> for Sgd<T> {
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error> {
        crate::checks::non_negative("learning rate of SGD", self.learning_rate)?;
        let g = flat_grads(params, grads)?;
        let lr = self.learning_rate;
        apply(params, |i, x| *x -= lr * g[i]);
        Ok(())
    }
    fn state(&self) -> Vec<T> {
        Vec::new()
    }
    fn set_state(&mut self, state: &[T]) -> Result<(), Error> {
        state_length("SGD", state, &[0])
    }
    fn check_state(&self, state: &[T], _params: usize) -> Result<(), Error> {
        state_length("SGD", state, &[0])
    }
}

/// SGD with (heavy-ball) momentum, as PyTorch's.
#[derive(Clone, Debug, PartialEq)]
pub struct Momentum<T> {
    /// Learning rate η.
    pub learning_rate: T,
    /// Momentum μ.
    pub momentum: T,
    buffer: Vec<T>,
}

impl<T: Scalar> Momentum<T> {
    /// A fresh optimizer.
    pub fn new(learning_rate: T, momentum: T) -> Self {
        Momentum {
            learning_rate,
            momentum,
            buffer: Vec::new(),
        }
    }
}

impl<T: Scalar> Optimizer<T> for Momentum<T> {
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error> {
        crate::checks::non_negative("learning rate of SGD with momentum", self.learning_rate)?;
        crate::checks::non_negative("momentum of SGD with momentum", self.momentum)?;
        let g = flat_grads(params, grads)?;
        if self.buffer.is_empty() {
            self.buffer = g.clone();
        } else if self.buffer.len() != g.len() {
            return Err(Error::Length {
                what: "momentum buffer".into(),
                expected: self.buffer.len(),
                found: g.len(),
            });
        } else {
            let mu = self.momentum;
            self.buffer
                .iter_mut()
                .zip(&g)
                .for_each(|(b, &gi)| *b = mu * *b + gi);
        }
        let (lr, buffer) = (self.learning_rate, &self.buffer);
        apply(params, |i, x| *x -= lr * buffer[i]);
        Ok(())
    }
    fn state(&self) -> Vec<T> {
        self.buffer.clone()
    }
    fn set_state(&mut self, state: &[T]) -> Result<(), Error> {
        finite_state("momentum", state)?;
        self.buffer = state.to_vec();
        Ok(())
    }
    /// A fresh buffer (empty) or one entry per parameter.
    fn check_state(&self, state: &[T], params: usize) -> Result<(), Error> {
        state_length("momentum", state, &[0, params])?;
        finite_state("momentum", state)
    }
}

/// Adam, as PyTorch's (no weight decay, no AMSGrad).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam<T> {
    /// Learning rate η.
    pub learning_rate: T,
    /// β₁.
    pub beta1: T,
    /// β₂.
    pub beta2: T,
    /// ε.
    pub epsilon: T,
    step: u64,
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Scalar> Adam<T> {
    /// Adam with PyTorch's defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn new(learning_rate: T) -> Self {
        Adam {
            learning_rate,
            beta1: T::of_f64(0.9),
            beta2: T::of_f64(0.999),
            epsilon: T::of_f64(1e-8),
            step: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

/// The smallest ε Adam takes: the square root of the smallest normal number of `T` (f64's, or
/// f32's when f64's rounds to 0 in `T`).
fn epsilon_floor<T: Scalar>() -> T {
    let floor = T::of_f64(f64::MIN_POSITIVE.sqrt());
    if floor > T::zero() {
        floor
    } else {
        T::of_f64(f64::from(f32::MIN_POSITIVE).sqrt())
    }
}

impl<T: Scalar> Adam<T> {
    fn check_settings(&self) -> Result<(), Error> {
        crate::checks::non_negative("learning rate of Adam", self.learning_rate)?;
        // ε ≥ √(smallest normal) (PyTorch allows 0): with ε = 0 a zero gradient makes 0 / 0, and
        // below that floor a gradient whose square underflows to 0 makes a step of up to
        // η |g| / ε ≫ η. At or above it, no step exceeds η.
        crate::checks::finite_at_least("epsilon of Adam", self.epsilon, epsilon_floor::<T>())?;
        for (what, beta) in [("beta1 of Adam", self.beta1), ("beta2 of Adam", self.beta2)] {
            crate::checks::non_negative(what, beta)?;
            if beta >= T::one() {
                return Err(Error::OutOfRange {
                    what: what.to_owned(),
                    range: "[0, 1)".to_owned(),
                    found: beta.real_part().to_string(),
                });
            }
        }
        Ok(())
    }
}

impl<T: Scalar> Optimizer<T> for Adam<T> {
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error> {
        self.check_settings()?;
        let g = flat_grads(params, grads)?;
        if self.m.is_empty() {
            self.m = vec![T::zero(); g.len()];
            self.v = vec![T::zero(); g.len()];
        } else if self.m.len() != g.len() {
            return Err(Error::Length {
                what: "Adam moments".into(),
                expected: self.m.len(),
                found: g.len(),
            });
        }
        let Some(t) = self.step.checked_add(1).filter(|&t| t <= i32::MAX as u64) else {
            return Err(Error::OutOfRange {
                what: "step count of Adam".into(),
                range: format!("0..{}", i32::MAX),
                found: self.step.to_string(),
            });
        };
        self.step = t;
        let (b1, b2, one) = (self.beta1, self.beta2, T::one());
        for ((m, v), &gi) in self.m.iter_mut().zip(self.v.iter_mut()).zip(&g) {
            *m = b1 * *m + (one - b1) * gi;
            *v = b2 * *v + (one - b2) * gi * gi;
        }
        let t = self.step as i32;
        let (c1, c2) = (one - b1.powi(t), one - b2.powi(t));
        let (lr, eps, m, v) = (self.learning_rate, self.epsilon, &self.m, &self.v);
        apply(params, |i, x| *x -= lr * (m[i] / c1) / ((v[i] / c2).sqrt() + eps));
        Ok(())
    }
    fn state(&self) -> Vec<T> {
        let mut state = vec![T::of_f64(self.step as f64)];
        state.extend_from_slice(&self.m);
        state.extend_from_slice(&self.v);
        state
    }
    fn set_state(&mut self, state: &[T]) -> Result<(), Error> {
        let Some((&step, moments)) = state.split_first() else {
            return state_length("Adam (step, m, v)", state, &[1]);
        };
        if moments.len() % 2 != 0 {
            return state_length("Adam (step, m, v)", state, &[1, moments.len() + 2]);
        }
        finite_state("Adam", state)?;
        let step = step.real_part();
        if step < 0.0 || step.fract() != 0.0 || step >= f64::from(i32::MAX) {
            return Err(Error::OutOfRange {
                what: "step count of the Adam state".into(),
                range: format!("whole numbers in 0..{}", i32::MAX),
                found: step.to_string(),
            });
        }
        let (m, v) = moments.split_at(moments.len() / 2);
        if let Some(i) = v.iter().position(|&x| x < T::zero()) {
            return Err(Error::OutOfRange {
                what: format!("second moment v[{i}] of the Adam state"),
                range: "[0, ∞)".into(),
                found: v[i].real_part().to_string(),
            });
        }
        self.step = step as u64;
        self.m = m.to_vec();
        self.v = v.to_vec();
        Ok(())
    }
    /// Fresh (the step count alone) or a step count and two moments per parameter.
    fn check_state(&self, state: &[T], params: usize) -> Result<(), Error> {
        state_length("Adam (step, m, v)", state, &[1, 2 * params + 1])?;
        self.clone().set_state(state)
    }
}
