//! The drivers of `rnn_core::drivers` against their definitions: padding never read, TBPTT's
//! exact statements (docs/THEORY.md P9 E1, E2), the decoder's feeds against explicit unrolls, and
//! a typed error for every misuse. Their gradients are checked against finite differences and
//! dual numbers in `rnn-verify/tests/driver_gradients.rs`.

use nalgebra::DMatrix;
use rnn_core::cells::{
    Elman, ElmanDims, ElmanInput, Gru, GruDims, GruInput, Lstm, LstmDims, LstmInput, LstmState,
};
use rnn_core::dense::Dense;
use rnn_core::drivers::{self, Decoder, EncoderDecoder, Feed, TruncatedBptt};
use rnn_core::{Cell, Error, ParamSet, SplitMix64, Tensors, seq};

fn random(rng: &mut SplitMix64, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.uniform(-1.0, 1.0))
}

fn bits(m: &DMatrix<f64>) -> Vec<u64> {
    m.iter().map(|x| x.to_bits()).collect()
}

fn tensor_bits<X: Tensors<f64>>(x: &X) -> Vec<u64> {
    x.iter().flat_map(bits).collect()
}

struct Padded {
    cell: Lstm<f64>,
    initial: LstmState<f64>,
    inputs: Vec<LstmInput<f64>>,
    lengths: Vec<usize>,
    d_states: Vec<LstmState<f64>>,
    d_final: LstmState<f64>,
}

fn padded(seed: u64, padding: f64) -> Padded {
    let mut rng = SplitMix64::new(seed);
    let (h, i, steps) = (4, 3, 7);
    let lengths = vec![3, 7, 1, 0, 7, 5];
    let b = lengths.len();
    let cell = Lstm::<f64>::init(LstmDims { H: h, I: i }, seed).unwrap();
    let initial = LstmState {
        h: random(&mut rng, h, b),
        c: random(&mut rng, h, b),
    };
    let mut inputs: Vec<LstmInput<f64>> = (0..steps)
        .map(|_| LstmInput {
            x: random(&mut rng, i, b),
        })
        .collect();
    let mut d_states: Vec<LstmState<f64>> = (0..steps)
        .map(|_| LstmState {
            h: random(&mut rng, h, b),
            c: random(&mut rng, h, b),
        })
        .collect();
    for t in 0..steps {
        for (col, &length) in lengths.iter().enumerate() {
            if t >= length {
                inputs[t].x.column_mut(col).fill(padding);
                d_states[t].h.column_mut(col).fill(padding);
                d_states[t].c.column_mut(col).fill(padding);
            }
        }
    }
    let d_final = LstmState {
        h: random(&mut rng, h, b),
        c: random(&mut rng, h, b),
    };
    Padded {
        cell,
        initial,
        inputs,
        lengths,
        d_states,
        d_final,
    }
}

fn run_padded(p: &Padded) -> (Vec<u64>, Vec<u64>) {
    let run = drivers::unroll_lengths(&p.cell, &p.initial, &p.inputs, &p.lengths).unwrap();
    let grads = drivers::bptt_lengths(&p.cell, &run, &p.d_states, &p.d_final).unwrap();
    let mut forward: Vec<u64> = run.outputs().iter().flat_map(bits).collect();
    forward.extend(tensor_bits(run.final_state()));
    let mut backward: Vec<u64> = grads.params.to_flat().iter().map(|x| x.to_bits()).collect();
    backward.extend(grads.inputs.iter().flat_map(tensor_bits));
    backward.extend(tensor_bits(&grads.initial_state));
    (forward, backward)
}

#[test]
fn nan_padding_changes_no_result_and_no_gradient() {
    let reference = run_padded(&padded(1, 0.0));
    for padding in [f64::NAN, f64::INFINITY, -3.0e300, 7.0] {
        let (forward, backward) = run_padded(&padded(1, padding));
        assert_eq!(
            forward, reference.0,
            "outputs and final states with padding {padding}"
        );
        assert_eq!(backward, reference.1, "gradients with padding {padding}");
    }
    // The padding really is where NaNs were put, so a driver reading it would fail this test.
    let p = padded(1, f64::NAN);
    assert!(p.inputs[6].x.iter().any(|x| x.is_nan()));
    let full = seq::unroll(&p.cell, &p.initial, &p.inputs).unwrap();
    assert!(full.last_state().h.iter().any(|x| x.is_nan()));
}

