use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w_hh[H, H], w_hx[H, I];
        step {
            h = gelu(w_hh * h + w_hx * x);
        }
    }
}

fn main() {}
