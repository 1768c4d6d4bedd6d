use rnn_core::recurrent;

recurrent! {
    pub cell Bilinear {
        input x[I];
        state h[H];
        param w[H, H * I];
        step {
            h = tanh(w * x + h);
        }
    }
}

fn main() {}