#[test]
fn each_column_equals_its_own_sequence_run_alone() {
    let p = padded(2, f64::NAN);
    let run = drivers::unroll_lengths(&p.cell, &p.initial, &p.inputs, &p.lengths).unwrap();
    let grads = drivers::bptt_lengths(&p.cell, &run, &p.d_states, &p.d_final).unwrap();
    let mut params_sum = vec![0.0; p.cell.param_count()];
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
            "{what}: batched {a:e}, alone {b:e}"
        );
    };
    for (col, &length) in p.lengths.iter().enumerate() {
        let column = |m: &DMatrix<f64>| m.columns(col, 1).into_owned();
        let initial = LstmState {
            h: column(&p.initial.h),
            c: column(&p.initial.c),
        };
        let d_final = LstmState {
            h: column(&p.d_final.h),
            c: column(&p.d_final.c),
        };
        if length == 0 {
            assert_eq!(column(&run.final_state().h), initial.h);
            assert_eq!(column(&grads.initial_state.c), d_final.c);
            continue;
        }
        let inputs: Vec<LstmInput<f64>> = p.inputs[..length]
            .iter()
            .map(|x| LstmInput { x: column(&x.x) })
            .collect();
        let alone = seq::unroll(&p.cell, &initial, &inputs).unwrap();
        let mut d_states: Vec<LstmState<f64>> = p.d_states[..length]
            .iter()
            .map(|d| LstmState {
                h: column(&d.h),
                c: column(&d.c),
            })
            .collect();
        d_states[length - 1].h += &d_final.h;
        d_states[length - 1].c += &d_final.c;
        let g = seq::bptt(&p.cell, &alone, &d_states).unwrap();
        for (a, b) in column(&run.final_state().c)
            .iter()
            .zip(alone.last_state().c.iter())
        {
            close(*a, *b, &format!("final c of column {col}"));
        }
        for t in 0..p.inputs.len() {
            let out = column(&run.outputs()[t]);
            if t < length {
                for (a, b) in out.iter().zip(alone.states()[t + 1].h.iter()) {
                    close(*a, *b, &format!("output of column {col} at step {}", t + 1));
                }
                for (a, b) in column(&grads.inputs[t].x).iter().zip(g.inputs[t].x.iter()) {
                    close(
                        *a,
                        *b,
                        &format!("input gradient of column {col} at step {}", t + 1),
                    );
                }
            } else {
                assert!(
                    out.iter().all(|&x| x == 0.0),
                    "output past the end of column {col}"
                );
                assert!(column(&grads.inputs[t].x).iter().all(|&x| x == 0.0));
            }
        }
        for (a, b) in column(&grads.initial_state.h)
            .iter()
            .zip(g.initial_state.h.iter())
        {
            close(*a, *b, &format!("initial-state gradient of column {col}"));
        }
        for (s, x) in params_sum.iter_mut().zip(g.params.to_flat()) {
            *s += x;
        }
    }
    for (k, (a, b)) in grads.params.to_flat().iter().zip(&params_sum).enumerate() {
        close(*a, *b, &format!("parameter gradient {k}"));
    }
}

fn elman_sequence(
    seed: u64,
    steps: usize,
    batch: usize,
) -> (
    Elman<f64>,
    Vec<ElmanInput<f64>>,
    Vec<rnn_core::cells::ElmanState<f64>>,
) {
    let mut rng = SplitMix64::new(seed);
    let cell = Elman::<f64>::init(ElmanDims { H: 5, I: 2 }, seed).unwrap();
    let inputs = (0..steps)
        .map(|_| ElmanInput {
            x: random(&mut rng, 2, batch),
        })
        .collect();
    let d_states = (0..steps)
        .map(|_| rnn_core::cells::ElmanState {
            h: random(&mut rng, 5, batch),
        })
        .collect();
    (cell, inputs, d_states)
}

