//! Reading `testdata/pytorch/*.json` at the workspace root (PyTorch float64 reference data,
//! row-major tensors; `testdata/pytorch/README.md` describes them and how they are made).
#![allow(dead_code)]

use nalgebra::DMatrix;
use rnn_core::weights::torch_name;
use rnn_core::{Cell, ParamSet};
use serde_json::Value;

/// Where the reference files are: `testdata/pytorch/` of this repository.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/pytorch/");

/// Parses one file of `testdata/pytorch/`.
pub fn load(name: &str) -> Value {
    let path = format!("{DIR}{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {path}: {e}"))
}

/// `(shape, row-major data)` of a stored tensor.
pub fn tensor(v: &Value) -> (Vec<usize>, Vec<f64>) {
    let shape = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dimension") as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect();
    (shape, data)
}

/// A 2-D row-major tensor as a matrix of the same shape.
pub fn matrix(v: &Value) -> DMatrix<f64> {
    let (shape, data) = tensor(v);
    assert_eq!(shape.len(), 2, "expected a matrix, got shape {shape:?}");
    DMatrix::from_row_slice(shape[0], shape[1], &data)
}

/// A 1-D tensor as a column vector.
pub fn vector(v: &Value) -> nalgebra::DVector<f64> {
    let (shape, data) = tensor(v);
    assert_eq!(shape.len(), 1, "expected a vector, got shape {shape:?}");
    nalgebra::DVector::from_vec(data)
}

/// A `(B, F)` tensor as our `F × B` layout (one column per sequence).
pub fn batch_matrix(v: &Value) -> DMatrix<f64> {
    matrix(v).transpose()
}

/// A `(T, B, F)` tensor as `T` matrices `F × B`.
pub fn sequence(v: &Value) -> Vec<DMatrix<f64>> {
    let (shape, data) = tensor(v);
    assert_eq!(shape.len(), 3, "expected (T, B, F), got shape {shape:?}");
    let (b, f) = (shape[1], shape[2]);
    data.chunks(b * f)
        .map(|chunk| DMatrix::from_row_slice(b, f, chunk).transpose())
        .collect()
}

/// `|a - b| <= 1e-10 max(1, |b|)` entry by entry (the check that `testdata/pytorch/README.md`
/// recommends), reporting the offending index and both values.
pub fn assert_close(what: &str, ours: &DMatrix<f64>, reference: &DMatrix<f64>) {
    assert_eq!(ours.shape(), reference.shape(), "{what}: shape");
    for (k, (&a, &b)) in ours.iter().zip(reference.iter()).enumerate() {
        let (row, col) = (k % ours.nrows(), k / ours.nrows());
        assert!(
            (a - b).abs() <= 1e-10 * b.abs().max(1.0),
            "{what}[{row}, {col}]: ours {a:e}, PyTorch {b:e}, |diff| {:e}",
            (a - b).abs()
        );
    }
}

pub fn load_params<C: Cell<f64>>(cell: &mut C, params: &Value, suffix: &str) {
    cell.visit_mut(|name, shape, data| {
        let (torch_shape, torch_data) = tensor(&params[format!("{}{suffix}", torch_name(name))]);
        assert_eq!(torch_shape, shape, "shape of {name}");
        match shape {
            [rows, cols] => {
                // PyTorch is row-major, nalgebra column-major.
                let m = DMatrix::from_row_slice(*rows, *cols, &torch_data);
                data.copy_from_slice(m.as_slice());
            }
            _ => data.copy_from_slice(&torch_data),
        }
    });
}

pub fn assert_param_grads<C: Cell<f64>>(grad: &C::Grad, reference: &Value, suffix: &str) {
    grad.visit(|name, shape, data| {
        let (torch_shape, torch_data) = tensor(&reference[format!("{}{suffix}", torch_name(name))]);
        assert_eq!(torch_shape, shape, "gradient shape of {name}");
        let expected = match shape {
            [rows, cols] => DMatrix::from_row_slice(*rows, *cols, &torch_data),
            _ => DMatrix::from_column_slice(torch_data.len(), 1, &torch_data),
        };
        let ours = DMatrix::from_column_slice(expected.nrows(), expected.ncols(), data);
        assert_close(&format!("dL/d{}", torch_name(name)), &ours, &expected);
    });
}
