//! Weight files: PyTorch names and layout, bit-exact round trips, typed errors for bad files.

mod vectors;

use rnn_core::cells::{Gru, GruDims, Lstm, LstmDims};
use rnn_core::weights::{Slot, WeightFile, WeightWriter, torch_name};
use rnn_core::{Cell, Error, ParamSet, seq};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use vectors::{assert_close, load, sequence, tensor};

fn bits<P: ParamSet<f64>>(p: &P) -> Vec<u64> {
    p.to_flat().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn names_follow_pytorch() {
    assert_eq!(torch_name("w_ih"), "weight_ih");
    assert_eq!(torch_name("b_hh"), "bias_hh");
    assert_eq!(torch_name("w"), "weight");
    assert_eq!(torch_name("p_i"), "p_i");
    assert_eq!(Slot::layer(1).reverse().key("w_hh"), "weight_hh_l1_reverse");
    assert_eq!(Slot::cell().key("b_ih"), "bias_ih");
}

#[test]
fn round_trip_is_bit_exact_f64() {
    let cell = Lstm::<f64>::init(LstmDims { H: 5, I: 4 }, 11).unwrap();
    let bytes = WeightWriter::new()
        .add(&cell, Slot::layer(0))
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut file = WeightFile::from_bytes(bytes).unwrap();
    let keys: Vec<&str> = file.unused_keys().collect();
    assert_eq!(keys, ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]);
    let mut loaded = Lstm::<f64>::new(LstmDims { H: 5, I: 4 }).unwrap();
    file.load(&mut loaded, Slot::layer(0)).unwrap();
    file.finish().unwrap();
    assert_eq!(bits(&loaded), bits(&cell));
}