#[test]
fn one_window_reaching_the_start_is_full_bptt_bit_for_bit() {
    let (cell, inputs, d_states) = elman_sequence(3, 9, 2);
    let h0 = cell.zero_state(2);
    let full = seq::bptt(&cell, &seq::unroll(&cell, &h0, &inputs).unwrap(), &d_states).unwrap();
    for k2 in [9, 10, 50] {
        let mut tbptt = TruncatedBptt::new(&cell, &h0, k2).unwrap();
        let window = tbptt.window(&cell, &inputs).unwrap();
        let grads = window.backward(&cell, &d_states).unwrap();
        assert_eq!(grads.params.to_flat(), full.params.to_flat(), "k2 = {k2}");
        assert_eq!(grads.initial_state.h, full.initial_state.h);
        for (a, b) in grads.inputs.iter().zip(&full.inputs) {
            assert_eq!(a.x, b.x);
        }
    }
}

#[test]
fn detach_every_k_windows_sum_to_bptt_truncated_and_carry_the_state() {
    // Chunks of k1 = k2 = k that tile the sequence (every window is one chunk, nothing re-run).
    let (cell, inputs, d_states) = elman_sequence(4, 18, 3);
    let h0 = cell.zero_state(3);
    let full = seq::unroll(&cell, &h0, &inputs).unwrap();
    for k in [1, 2, 3, 6, 9, 18] {
        let truncated = seq::bptt_truncated(&cell, &full, &d_states, k).unwrap();
        let mut tbptt = TruncatedBptt::new(&cell, &h0, k).unwrap();
        let mut sum = vec![0.0; cell.param_count()];
        for (c, chunk) in inputs.chunks(k).enumerate() {
            let window = tbptt.window(&cell, chunk).unwrap();
            assert_eq!((window.rerun(), window.first_step()), (0, c * k + 1));
            let grads = window
                .backward(&cell, &d_states[c * k..c * k + chunk.len()])
                .unwrap();
            for (s, g) in sum.iter_mut().zip(grads.params.to_flat()) {
                *s += g;
            }
        }
        for (j, (a, b)) in sum.iter().zip(truncated.params.to_flat()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-13 * a.abs().max(b.abs()).max(1e-300),
                "k = {k}, parameter {j}: windows {a:e}, bptt_truncated {b:e}"
            );
        }
        assert_eq!(tbptt.state().h, full.last_state().h, "carried state, k = {k}");
        assert_eq!(tbptt.steps(), 18);
    }
}

#[test]
fn overlapping_windows_rerun_up_to_k2_minus_k1_steps() {
    let (cell, inputs, _) = elman_sequence(5, 20, 1);
    let mut tbptt = TruncatedBptt::new(&cell, &cell.zero_state(1), 7).unwrap();
    let mut reruns = Vec::new();
    for chunk in inputs.chunks(3) {
        let window = tbptt.window(&cell, chunk).unwrap();
        assert_eq!(window.trajectory().len(), window.rerun() + chunk.len());
        reruns.push(window.rerun());
    }
    // Every window is the last k2 = 7 steps: the short last chunk (2 steps) re-runs 5.
    assert_eq!(reruns, vec![0, 3, 4, 4, 4, 4, 5]);
}

/// A decoder, an initial state, a start and six targets.
type DecoderSetup = (
    Decoder<f64, Gru<f64>>,
    rnn_core::cells::GruState<f64>,
    DMatrix<f64>,
    Vec<DMatrix<f64>>,
);

fn decoder(seed: u64) -> DecoderSetup {
    let mut rng = SplitMix64::new(seed);
    let (h, i, b) = (4, 2, 3);
    let decoder = Decoder {
        cell: Gru::<f64>::init(GruDims { H: h, I: i }, seed).unwrap(),
        readout: Dense::init(i, h, seed + 1).unwrap(),
    };
    let initial = rnn_core::cells::GruState {
        h: random(&mut rng, h, b),
    };
    let start = random(&mut rng, i, b);
    let targets = (0..6).map(|_| random(&mut rng, i, b)).collect();
    (decoder, initial, start, targets)
}

