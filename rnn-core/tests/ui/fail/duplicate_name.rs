use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w[H, H], w[H, I];
        step {
            h = tanh(w * h);
        }
    }
}

fn main() {}
