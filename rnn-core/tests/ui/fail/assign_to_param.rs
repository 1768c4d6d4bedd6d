use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[H];
        state h[H];
        param b[H];
        step {
            b = x;
            h = tanh(x + h + b);
        }
    }
}

fn main() {}
