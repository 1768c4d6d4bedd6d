//! The dense readout: values, gradients against dual numbers, shape errors.

use nalgebra::{DMatrix, DVector};
use num_dual::Dual64;
use rnn_core::dense::Dense;
use rnn_core::{Error, ParamSet};

#[test]
fn forward_and_backward() {
    let dense = Dense {
        w: DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, -1.0, 0.5, 0.0]),
        b: DVector::from_column_slice(&[0.5, -0.5]),
    };
    let h = DMatrix::from_column_slice(3, 2, &[1.0, 0.0, -1.0, 2.0, 2.0, 2.0]);
    assert_eq!(
        dense.forward(&h).unwrap(),
        DMatrix::from_column_slice(2, 2, &[-1.5, -1.5, 12.5, -1.5])
    );
    // L = Σ y ⊙ r: gradients against forward-mode duals, entry by entry.
    let r = DMatrix::from_column_slice(2, 2, &[0.3, -0.7, 1.1, 0.2]);
    let (grad, d_h) = dense.backward(&h, &r).unwrap();
    let flat = grad.to_flat();
    let mut index = 0;
    let check = |k: usize, found: f64| {
        let mut dual_dense = Dense {
            w: dense.w.map(Dual64::from_re),
            b: dense.b.map(Dual64::from_re),
        };
        let mut dual_h = h.map(Dual64::from_re);
        let params = dense.param_count();
        if k < params {
            let mut i = 0;
            dual_dense.visit_mut(|_, _, data| {
                data.iter_mut().for_each(|v| {
                    if i == k {
                        v.eps = 1.0;
                    }
                    i += 1;
                })
            });
        } else {
            dual_h[k - params].eps = 1.0;
        }
        let y = dual_dense.forward(&dual_h).unwrap();
        let loss = y
            .iter()
            .zip(r.iter())
            .fold(Dual64::from_re(0.0), |acc, (a, &b)| acc + *a * b);
        assert!(
            (loss.eps - found).abs() <= 1e-14 * found.abs().max(1.0),
            "variable {k}: {found} vs {}",
            loss.eps
        );
    };
    for &g in &flat {
        check(index, g);
        index += 1;
    }
    for &g in d_h.iter() {
        check(index, g);
        index += 1;
    }
}

#[test]
fn shapes_are_checked() {
    let dense = Dense::<f64>::init(2, 3, 1).unwrap();
    assert!(matches!(
        dense.forward(&DMatrix::zeros(4, 1)).unwrap_err(),
        Error::Shape {
            expected: (3, 1),
            found: (4, 1),
            ..
        }
    ));
    assert!(
        dense
            .backward(&DMatrix::zeros(3, 2), &DMatrix::zeros(2, 1))
            .is_err()
    );
    assert!(Dense::<f64>::init(0, 3, 1).is_err());
}
