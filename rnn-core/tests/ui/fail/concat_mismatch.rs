use rnn_core::recurrent;

recurrent! {
    pub cell ElmanConcat {
        input x[I];
        state h[H];
        param w_h[H, H + I], b[H];
        step {
            h = tanh(w_h * [h; x; x] + b);
        }
    }
}

fn main() {}