#[test]
fn round_trip_is_bit_exact_f32_through_a_file() {
    let cell = Gru::<f32>::init(GruDims { H: 3, I: 2 }, 5).unwrap();
    let dir = std::env::temp_dir().join(format!("rnn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gru.safetensors");
    WeightWriter::new()
        .add(&cell, Slot::cell())
        .unwrap()
        .save(&path)
        .unwrap();
    let mut loaded = Gru::<f32>::new(GruDims { H: 3, I: 2 }).unwrap();
    let mut file = WeightFile::open(&path).unwrap();
    file.load(&mut loaded, Slot::cell()).unwrap();
    file.finish().unwrap();
    let to_bits = |p: &Gru<f32>| p.to_flat().iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    assert_eq!(to_bits(&loaded), to_bits(&cell));
    assert!(
        !dir.join("gru.safetensors.partial").exists(),
        "the temporary file is renamed away"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The bytes `safetensors.torch.save_file(state_dict)` writes for the reference vectors'
/// parameters: every tensor under its PyTorch name, F64, row-major.
fn state_dict_file(params: &serde_json::Value) -> Vec<u8> {
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let (shape, values) = tensor(value);
            (
                name.clone(),
                shape,
                values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(name, shape, bytes)| {
            (
                name.clone(),
                TensorView::new(Dtype::F64, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// A file laid out as `save_file(nn.LSTM(4, 5, num_layers=2, bidirectional=True).state_dict())`
/// writes it: the reference vectors' 16 tensors, row-major, under PyTorch's names. Every tensor
/// lands in the right cell, nothing is left over, and layer 0 then reproduces PyTorch's
/// single-layer outputs (`lstm.json`) when loaded from the same kind of file.
#[test]
fn pytorch_state_dict_layout_loads_unchanged() {
    let data = load("lstm_bidir_2layer.json");
    let params = data["params"].as_object().unwrap();
    let bytes = state_dict_file(&data["params"]);
    let mut file = WeightFile::from_bytes(bytes).unwrap();
    let (h, i) = (5, 4);
    let mut cells = Vec::new();
    for (layer, input) in [(0, i), (1, 2 * h)] {
        for slot in [Slot::layer(layer), Slot::layer(layer).reverse()] {
            let mut cell = Lstm::<f64>::new(LstmDims { H: h, I: input }).unwrap();
            file.load(&mut cell, slot).unwrap();
            cells.push((slot, cell));
        }
    }
    file.finish().unwrap();
    // weight_ih_l1_reverse is (4H, 2H) row-major: entry [r, c] at r * 2H + c.
    let (shape, values) = tensor(&params["weight_ih_l1_reverse"]);
    let cell = &cells[3].1;
    assert_eq!(shape, [4 * h, 2 * h]);
    assert_eq!(cell.w_ih[(7, 3)], values[7 * 2 * h + 3]);

    let single = load("lstm.json");
    let mut file = WeightFile::from_bytes(state_dict_file(&single["params"])).unwrap();
    let mut lstm = Lstm::<f64>::new(LstmDims { H: h, I: i }).unwrap();
    file.load(&mut lstm, Slot::layer(0)).unwrap();
    file.finish().unwrap();
    let inputs: Vec<_> = sequence(&single["inputs"]["x"])
        .into_iter()
        .map(|x| rnn_core::cells::LstmInput { x })
        .collect();
    let initial = rnn_core::cells::LstmState {
        h: sequence(&single["inputs"]["h0"]).remove(0),
        c: sequence(&single["inputs"]["c0"]).remove(0),
    };
    let states = seq::run(&lstm, &initial, &inputs).unwrap();
    for (t, expected) in sequence(&single["outputs"]["output"]).iter().enumerate() {
        assert_close(&format!("output[{t}]"), &states[t].h, expected);
    }
}

/// A file with the given tensors, all F64 zeros unless a dtype is given.
fn file_with(tensors: &[(&str, Vec<usize>, Dtype)]) -> Vec<u8> {
    let owned: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, dtype)| {
            let count: usize = shape.iter().product();
            (
                name.to_string(),
                shape.clone(),
                *dtype,
                vec![0u8; count * dtype.bitsize() / 8],
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn gru_tensors(dtype: Dtype) -> Vec<(&'static str, Vec<usize>, Dtype)> {
    vec![
        ("weight_ih_l0", vec![9, 2], dtype),
        ("weight_hh_l0", vec![9, 3], dtype),
        ("bias_ih_l0", vec![9], dtype),
        ("bias_hh_l0", vec![9], dtype),
    ]
}

fn gru() -> Gru<f64> {
    Gru::init(GruDims { H: 3, I: 2 }, 1).unwrap()
}

#[test]
fn missing_key_is_named_and_nothing_changes() {
    let mut tensors = gru_tensors(Dtype::F64);
    tensors.remove(3);
    let mut file = WeightFile::from_bytes(file_with(&tensors)).unwrap();
    let mut cell = gru();
    let before = bits(&cell);
    let err = file.load(&mut cell, Slot::layer(0)).unwrap_err();
    assert_eq!(
        err,
        Error::MissingKey {
            key: "bias_hh_l0".into()
        }
    );
    assert_eq!(bits(&cell), before, "a failed load leaves the cell unchanged");
}

#[test]
fn extra_key_is_reported_by_finish() {
    let mut tensors = gru_tensors(Dtype::F64);
    tensors.push(("weight_ih_l1", vec![9, 3], Dtype::F64));
    let mut file = WeightFile::from_bytes(file_with(&tensors)).unwrap();
    file.load(&mut gru(), Slot::layer(0)).unwrap();
    assert_eq!(
        file.finish().unwrap_err(),
        Error::ExtraKey {
            key: "weight_ih_l1".into()
        }
    );
}

#[test]
fn wrong_shape_names_both_shapes() {
    let mut tensors = gru_tensors(Dtype::F64);
    tensors[1].1 = vec![9, 4];
    let mut file = WeightFile::from_bytes(file_with(&tensors)).unwrap();
    let err = file.load(&mut gru(), Slot::layer(0)).unwrap_err();
    assert_eq!(
        err,
        Error::TensorShape {
            key: "weight_hh_l0".into(),
            expected: vec![9, 3],
            found: vec![9, 4]
        }
    );
    assert!(
        err.to_string().contains("[9, 4]") && err.to_string().contains("[9, 3]"),
        "{err}"
    );
}

#[test]
fn wrong_dtype_is_rejected() {
    let mut file = WeightFile::from_bytes(file_with(&gru_tensors(Dtype::F16))).unwrap();
    let err = file.load(&mut gru(), Slot::layer(0)).unwrap_err();
    assert_eq!(
        err,
        Error::Dtype {
            key: "weight_ih_l0".into(),
            expected: "F32 or F64".into(),
            found: "F16".into()
        }
    );
    let mut file = WeightFile::from_bytes(file_with(&gru_tensors(Dtype::F64))).unwrap();
    let mut narrow = Gru::<f32>::new(GruDims { H: 3, I: 2 }).unwrap();
    let err = file.load(&mut narrow, Slot::layer(0)).unwrap_err();
    assert_eq!(
        err,
        Error::Dtype {
            key: "weight_ih_l0".into(),
            expected: "F32".into(),
            found: "F64".into()
        }
    );
    // Widening F32 into an f64 cell is exact and accepted.
    let mut file = WeightFile::from_bytes(file_with(&gru_tensors(Dtype::F32))).unwrap();
    file.load(&mut gru(), Slot::layer(0)).unwrap();
}

#[test]
fn truncated_and_corrupt_files_are_format_errors() {
    let good = file_with(&gru_tensors(Dtype::F64));
    for cut in [0, 4, 8, 20, good.len() - 1] {
        let err = WeightFile::from_bytes(good[..cut].to_vec()).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "cut at {cut}: {err:?}");
    }
    let mut garbage = good.clone();
    garbage[8..16].copy_from_slice(b"{{{{{{{{");
    assert!(matches!(
        WeightFile::from_bytes(garbage).unwrap_err(),
        Error::Format { .. }
    ));
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        WeightFile::from_bytes(huge_header).unwrap_err(),
        Error::Format { .. }
    ));
    let err = WeightFile::open("/nonexistent/weights.safetensors").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn duplicate_slots_are_rejected_on_write() {
    let cell = gru();
    let mut writer = WeightWriter::new();
    writer.add(&cell, Slot::layer(0)).unwrap();
    let err = writer.add(&cell, Slot::layer(0)).unwrap_err();
    assert_eq!(
        err,
        Error::DuplicateKey {
            key: "weight_ih_l0".into()
        }
    );
    assert_eq!(<Gru<f64> as Cell<f64>>::NAME, "Gru");
}