#[test]
fn decoder_feeds_are_the_unrolls_they_stand_for() {
    let (decoder, initial, start, targets) = decoder(6);
    // Teacher forcing is a plain unroll over [start, y_1 .. y_{T-1}] with a readout.
    let run = decoder
        .forward(&initial, &start, &targets, Feed::Teacher)
        .unwrap();
    let mut inputs = vec![GruInput { x: start.clone() }];
    inputs.extend(targets[..5].iter().map(|y| GruInput { x: y.clone() }));
    let states = seq::run(&decoder.cell, &initial, &inputs).unwrap();
    for (y, s) in run.outputs().iter().zip(&states) {
        assert_eq!(*y, decoder.readout.forward(&s.h).unwrap());
    }
    assert_eq!(run.teacher_fed(), vec![false, true, true, true, true, true]);
    // Free running is generation.
    let free = decoder.forward(&initial, &start, &targets, Feed::Free).unwrap();
    assert_eq!(free.outputs(), decoder.generate(&initial, &start, 6).unwrap());
    assert_ne!(free.outputs()[3], run.outputs()[3]);
    // Scheduled sampling at the two ends of its range.
    let always = Feed::Scheduled {
        teacher_probability: 1.0,
        seed: 1,
    };
    let never = Feed::Scheduled {
        teacher_probability: 0.0,
        seed: 1,
    };
    assert_eq!(
        decoder
            .forward(&initial, &start, &targets, always)
            .unwrap()
            .outputs(),
        run.outputs()
    );
    assert_eq!(
        decoder
            .forward(&initial, &start, &targets, never)
            .unwrap()
            .outputs(),
        free.outputs()
    );
    // The same seed draws the same steps.
    let half = Feed::Scheduled {
        teacher_probability: 0.5,
        seed: 3,
    };
    let a = decoder.forward(&initial, &start, &targets, half).unwrap();
    let b = decoder.forward(&initial, &start, &targets, half).unwrap();
    assert_eq!(a.teacher_fed(), b.teacher_fed());
}

#[test]
fn misuse_is_a_typed_error_naming_both_sides() {
    let p = padded(7, 0.0);
    let too_long = drivers::unroll_lengths(&p.cell, &p.initial, &p.inputs, &[3, 8, 1, 0, 7, 5]);
    assert!(
        matches!(&too_long, Err(Error::OutOfRange { found, range, .. }) if found == "8" && range.contains("0..=7")),
        "{too_long:?}"
    );
    let count = drivers::unroll_lengths(&p.cell, &p.initial, &p.inputs, &[3, 7]);
    assert!(
        matches!(
            count,
            Err(Error::Length {
                expected: 6,
                found: 2,
                ..
            })
        ),
        "{count:?}"
    );

    let (cell, inputs, _) = elman_sequence(8, 10, 1);
    assert!(matches!(
        TruncatedBptt::new(&cell, &cell.zero_state(1), 0),
        Err(Error::OutOfRange { .. })
    ));
    let mut tbptt = TruncatedBptt::new(&cell, &cell.zero_state(1), 4).unwrap();
    let chunk = tbptt.window(&cell, &inputs[..5]);
    assert!(
        matches!(&chunk, Err(Error::OutOfRange { found, .. }) if found == "5"),
        "{chunk:?}"
    );
    let window = tbptt.window(&cell, &inputs[..2]).unwrap();
    let short = window.backward(&cell, &[cell.zero_state(1)]);
    assert!(
        matches!(
            short,
            Err(Error::Length {
                expected: 2,
                found: 1,
                ..
            })
        ),
        "{short:?}"
    );

    let (mut dec, initial, start, targets) = decoder(9);
    let probability = Feed::Scheduled {
        teacher_probability: 1.5,
        seed: 0,
    };
    assert!(matches!(
        dec.forward(&initial, &start, &targets, probability),
        Err(Error::OutOfRange { .. })
    ));
    let wrong_start = dec.forward(&initial, &DMatrix::zeros(3, 3), &targets, Feed::Teacher);
    assert!(
        matches!(
            wrong_start,
            Err(Error::Shape {
                expected: (2, 3),
                found: (3, 3),
                ..
            })
        ),
        "{wrong_start:?}"
    );
    assert!(matches!(
        dec.forward(&initial, &start, &[], Feed::Teacher),
        Err(Error::EmptySequence { .. })
    ));
    dec.readout = Dense::init(3, 4, 0).unwrap();
    let readout = dec.forward(&initial, &start, &targets, Feed::Free);
    assert!(
        matches!(
            readout,
            Err(Error::Shape {
                expected: (2, 4),
                found: (3, 4),
                ..
            })
        ),
        "{readout:?}"
    );

    // An LSTM state (h, c) cannot become a GRU's (h).
    let (dec, _, start, targets) = decoder(10);
    let model = EncoderDecoder {
        encoder: Lstm::<f64>::init(LstmDims { H: 4, I: 2 }, 0).unwrap(),
        decoder: dec,
    };
    let xs: Vec<LstmInput<f64>> = (0..3)
        .map(|_| LstmInput {
            x: DMatrix::zeros(2, 3),
        })
        .collect();
    let mismatch = model.forward(&model.encoder.zero_state(3), &xs, &start, &targets, Feed::Teacher);
    assert!(
        matches!(&mismatch, Err(Error::Length { expected: 1, found: 2, what }) if what.contains("Lstm") && what.contains("Gru")),
        "{mismatch:?}"
    );

    let cell = Elman::<f64>::init(ElmanDims { H: 3, I: 2 }, 0).unwrap();
    let wrong = drivers::last_output_adjoint(&cell, 4, &DMatrix::zeros(2, 1));
    assert!(
        matches!(
            wrong,
            Err(Error::Shape {
                expected: (3, 1),
                found: (2, 1),
                ..
            })
        ),
        "{wrong:?}"
    );
    let ragged = drivers::output_adjoints(&cell, &[DMatrix::zeros(3, 2), DMatrix::zeros(3, 1)]);
    assert!(
        matches!(
            ragged,
            Err(Error::Length {
                expected: 2,
                found: 1,
                ..
            })
        ),
        "{ragged:?}"
    );
}

