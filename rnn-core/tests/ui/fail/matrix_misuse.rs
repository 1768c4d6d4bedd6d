use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[H];
        state h[H];
        param w[H, H];
        step {
            h = tanh(w) * x + h;
        }
    }
}

fn main() {}
