use rnn_core::recurrent;

recurrent! {
    pub cell Clash {
        input x[H];
        state h[H];
        param dims[H];
        step {
            h = dims * x + h;
        }
    }
}

fn main() {}
