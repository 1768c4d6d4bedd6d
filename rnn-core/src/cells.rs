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

recurrent! {
    /// LSTM with peephole connections (Gers & Schmidhuber 2000; Gers, Schraudolph & Schmidhuber
    /// 2002): the gates also see the cell state through diagonal weights, the input and forget
    /// gates the old one, the output gate the new one. Gate blocks i, f, g, o.
    ///
    /// ```text
    /// i = σ(W_i x + R_i h + p_i ⊙ c_{t-1} + b_i),  f = σ(W_f x + R_f h + p_f ⊙ c_{t-1} + b_f)
    /// g = tanh(W_g x + R_g h + b_g),  c_t = f ⊙ c_{t-1} + i ⊙ g
    /// o = σ(W_o x + R_o h + p_o ⊙ c_t + b_o),  h_t = o ⊙ tanh(c_t)
    /// ```
    /// Parameters: `4H(I + H) + 4H + 3H`.
    pub cell PeepholeLstm {
        input x[I];
        state h[H], c[H];
        output h;
        param w_ih[4 * H, I], w_hh[4 * H, H], b[4 * H], p_i[H], p_f[H], p_o[H];
        step {
            let [i_x, f_x, g_x, o_x] = split(w_ih * x + b);
            let [i_h, f_h, g_h, o_h] = split(w_hh * h);
            let i = sigmoid(i_x + i_h + p_i * c);
            let f = sigmoid(f_x + f_h + p_f * c);
            let g = tanh(g_x + g_h);
            c = f * c + i * g;
            let o = sigmoid(o_x + o_h + p_o * c);
            h = o * tanh(c);
        }
    }
}

recurrent! {
    /// Coupled input–forget gate LSTM, "CIFG" of Greff, Srivastava, Koutník, Steunebrink &
    /// Schmidhuber, *LSTM: A Search Space Odyssey* (2017): their vanilla LSTM (with peepholes) with
    /// the forget gate replaced by `f = 1 − i`, so the forget gate's weights and peephole are gone.
    /// Gate blocks i, g, o.
    ///
    /// ```text
    /// i = σ(W_i x + R_i h + p_i ⊙ c_{t-1} + b_i),  g = tanh(W_g x + R_g h + b_g)
    /// c_t = (1 − i) ⊙ c_{t-1} + i ⊙ g
    /// o = σ(W_o x + R_o h + p_o ⊙ c_t + b_o),  h_t = o ⊙ tanh(c_t)
    /// ```
    /// Parameters: `3H(I + H) + 3H + 2H` (vanilla's `4H(I + H) + 4H + 3H` less one gate).
    pub cell Cifg {
        input x[I];
        state h[H], c[H];
        output h;
        param w_ih[3 * H, I], w_hh[3 * H, H], b[3 * H], p_i[H], p_o[H];
        step {
            let [i_x, g_x, o_x] = split(w_ih * x + b);
            let [i_h, g_h, o_h] = split(w_hh * h);
            let i = sigmoid(i_x + i_h + p_i * c);
            let g = tanh(g_x + g_h);
            c = (1 - i) * c + i * g;
            let o = sigmoid(o_x + o_h + p_o * c);
            h = o * tanh(c);
        }
    }
}

recurrent! {
    /// Minimal gated unit (Zhou, Wu, Zhang & Zhou 2016): one forget gate that also resets.
    ///
    /// ```text
    /// f = σ(W_fx x + W_fh h_{t-1} + b_f)
    /// n = tanh(W_nx x + W_nh (f ⊙ h_{t-1}) + b_n)
    /// h_t = (1 − f) ⊙ h_{t-1} + f ⊙ n
    /// ```
    /// Parameters: `2(H(H + I) + H)`.
    pub cell Mgu {
        input x[I];
        state h[H];
        param w_fx[H, I], w_fh[H, H], b_f[H], w_nx[H, I], w_nh[H, H], b_n[H];
        step {
            let f = sigmoid(w_fx * x + w_fh * h + b_f);
            let n = tanh(w_nx * x + w_nh * (f * h) + b_n);
            h = (1 - f) * h + f * n;
        }
    }
}

recurrent! {
    /// Independently recurrent network (Li, Li, Cook, Zhu & Gao 2018): each unit recurs only on
    /// itself through an element-wise weight `u`, with ReLU:
    /// `h_t = relu(W x_t + u ⊙ h_{t-1} + b)`. Parameters: `H·I + 2H`.
    pub cell IndRnn {
        input x[I];
        state h[H];
        param w[H, I], u[H], b[H];
        step {
            h = relu(w * x + u * h + b);
        }
    }
}

recurrent! {
    /// The hand-set hard-gated LSTM of the seed notes: every gate is rounded, ties to even,
    /// `round(σ(·))` for i, f, o and `round(tanh(·))` for the candidate and the output squashing.
    /// Gate blocks i, f, g, o. Its derivative is 0 almost everywhere; it exists to reproduce the
    /// seed's hand-computed sequences exactly.
    pub cell HardLstm {
        input x[I];
        state h[H], c[H];
        output h;
        param w_ih[4 * H, I], w_hh[4 * H, H], b[4 * H];
        fn hard_sigmoid = crate::HardSigmoid;
        fn hard_tanh = crate::HardTanh;
        step {
            let [i_x, f_x, g_x, o_x] = split(w_ih * x + b);
            let [i_h, f_h, g_h, o_h] = split(w_hh * h);
            let i = hard_sigmoid(i_x + i_h);
            let f = hard_sigmoid(f_x + f_h);
            let g = hard_tanh(g_x + g_h);
            let o = hard_sigmoid(o_x + o_h);
            c = f * c + i * g;
            h = o * hard_tanh(c);
        }
    }
}

recurrent! {
    /// The reservoir of an echo state network (Jaeger 2001; Lukoševičius 2012, "A practical
    /// guide to applying echo state networks"): a leaky-integrator tanh unit
    /// `x_t = (1 − a) x_{t-1} + a tanh(W x_{t-1} + W_in u_t + b)`, with leak rate `a`.
    /// In an echo state network its weights are drawn once and never trained; see
    /// [`crate::esn`].
    pub cell Reservoir {
        input u[I];
        state x[N];
        param w[N, N], w_in[N, I], b[N];
        /// The leak rate `a` in (0, 1]: 1 is a plain tanh RNN, small values integrate slowly.
        hyper leak = 1.0;
        step {
            x = (1 - leak) * x + leak * tanh(w * x + w_in * u + b);
        }
    }
}
