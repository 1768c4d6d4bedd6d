use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w_hh[H, H], w_hx[H, I], b[H];
        step {
            h = tanh(w_hh * h + w_hx * x + b + bias);
        }
    }
}

fn main() {}
