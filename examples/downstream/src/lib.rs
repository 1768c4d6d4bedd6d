//! A downstream crate's own recurrent cells, declared with `rnn_core::recurrent!`.
#![forbid(unsafe_code)]

use rnn_core::{Activation, Scalar, recurrent};

/// Swish, `x σ(x)`, an activation of this crate.
pub struct Swish;

impl Activation for Swish {
    fn value<T: Scalar>(x: T) -> T {
        x * rnn_core::sigmoid(x)
    }
    fn derivative<T: Scalar>(x: T) -> T {
        let s = rnn_core::sigmoid(x);
        s + x * s * (T::one() - s)
    }
}

recurrent! {
    /// A gated unit with a swish candidate and a learned output gain.
    pub cell SwishGate {
        input x[I];
        state h[H];
        param w_x[2 * H, I], w_h[2 * H, H], b[2 * H], gain;
        fn swish = Swish;
        step {
            let [z_x, n_x] = split(w_x * x + b);
            let [z_h, n_h] = split(w_h * h);
            let z = sigmoid(z_x + z_h);
            h = z * h + (1 - z) * gain * swish(n_x + n_h);
        }
    }
}

recurrent! {
    /// The same gate with a ReLU candidate: kinks, so finite differences do not apply.
    pub cell ReluGate {
        input x[I];
        state h[H];
        param w_x[2 * H, I], w_h[2 * H, H], b[2 * H];
        step {
            let [z_x, n_x] = split(w_x * x + b);
            let [z_h, n_h] = split(w_h * h);
            let z = sigmoid(z_x + z_h);
            h = z * h + (1 - z) * relu(n_x + n_h);
        }
    }
}
