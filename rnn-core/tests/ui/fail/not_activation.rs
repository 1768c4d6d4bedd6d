use rnn_core::recurrent;

/// Not an activation: no `impl Activation`.
pub struct Square;

recurrent! {
    pub cell Squared {
        input x[I];
        state h[H];
        param w[H, I];
        fn square = Square;
        step {
            h = square(w * x) + h;
        }
    }
}

fn main() {}
