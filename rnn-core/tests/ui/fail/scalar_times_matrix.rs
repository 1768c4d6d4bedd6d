use rnn_core::recurrent;

recurrent! {
    pub cell Scaled {
        input x[I];
        state h[H];
        param w[H, I];
        step {
            h = 2 * w * x + h;
        }
    }
}

fn main() {}
