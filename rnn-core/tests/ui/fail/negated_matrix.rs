use rnn_core::recurrent;

recurrent! {
    pub cell Negated {
        input x[I];
        state h[H];
        param w[H, I];
        step {
            h = -w * x + h;
        }
    }
}

fn main() {}
