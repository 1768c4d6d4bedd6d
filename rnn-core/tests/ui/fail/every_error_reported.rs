use rnn_core::recurrent;

// Three independent mistakes: all three are reported by one expansion.
recurrent! {
    pub cell Broken {
        input x[I];
        state h[H], c[H];
        param w[H, I], unused[H];
        step {
            h = tanh(w * x + h + missing);
        }
    }
}

fn main() {}
