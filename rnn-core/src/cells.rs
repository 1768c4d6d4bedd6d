//! Built-in cells, each declared with [`recurrent!`](crate::recurrent).

use crate::recurrent;

recurrent! {
    /// The Elman (vanilla) RNN: `h_t = tanh(W_hh h_{t-1} + W_hx x_t + b)`.
    ///
    /// PyTorch's `nn.RNN(nonlinearity='tanh')` has two biases; load `b = b_ih + b_hh`, and both of
    /// PyTorch's bias gradients equal the gradient of `b`.
    pub cell Elman {
        input x[I];
        state h[H];
        param w_hh[H, H], w_hx[H, I], b[H];
        step {
            h = tanh(w_hh * h + w_hx * x + b);
        }
    }
}

recurrent! {
    /// The Elman RNN with one concatenated weight: `h_t = tanh(W_h [h_{t-1}; x_t] + b)`, where
    /// `W_h = [W_hh | W_hx]`. Same function as [`Elman`], other parameterisation.
    pub cell ElmanConcat {
        input x[I];
        state h[H];
        param w_h[H, H + I], b[H];
        step {
            h = tanh(w_h * [h; x] + b);
        }
    }
}

recurrent! {
    /// The running sum `h_t = h_{t-1} + x_t`: gradients flow back unchanged, ∂h_T/∂h_s = I.
    pub cell RunningSum {
        input x[H];
        state h[H];
        step {
            h = h + x;
        }
    }
}

recurrent! {
    /// The leaky unit (exponential moving average) `h_t = α h_{t-1} + (1 − α) x_t`, with the
    /// leak rate α a hyper-parameter (not trained): ∂h_T/∂h_s = α^(T−s).
    pub cell Leaky {
        input x[H];
        state h[H];
        /// The leak rate α in [0, 1]: near 1 remembers long, near 0 forgets.
        hyper alpha = 0.5;
        step {
            h = alpha * h + (1 - alpha) * x;
        }
    }
}
