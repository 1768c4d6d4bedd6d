use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w[H, I];
        step {
            h = w * x + h;
            h = tanh(h);
        }
    }
}

fn main() {}
