use rnn_core::recurrent;

recurrent! {
    pub cell Gru {
        input x[I];
        state h[H];
        param w[2 * H, I];
        step {
            let [] = split(w * x);
            h = tanh(h);
        }
    }
}

fn main() {}