#[test]
fn one_to_many_is_an_unroll_of_the_repeated_context() {
    let mut rng = SplitMix64::new(11);
    let (h, i, b, steps) = (4, 3, 2, 6);
    let cell = Gru::<f64>::init(GruDims { H: h, I: i }, 11).unwrap();
    let context = GruInput {
        x: random(&mut rng, i, b),
    };
    let initial = rnn_core::cells::GruState {
        h: random(&mut rng, h, b),
    };
    let d_states: Vec<rnn_core::cells::GruState<f64>> = (0..steps)
        .map(|_| rnn_core::cells::GruState {
            h: random(&mut rng, h, b),
        })
        .collect();
    let shared = drivers::one_to_many(&cell, &initial, &context, steps).unwrap();
    let repeated = seq::unroll(&cell, &initial, &vec![context.clone(); steps]).unwrap();
    // The one projection of the context is the projection of each copy: same states, bit for bit.
    for t in 0..=steps {
        assert_eq!(shared.states()[t].h, repeated.states()[t].h, "state {t}");
    }
    // Backward sums the projection adjoints before one project_backward: the same gradient up
    // to the order of the sums.
    let g = drivers::one_to_many_backward(&cell, &shared, &d_states).unwrap();
    let r = seq::bptt(&cell, &repeated, &d_states).unwrap();
    let mut d_context = DMatrix::zeros(i, b);
    for x in &r.inputs {
        d_context += &x.x;
    }
    let close = |a: &[f64], b: &[f64], what: &str| {
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-13 * x.abs().max(y.abs()).max(1.0),
                "{what}[{k}]: shared {x:e}, repeated {y:e}"
            );
        }
    };
    close(&g.params.to_flat(), &r.params.to_flat(), "params");
    close(g.context.x.as_slice(), d_context.as_slice(), "context");
    assert_eq!(g.initial_state.h, r.initial_state.h);
    assert!(matches!(
        drivers::one_to_many(&cell, &initial, &context, 0),
        Err(Error::EmptySequence { .. })
    ));
}
