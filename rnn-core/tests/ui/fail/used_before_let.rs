use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w[H, I];
        step {
            h = tanh(a + h);
            let a = w * x;
        }
    }
}

fn main() {}
