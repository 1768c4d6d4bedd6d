use rnn_core::recurrent;

recurrent! {
    pub cell Stacked {
        input x[I];
        state h[H];
        param w[H, H];
        step {
            let [a, b] = split([h; x]);
            h = tanh(w * a + b);
        }
    }
}

fn main() {}
