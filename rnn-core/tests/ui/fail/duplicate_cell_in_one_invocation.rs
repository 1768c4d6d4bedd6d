use rnn_core::recurrent;

recurrent! {
    pub cell Twice {
        input x[H];
        state h[H];
        step {
            h = h + x;
        }
    }

    pub cell Twice {
        input x[H];
        state h[H];
        step {
            h = h - x;
        }
    }
}

fn main() {}
