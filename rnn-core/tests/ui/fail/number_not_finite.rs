use rnn_core::recurrent;

recurrent! {
    pub cell Huge {
        input x[H];
        state h[H];
        step {
            h = 1e400 * x + h;
        }
    }
}

fn main() {}
