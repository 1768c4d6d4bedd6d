//! Weights in and out in PyTorch's names and layout, as safetensors files.
//!
//! A PyTorch user exports a model in three lines:
//!
//! ```python
//! from safetensors.torch import save_file
//! model = torch.nn.LSTM(input_size=4, hidden_size=5, num_layers=2, bidirectional=True)
//! save_file(model.state_dict(), "lstm.safetensors")
//! ```
//!
//! and loads it here into cells with PyTorch's conventions ([`Lstm`](crate::cells::Lstm),
//! [`Gru`](crate::cells::Gru), [`RnnTanh`](crate::cells::RnnTanh), [`RnnRelu`](crate::cells::RnnRelu)):
//!
//! ```no_run
//! use rnn_core::cells::{Lstm, LstmDims};
//! use rnn_core::weights::{Slot, WeightFile};
//!
//! # fn main() -> Result<(), rnn_core::Error> {
//! let mut file = WeightFile::open("lstm.safetensors")?;
//! let mut layer0 = Lstm::<f64>::new(LstmDims { H: 5, I: 4 })?;
//! let mut layer0_reverse = Lstm::<f64>::new(LstmDims { H: 5, I: 4 })?;
//! file.load(&mut layer0, Slot::layer(0))?;
//! file.load(&mut layer0_reverse, Slot::layer(0).reverse())?;
//! // ... layer 1 likewise; then check that nothing in the file was left over:
//! file.finish()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Names and layout
//! A parameter `w_xx` is stored as `weight_xx`, `b_xx` as `bias_xx`, `w` as `weight`, `b` as
//! `bias`; other names are kept. A [`Slot`] adds PyTorch's suffix: `_l{k}` for layer `k` of an
//! `nn.RNN`/`nn.LSTM`/`nn.GRU`, then `_reverse` for the backward direction; [`Slot::cell`] adds
//! nothing (`nn.LSTMCell` and friends). Matrices are stored row-major with PyTorch's shape
//! `[rows, cols]`, vectors as `[n]`, scalars as 0-dimensional tensors.
//!
//! # Element types
//! An `f32` cell is written as `F32`, any other scalar as `F64` (a dual number's real part).
//! Loading takes `F32` into any cell and `F64` into any cell but an `f32` one (that would round;
//! load into an `f64` cell and [`retype`](crate::Cell::retype) explicitly). Other element types
//! are an [`Error::Dtype`]. A write followed by a read gives the same bits.

use crate::{Error, ParamSet, Scalar};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::any::TypeId;
use std::collections::BTreeSet;
use std::path::Path;

/// Where a cell's parameters sit in a file: a layer and a direction of a PyTorch module, or
/// a bare cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    layer: Option<usize>,
    reverse: bool,
}

impl Slot {
    /// A bare cell (`nn.LSTMCell`'s `weight_ih`): no suffix.
    pub fn cell() -> Slot {
        Slot {
            layer: None,
            reverse: false,
        }
    }

    /// Layer `k` of a module (`weight_ih_l{k}`), forward direction.
    pub fn layer(k: usize) -> Slot {
        Slot {
            layer: Some(k),
            reverse: false,
        }
    }

    /// The backward direction of a bidirectional module (`_reverse`).
    pub fn reverse(self) -> Slot {
        Slot {
            reverse: true,
            ..self
        }
    }

    /// The stored name of parameter `param` in this slot.
    pub fn key(&self, param: &str) -> String {
        let mut key = torch_name(param);
        if let Some(k) = self.layer {
            key.push_str(&format!("_l{k}"));
        }
        if self.reverse {
            key.push_str("_reverse");
        }
        key
    }
}

/// PyTorch's name for a parameter: `w_ih` → `weight_ih`, `b_hh` → `bias_hh`, `w` → `weight`,
/// `b` → `bias`; other names unchanged.
pub fn torch_name(param: &str) -> String {
    if param == "w" {
        "weight".to_owned()
    } else if param == "b" {
        "bias".to_owned()
    } else if let Some(rest) = param.strip_prefix("w_") {
        format!("weight_{rest}")
    } else if let Some(rest) = param.strip_prefix("b_") {
        format!("bias_{rest}")
    } else {
        param.to_owned()
    }
}

