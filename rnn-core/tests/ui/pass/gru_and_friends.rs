//! A documented crate: the generated items must satisfy `missing_docs`.
#![deny(missing_docs)]

use nalgebra::DMatrix;
use rnn_core::{Cell, recurrent};

recurrent! {
    /// GRU with PyTorch's conventions, and a second cell in the same invocation.
    pub cell Gru {
        input x[I];
        state h[H];
        param w_ih[3 * H, I], w_hh[3 * H, H], b_ih[3 * H], b_hh[3 * H];
        step {
            let [r_x, z_x, n_x] = split(w_ih * x + b_ih);
            let [r_h, z_h, n_h] = split(w_hh * h + b_hh);
            let r = sigmoid(r_x + r_h);
            let z = sigmoid(z_x + z_h);
            let n = tanh(n_x + r * n_h);
            h = (1 - z) * n + z * h;
        }
    }

    /// Keeps its state and sums its input.
    cell Keep {
        input x[H];
        state h[H], total[H];
        output total;
        step {
            total = total + x;
            h = h;
        }
    }
}

fn main() {
    let gru = Gru::<f32>::init(GruDims { H: 4, I: 3 }, 1).unwrap();
    let next = gru.forward(&gru.zero_state(2), &GruInput { x: DMatrix::zeros(3, 2) }).unwrap();
    assert_eq!(next.h.shape(), (4, 2));
    let keep = Keep::<f64>::new(KeepDims { H: 2 }).unwrap();
    assert_eq!(<Keep<f64> as Cell<f64>>::OUTPUT, 1);
    let _ = keep;
}
