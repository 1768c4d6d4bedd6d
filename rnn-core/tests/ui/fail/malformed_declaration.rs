use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        inputs x[I];
        state h[H];
        param w_hh[H, H], w_hx[H, I];
        step {
            h = tanh(w_hh * h + w_hx * x);
        }
    }
}

fn main() {}