fn is_f32<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>()
}

/// Row-major bytes and PyTorch shape of one parameter.
fn encode<T: Scalar>(shape: &[usize], data: &[T]) -> (Dtype, Vec<usize>, Vec<u8>) {
    let row_major: Vec<T> = match shape {
        [rows, cols] => (0..*rows)
            .flat_map(|r| (0..*cols).map(move |c| data[c * rows + r]))
            .collect(),
        _ => data.to_vec(),
    };
    if is_f32::<T>() {
        let bytes = row_major
            .iter()
            .flat_map(|x| (x.real_part() as f32).to_le_bytes())
            .collect();
        (Dtype::F32, shape.to_vec(), bytes)
    } else {
        let bytes = row_major
            .iter()
            .flat_map(|x| x.real_part().to_le_bytes())
            .collect();
        (Dtype::F64, shape.to_vec(), bytes)
    }
}

/// Collects cells' parameters and writes them as one safetensors file.
#[derive(Debug, Default)]
pub struct WeightWriter {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl WeightWriter {
    /// An empty file.
    pub fn new() -> Self {
        WeightWriter::default()
    }

    /// Adds every parameter of `params` under the names of `slot`.
    pub fn add<T: Scalar, P: ParamSet<T>>(&mut self, params: &P, slot: Slot) -> Result<&mut Self, Error> {
        let mut added = Vec::new();
        params.visit(|name, shape, data| {
            let (dtype, shape, bytes) = encode(shape, data);
            added.push((slot.key(name), dtype, shape, bytes));
        });
        // All or nothing: every key is checked, against the writer and within the set, before
        // any is added.
        for (k, entry) in added.iter().enumerate() {
            let earlier = added[..k].iter().map(|(key, ..)| key);
            if self
                .tensors
                .iter()
                .map(|(key, ..)| key)
                .chain(earlier)
                .any(|key| *key == entry.0)
            {
                return Err(Error::DuplicateKey { key: entry.0.clone() });
            }
        }
        self.tensors.extend(added);
        Ok(self)
    }

    /// Adds a 1-D tensor of any length under `key` (e.g. an optimizer's state).
    pub fn add_vector<T: Scalar>(&mut self, key: &str, values: &[T]) -> Result<&mut Self, Error> {
        if self.tensors.iter().any(|(k, ..)| k == key) {
            return Err(Error::DuplicateKey { key: key.to_owned() });
        }
        let (dtype, shape, bytes) = encode(&[values.len()], values);
        self.tensors.push((key.to_owned(), dtype, shape, bytes));
        Ok(self)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut views = Vec::with_capacity(self.tensors.len());
        for (key, dtype, shape, bytes) in &self.tensors {
            let view = TensorView::new(*dtype, shape.clone(), bytes).map_err(|e| Error::Format {
                reason: format!("tensor `{key}`: {e}"),
            })?;
            views.push((key.clone(), view));
        }
        safetensors::serialize(views, None).map_err(|e| Error::Format {
            reason: e.to_string(),
        })
    }

    /// Writes the file atomically: to a temporary file `<path>.partial` beside `path`, then
    /// renamed over it. On failure the error names the file that could not be written or
    /// renamed, `path` is untouched and the temporary file is removed.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".partial");
        let temporary = std::path::PathBuf::from(temporary);
        if let Err(e) = std::fs::write(&temporary, bytes) {
            // Nothing of ours may remain (a directory of that name is not ours: left alone).
            if temporary.is_file() {
                let _ = std::fs::remove_file(&temporary);
            }
            return Err(Error::Io {
                path: temporary.display().to_string(),
                reason: e.to_string(),
            });
        }
        std::fs::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            Error::Io {
                path: path.display().to_string(),
                reason: format!("cannot replace it with {}: {e}", temporary.display()),
            }
        })
    }
}

/// A safetensors file being loaded into cells; [`WeightFile::finish`] reports tensors no cell took.
#[derive(Debug)]
pub struct WeightFile {
    bytes: Vec<u8>,
    unused: BTreeSet<String>,
}

