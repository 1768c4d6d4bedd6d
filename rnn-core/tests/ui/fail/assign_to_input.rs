use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[H];
        state h[H];
        param w[H, H];
        step {
            x = w * x;
            h = tanh(x + h);
        }
    }
}

fn main() {}
