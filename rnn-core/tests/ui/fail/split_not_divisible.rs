use rnn_core::recurrent;

recurrent! {
    pub cell Gru {
        input x[I];
        state h[H];
        param w[2 * H, I];
        step {
            let [r, z, n] = split(w * x);
            h = r * z * n * h;
        }
    }
}

fn main() {}
