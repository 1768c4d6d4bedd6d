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

recurrent! {
    /// PyTorch's `nn.RNN(nonlinearity='tanh')` / `nn.RNNCell`, parameters named and laid out as
    /// PyTorch's (`weight_ih` = `w_ih`, ...), so weights load unchanged:
    /// `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`.
    pub cell RnnTanh {
        input x[I];
        state h[H];
        param w_ih[H, I], w_hh[H, H], b_ih[H], b_hh[H];
        step {
            h = tanh(w_ih * x + b_ih + w_hh * h + b_hh);
        }
    }
}

recurrent! {
    /// PyTorch's `nn.RNN(nonlinearity='relu')`:
    /// `h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`, with relu′(0) = 0 as in PyTorch.
    pub cell RnnRelu {
        input x[I];
        state h[H];
        param w_ih[H, I], w_hh[H, H], b_ih[H], b_hh[H];
        step {
            h = relu(w_ih * x + b_ih + w_hh * h + b_hh);
        }
    }
}

recurrent! {
    /// PyTorch's `nn.LSTM` / `nn.LSTMCell` (Hochreiter & Schmidhuber 1997 with the forget gate of
    /// Gers, Schmidhuber & Cummins 2000), gate blocks in PyTorch's order i, f, g, o:
    ///
    /// ```text
    /// [i; f; g; o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh   (blocks of H rows)
    /// c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
    /// h_t = σ(o) ⊙ tanh(c_t)
    /// ```
    pub cell Lstm {
        input x[I];
        state h[H], c[H];
        output h;
        param w_ih[4 * H, I], w_hh[4 * H, H], b_ih[4 * H], b_hh[4 * H];
        step {
            let [i_x, f_x, g_x, o_x] = split(w_ih * x + b_ih);
            let [i_h, f_h, g_h, o_h] = split(w_hh * h + b_hh);
            let i = sigmoid(i_x + i_h);
            let f = sigmoid(f_x + f_h);
            let g = tanh(g_x + g_h);
            let o = sigmoid(o_x + o_h);
            c = f * c + i * g;
            h = o * tanh(c);
        }
    }
}

recurrent! {
    /// PyTorch's `nn.GRU` / `nn.GRUCell` (Cho et al. 2014 in PyTorch's form), gate blocks r, z, n.
    /// The reset gate multiplies `W_hn h + b_hn` *after* the product, and `z` weights the old state:
    ///
    /// ```text
    /// r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    /// h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
    /// ```
    pub cell Gru {
        input x[I];
        state h[H];
        param w_ih[3 * H, I], w_hh[3 * H, H], b_ih[3 * H], b_hh[3 * H];
        step {
            let [r_x, z_x, n_x] = split(w_ih * x + b_ih);
            let [r_h, z_h, n_h] = split(w_hh * h + b_hh);
            let r = sigmoid(r_x + r_h);
            let z = sigmoid(z_x + z_h);
            let n = tanh(n_x + r * n_h);
            h = (1 - z) * n + z * h;
        }
    }
}