impl WeightFile {
    /// Checks the header of a file's bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        let unused = {
            let tensors = SafeTensors::deserialize(&bytes).map_err(|e| Error::Format {
                reason: e.to_string(),
            })?;
            tensors.names().into_iter().map(str::to_owned).collect()
        };
        Ok(WeightFile { bytes, unused })
    }

    /// Reads and checks a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        WeightFile::from_bytes(bytes)
    }

    /// The names of the tensors no cell has taken yet.
    pub fn unused_keys(&self) -> impl Iterator<Item = &str> {
        self.unused.iter().map(String::as_str)
    }

    /// Fills every parameter of `params` from the tensors of `slot`. On error nothing is changed.
    pub fn load<T: Scalar, P: ParamSet<T>>(&mut self, params: &mut P, slot: Slot) -> Result<(), Error> {
        let tensors = SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Format {
            reason: e.to_string(),
        })?;
        let mut values: Vec<Vec<T>> = Vec::new();
        let mut keys = Vec::new();
        let mut failure = None;
        params.visit(|name, shape, _| {
            if failure.is_some() {
                return;
            }
            let key = slot.key(name);
            match read_tensor(&tensors, &key, shape) {
                Ok(v) => {
                    values.push(v);
                    keys.push(key);
                }
                Err(e) => failure = Some(e),
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        let mut next = values.into_iter();
        params.visit_mut(|_, _, data| {
            if let Some(v) = next.next() {
                data.copy_from_slice(&v);
            }
        });
        for key in keys {
            self.unused.remove(&key);
        }
        Ok(())
    }

    /// Reads the 1-D tensor `key`, whatever its length.
    pub fn take_vector<T: Scalar>(&mut self, key: &str) -> Result<Vec<T>, Error> {
        let tensors = SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Format {
            reason: e.to_string(),
        })?;
        let len = tensors
            .tensor(key)
            .map_err(|_| Error::MissingKey { key: key.to_owned() })?
            .shape()
            .to_vec();
        let [n] = len.as_slice() else {
            return Err(Error::TensorShape {
                key: key.to_owned(),
                expected: vec![len.iter().product()],
                found: len,
            });
        };
        let values = read_tensor(&tensors, key, &[*n])?;
        self.unused.remove(key);
        Ok(values)
    }

    /// Succeeds when every tensor of the file was loaded into some cell.
    pub fn finish(self) -> Result<(), Error> {
        match self.unused.into_iter().next() {
            Some(key) => Err(Error::ExtraKey { key }),
            None => Ok(()),
        }
    }
}

/// One tensor as column-major values of `T`, checked against the parameter's shape.
fn read_tensor<T: Scalar>(tensors: &SafeTensors<'_>, key: &str, shape: &[usize]) -> Result<Vec<T>, Error> {
    let view = tensors
        .tensor(key)
        .map_err(|_| Error::MissingKey { key: key.to_owned() })?;
    if view.shape() != shape {
        return Err(Error::TensorShape {
            key: key.to_owned(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let row_major: Vec<T> = match view.dtype() {
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| T::of_f64(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))))
            .collect(),
        Dtype::F64 if !is_f32::<T>() => view
            .data()
            .chunks_exact(8)
            .map(|b| {
                T::of_f64(f64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            })
            .collect(),
        other => {
            return Err(Error::Dtype {
                key: key.to_owned(),
                expected: if is_f32::<T>() {
                    "F32".to_owned()
                } else {
                    "F32 or F64".to_owned()
                },
                found: format!("{other:?}"),
            });
        }
    };
    let expected_len: usize = shape.iter().product();
    if row_major.len() != expected_len {
        return Err(Error::Format {
            reason: format!(
                "tensor `{key}` holds {} values for shape {shape:?}",
                row_major.len()
            ),
        });
    }
    Ok(match shape {
        [rows, cols] => (0..*cols)
            .flat_map(|c| (0..*rows).map(move |r| (r, c)))
            .map(|(r, c)| row_major[r * cols + c])
            .collect(),
        _ => row_major,
    })
}
