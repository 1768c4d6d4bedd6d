use rnn_core::recurrent;

recurrent! {
    pub cell Leaky {
        input x[H];
        state h[H];
        hyper alpha;
        step {
            h = alpha * h + (1 - alpha) * x;
        }
    }
}

fn main() {}
