//! Optimizers over any [`ParamSet`] (a cell, or [`Flat`](crate::clip::Flat) parameters), with
//! PyTorch's update rules:
//!
//! * SGD: `θ ← θ − η g`;
//! * momentum (`torch.optim.SGD(momentum=μ)`): `b ← μ b + g`, `θ ← θ − η b` (`b = g` at the first step);
//! * Adam (Kingma & Ba 2015, `torch.optim.Adam`): `m ← β₁ m + (1 − β₁) g`,
//!   `v ← β₂ v + (1 − β₂) g²`, `θ ← θ − η m̂ / (√v̂ + ε)` with `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`.
//!
//! The optimizer's state ([`Optimizer::state`]) is a flat vector, so checkpoints can save it.

use crate::{Error, ParamSet, Scalar};

/// An update rule.
pub trait Optimizer<T: Scalar> {
    /// Updates `params` from `grads` (same layout; checked).
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error>;
    /// The state (moments, step count) as one flat vector; empty for SGD.
    fn state(&self) -> Vec<T>;
    /// Restores a state returned by [`Optimizer::state`].
    fn set_state(&mut self, state: &[T]) -> Result<(), Error>;
}

fn flat_grads<T: Scalar, P: ParamSet<T>, G: ParamSet<T>>(params: &P, grads: &G) -> Result<Vec<T>, Error> {
    let g = grads.to_flat();
    let expected = params.param_count();
    if g.len() != expected {
        return Err(Error::Length {
            what: "gradient entries (must match the parameters)".into(),
            expected,
            found: g.len(),
        });
    }
    Ok(g)
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
        let g = flat_grads(params, grads)?;
        let lr = self.learning_rate;
        apply(params, |i, x| *x -= lr * g[i]);
        Ok(())
    }
    fn state(&self) -> Vec<T> {
        Vec::new()
    }
    fn set_state(&mut self, state: &[T]) -> Result<(), Error> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(Error::Length {
                what: "SGD state".into(),
                expected: 0,
                found: state.len(),
            })
        }
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
        self.buffer = state.to_vec();
        Ok(())
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

impl<T: Scalar> Optimizer<T> for Adam<T> {
    fn step<P: ParamSet<T>, G: ParamSet<T>>(&mut self, params: &mut P, grads: &G) -> Result<(), Error> {
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
        self.step += 1;
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
        if state.is_empty() || state.len() % 2 != 1 {
            return Err(Error::Length {
                what: "Adam state (step, m, v)".into(),
                expected: 1,
                found: state.len(),
            });
        }
        let n = (state.len() - 1) / 2;
        self.step = state[0].real_part() as u64;
        self.m = state[1..=n].to_vec();
        self.v = state[n + 1..].to_vec();
        Ok(())
    }
}
