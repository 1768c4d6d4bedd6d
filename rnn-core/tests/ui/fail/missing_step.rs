use rnn_core::recurrent;

recurrent! {
    pub cell Elman {
        input x[I];
        state h[H];
        param w[H, I];
    }
}

fn main() {}
