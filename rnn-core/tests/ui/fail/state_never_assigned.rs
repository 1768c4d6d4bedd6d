use rnn_core::recurrent;

recurrent! {
    pub cell Lstm {
        input x[I];
        state h[H], c[H];
        param w[H, I];
        step {
            h = tanh(w * x + h);
        }
    }
}

fn main() {}
