use rnn_core::recurrent;

recurrent! {
    pub cell Projected {
        input x[I];
        state h[H];
        param w[I, I];
        step {
            h = w * x;
        }
    }
}

fn main() {}
