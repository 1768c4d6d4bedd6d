//! docs/THEORY.md P2 and P3 for every sequence driver of `rnn_core::drivers`: one-to-many,
//! many-to-one, the decoder under teacher forcing, free running and scheduled sampling, the
//! encoder–decoder, variable-length batches and truncated-BPTT windows after parameter updates.
//! Each is an [`Objective`]: its variables are every parameter and every input it reads, its
//! value is recomputed from them over `f64` (finite differences) or `Dual64` (exact), and its
//! gradient is the driver's backward.

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, Gru, GruDims, GruInput, Lstm, LstmDims, LstmInput};
use rnn_core::dense::Dense;
use rnn_core::drivers::{self, Decoder, EncoderDecoder, Feed, TruncatedBptt};
use rnn_core::layers::{Direction, Layer};
use rnn_core::optim::{Optimizer, Sgd};
use rnn_core::{Cell, Error, ParamSet, Scalar, SplitMix64, Tensors, seq};
use rnn_verify::{FlatReader, Objective, check_objective_dual, check_objective_fd};

fn dot<S: Scalar>(a: &DMatrix<S>, b: &DMatrix<S>) -> S {
    a.iter()
        .zip(b.iter())
        .fold(S::zero(), |acc, (&x, &y)| acc + x * y)
}

fn lift<S: Scalar>(m: &DMatrix<f64>) -> DMatrix<S> {
    m.map(S::of_f64)
}

fn lift_tensors<S: Scalar, X: Tensors<f64>, Y: Tensors<S>>(x: &X) -> Y {
    Y::from_fn(|k| x.get(k).map_or_else(|| DMatrix::zeros(0, 0), lift))
}

fn dot_tensors<S: Scalar, X: Tensors<S>>(a: &X, b: &X) -> S {
    a.iter()
        .zip(b.iter())
        .fold(S::zero(), |acc, (x, y)| acc + dot(x, y))
}

/// Flat f64 variables, written in the order a [`FlatReader`] reads them back.
#[derive(Default)]
struct Flat(Vec<f64>);

impl Flat {
    fn params(&mut self, p: &impl ParamSet<f64>) -> &mut Self {
        self.0.extend(p.to_flat());
        self
    }
    fn matrix(&mut self, m: &DMatrix<f64>) -> &mut Self {
        self.0.extend(m.iter().copied());
        self
    }
    fn tensors<X: Tensors<f64>>(&mut self, x: &X) -> &mut Self {
        x.iter().for_each(|m| {
            self.matrix(m);
        });
        self
    }
    /// Parameters, initial state, then every step's input gradient.
    fn sequence<C: Cell<f64>>(&mut self, grads: &seq::SequenceGrad<f64, C>) -> &mut Self {
        self.params(&grads.params).tensors(&grads.initial_state);
        grads.inputs.iter().for_each(|x| {
            self.tensors(x);
        });
        self
    }
}

/// `xs` lifted to `S`, each then overwritten from `reader` (the variables of one objective).
fn read_lifted<S: Scalar, X: Tensors<f64>, Y: Tensors<S>>(
    reader: &mut FlatReader<'_, S>,
    xs: &[X],
) -> Result<Vec<Y>, Error> {
    let mut lifted: Vec<Y> = xs.iter().map(lift_tensors).collect();
    for x in &mut lifted {
        reader.tensors(x)?;
    }
    Ok(lifted)
}

fn random(rng: &mut SplitMix64, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.uniform(-1.0, 1.0))
}

fn seeded<C: Cell<f64>>(mut cell: C, rng: &mut SplitMix64) -> C {
    cell.visit_mut(|_, _, data| data.iter_mut().for_each(|v| *v = rng.uniform(-0.6, 0.6)));
    cell
}

fn dense(rng: &mut SplitMix64, outputs: usize, inputs: usize) -> Dense<f64> {
    let mut d = Dense::init(outputs, inputs, 0).unwrap();
    d.visit_mut(|_, _, data| data.iter_mut().for_each(|v| *v = rng.uniform(-0.6, 0.6)));
    d
}

fn retype_dense<S: Scalar>(d: &Dense<f64>) -> Dense<S> {
    Dense {
        w: lift(&d.w),
        b: d.b.map(S::of_f64),
    }
}

fn assert_checks(name: &str, objective: &impl Objective) {
    let fd = check_objective_fd(objective).unwrap();
    let dual = check_objective_dual(objective).unwrap();
    println!("{name}: P2 {fd}\n{name}: P3 {dual}");
    assert!(fd.passed(), "{name}, P2: {fd}");
    assert!(dual.passed(), "{name}, P3: {dual}");
    assert!(fd.checked > 20, "{name}: only {} variables", fd.checked);
}

// ---------------------------------------------------------------------------------------------

/// One-to-many: `L = Σ_t ⟨R_t, s_t⟩` over a GRU fed one context at every step.
struct OneToMany {
    cell: Gru<f64>,
    context: GruInput<f64>,
    initial: rnn_core::cells::GruState<f64>,
    readout: Vec<rnn_core::cells::GruState<f64>>,
}

impl Objective for OneToMany {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.cell)
            .tensors(&self.context)
            .tensors(&self.initial);
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let trajectory = drivers::one_to_many(&self.cell, &self.initial, &self.context, self.readout.len())?;
        let grads = drivers::one_to_many_backward(&self.cell, &trajectory, &self.readout)?;
        let mut flat = Flat::default();
        flat.params(&grads.params)
            .tensors(&grads.context)
            .tensors(&grads.initial_state);
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut cell = self.cell.retype(S::of_f64);
        reader.params(&mut cell)?;
        let mut context: GruInput<S> = lift_tensors(&self.context);
        reader.tensors(&mut context)?;
        let mut initial: rnn_core::cells::GruState<S> = lift_tensors(&self.initial);
        reader.tensors(&mut initial)?;
        let states = seq::run(&cell, &initial, &vec![context; self.readout.len()])?;
        Ok(states
            .iter()
            .zip(&self.readout)
            .fold(S::zero(), |acc, (s, r)| acc + dot_tensors(s, &lift_tensors(r))))
    }
}

#[test]
fn one_to_many_gradients_are_exact() {
    let mut rng = SplitMix64::new(1);
    let (h, i, b, steps) = (3, 2, 2, 5);
    let cell = seeded(Gru::new(GruDims { H: h, I: i }).unwrap(), &mut rng);
    let objective = OneToMany {
        context: GruInput {
            x: random(&mut rng, i, b),
        },
        initial: rnn_core::cells::GruState {
            h: random(&mut rng, h, b),
        },
        readout: (0..steps)
            .map(|_| rnn_core::cells::GruState {
                h: random(&mut rng, h, b),
            })
            .collect(),
        cell,
    };
    assert_checks("one-to-many", &objective);
}

// ---------------------------------------------------------------------------------------------

/// Many-to-one: `L = ⟨G, h_T⟩` through `last_output_adjoint`.
struct ManyToOne {
    cell: Elman<f64>,
    inputs: Vec<ElmanInput<f64>>,
    initial: rnn_core::cells::ElmanState<f64>,
    g: DMatrix<f64>,
}

impl Objective for ManyToOne {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.cell);
        self.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.tensors(&self.initial);
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let trajectory = seq::unroll(&self.cell, &self.initial, &self.inputs)?;
        let d_states = drivers::last_output_adjoint(&self.cell, self.inputs.len(), &self.g)?;
        let grads = seq::bptt(&self.cell, &trajectory, &d_states)?;
        let mut flat = Flat::default();
        flat.params(&grads.params);
        grads.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.tensors(&grads.initial_state);
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut cell = self.cell.retype(S::of_f64);
        reader.params(&mut cell)?;
        let inputs: Vec<ElmanInput<S>> = read_lifted(&mut reader, &self.inputs)?;
        let mut initial: rnn_core::cells::ElmanState<S> = lift_tensors(&self.initial);
        reader.tensors(&mut initial)?;
        let states = seq::run(&cell, &initial, &inputs)?;
        Ok(dot(&states[states.len() - 1].h, &lift(&self.g)))
    }
}

#[test]
fn many_to_one_gradients_are_exact() {
    let mut rng = SplitMix64::new(2);
    let (h, i, b, steps) = (4, 2, 3, 6);
    let objective = ManyToOne {
        cell: seeded(Elman::new(ElmanDims { H: h, I: i }).unwrap(), &mut rng),
        inputs: (0..steps)
            .map(|_| ElmanInput {
                x: random(&mut rng, i, b),
            })
            .collect(),
        initial: rnn_core::cells::ElmanState {
            h: random(&mut rng, h, b),
        },
        g: random(&mut rng, h, b),
    };
    assert_checks("many-to-one", &objective);
}

// ---------------------------------------------------------------------------------------------

/// A decoder (LSTM + readout): `L = Σ_t ⟨G_t, y_t⟩ + ⟨R, s_T⟩`, variables: both models, the
/// initial state, the start and the targets.
struct DecoderObjective {
    decoder: Decoder<f64, Lstm<f64>>,
    initial: rnn_core::cells::LstmState<f64>,
    start: DMatrix<f64>,
    targets: Vec<DMatrix<f64>>,
    feed: Feed,
    g: Vec<DMatrix<f64>>,
    r: rnn_core::cells::LstmState<f64>,
}

impl Objective for DecoderObjective {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.decoder.cell)
            .params(&self.decoder.readout)
            .tensors(&self.initial)
            .matrix(&self.start);
        self.targets.iter().for_each(|t| {
            flat.matrix(t);
        });
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let run = self
            .decoder
            .forward(&self.initial, &self.start, &self.targets, self.feed)?;
        let grads = self.decoder.backward(&run, &self.g, &self.r)?;
        let mut flat = Flat::default();
        flat.params(&grads.cell)
            .params(&grads.readout)
            .tensors(&grads.initial_state)
            .matrix(&grads.start);
        grads.targets.iter().for_each(|t| {
            flat.matrix(t);
        });
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut decoder = Decoder {
            cell: self.decoder.cell.retype(S::of_f64),
            readout: retype_dense(&self.decoder.readout),
        };
        reader.params(&mut decoder.cell)?;
        reader.params(&mut decoder.readout)?;
        let mut initial: rnn_core::cells::LstmState<S> = lift_tensors(&self.initial);
        reader.tensors(&mut initial)?;
        let mut start = lift(&self.start);
        reader.matrix(&mut start)?;
        let mut targets: Vec<DMatrix<S>> = self.targets.iter().map(lift).collect();
        for t in &mut targets {
            reader.matrix(t)?;
        }
        let run = decoder.forward(&initial, &start, &targets, self.feed)?;
        let mut total = dot_tensors(&run.states()[run.states().len() - 1], &lift_tensors(&self.r));
        for (y, g) in run.outputs().iter().zip(&self.g) {
            total += dot(y, &lift(g));
        }
        Ok(total)
    }
}

fn decoder_objective(seed: u64, feed: Feed) -> DecoderObjective {
    let mut rng = SplitMix64::new(seed);
    let (h, i, b, steps) = (3, 2, 2, 6);
    let decoder = Decoder {
        cell: seeded(Lstm::new(LstmDims { H: h, I: i }).unwrap(), &mut rng),
        readout: dense(&mut rng, i, h),
    };
    DecoderObjective {
        decoder,
        initial: rnn_core::cells::LstmState {
            h: random(&mut rng, h, b),
            c: random(&mut rng, h, b),
        },
        start: random(&mut rng, i, b),
        targets: (0..steps).map(|_| random(&mut rng, i, b)).collect(),
        feed,
        g: (0..steps).map(|_| random(&mut rng, i, b)).collect(),
        r: rnn_core::cells::LstmState {
            h: random(&mut rng, h, b),
            c: random(&mut rng, h, b),
        },
    }
}

#[test]
fn teacher_forcing_gradients_are_exact() {
    assert_checks("teacher forcing", &decoder_objective(3, Feed::Teacher));
}

#[test]
fn free_running_gradients_are_exact() {
    assert_checks("free running", &decoder_objective(4, Feed::Free));
}

#[test]
fn scheduled_sampling_gradients_are_exact() {
    let feed = Feed::Scheduled {
        teacher_probability: 0.5,
        seed: 9,
    };
    let objective = decoder_objective(5, feed);
    let run = objective
        .decoder
        .forward(&objective.initial, &objective.start, &objective.targets, feed)
        .unwrap();
    // The draw mixes both kinds of steps, so both paths are under test.
    assert!(run.teacher_fed()[1..].contains(&true) && run.teacher_fed()[1..].contains(&false));
    assert_checks("scheduled sampling", &objective);
}

// ---------------------------------------------------------------------------------------------

/// Encoder (GRU, input 3) → decoder (GRU, input 2): `L = Σ_t ⟨G_t, y_t⟩`.
struct Seq2Seq {
    model: EncoderDecoder<f64, Gru<f64>, Gru<f64>>,
    initial: rnn_core::cells::GruState<f64>,
    inputs: Vec<GruInput<f64>>,
    start: DMatrix<f64>,
    targets: Vec<DMatrix<f64>>,
    feed: Feed,
    g: Vec<DMatrix<f64>>,
}

impl Objective for Seq2Seq {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.model.encoder)
            .params(&self.model.decoder.cell)
            .params(&self.model.decoder.readout)
            .tensors(&self.initial);
        self.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.matrix(&self.start);
        self.targets.iter().for_each(|t| {
            flat.matrix(t);
        });
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let run = self
            .model
            .forward(&self.initial, &self.inputs, &self.start, &self.targets, self.feed)?;
        let grads = self.model.backward(&run, &self.g)?;
        let mut flat = Flat::default();
        flat.params(&grads.encoder.params)
            .params(&grads.decoder.cell)
            .params(&grads.decoder.readout)
            .tensors(&grads.encoder.initial_state);
        grads.encoder.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.matrix(&grads.decoder.start);
        grads.decoder.targets.iter().for_each(|t| {
            flat.matrix(t);
        });
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut model = EncoderDecoder {
            encoder: self.model.encoder.retype(S::of_f64),
            decoder: Decoder {
                cell: self.model.decoder.cell.retype(S::of_f64),
                readout: retype_dense(&self.model.decoder.readout),
            },
        };
        reader.params(&mut model.encoder)?;
        reader.params(&mut model.decoder.cell)?;
        reader.params(&mut model.decoder.readout)?;
        let mut initial: rnn_core::cells::GruState<S> = lift_tensors(&self.initial);
        reader.tensors(&mut initial)?;
        let inputs: Vec<GruInput<S>> = read_lifted(&mut reader, &self.inputs)?;
        let mut start = lift(&self.start);
        reader.matrix(&mut start)?;
        let mut targets: Vec<DMatrix<S>> = self.targets.iter().map(lift).collect();
        for t in &mut targets {
            reader.matrix(t)?;
        }
        let run = model.forward(&initial, &inputs, &start, &targets, self.feed)?;
        Ok(run
            .decoder()
            .outputs()
            .iter()
            .zip(&self.g)
            .fold(S::zero(), |acc, (y, g)| acc + dot(y, &lift(g))))
    }
}

#[test]
fn encoder_decoder_gradients_are_exact() {
    for (seed, feed) in [
        (6, Feed::Teacher),
        (7, Feed::Free),
        (
            8,
            Feed::Scheduled {
                teacher_probability: 0.3,
                seed: 2,
            },
        ),
    ] {
        let mut rng = SplitMix64::new(seed);
        let (h, i_enc, i_dec, b, enc_steps, dec_steps) = (3, 3, 2, 2, 5, 4);
        let model = EncoderDecoder {
            encoder: seeded(Gru::new(GruDims { H: h, I: i_enc }).unwrap(), &mut rng),
            decoder: Decoder {
                cell: seeded(Gru::new(GruDims { H: h, I: i_dec }).unwrap(), &mut rng),
                readout: dense(&mut rng, i_dec, h),
            },
        };
        let objective = Seq2Seq {
            model,
            initial: rnn_core::cells::GruState {
                h: random(&mut rng, h, b),
            },
            inputs: (0..enc_steps)
                .map(|_| GruInput {
                    x: random(&mut rng, i_enc, b),
                })
                .collect(),
            start: random(&mut rng, i_dec, b),
            targets: (0..dec_steps).map(|_| random(&mut rng, i_dec, b)).collect(),
            feed,
            g: (0..dec_steps).map(|_| random(&mut rng, i_dec, b)).collect(),
        };
        assert_checks(&format!("encoder-decoder {feed:?}"), &objective);
    }
}

// ---------------------------------------------------------------------------------------------

/// Variable lengths (LSTM): `L = Σ_t ⟨G_t, output_t⟩ + ⟨R, final state⟩`; every input entry is
/// a variable, the padding included (its gradient must be exactly zero, as its influence is).
struct Lengths {
    cell: Lstm<f64>,
    initial: rnn_core::cells::LstmState<f64>,
    inputs: Vec<LstmInput<f64>>,
    lengths: Vec<usize>,
    g: Vec<DMatrix<f64>>,
    r: rnn_core::cells::LstmState<f64>,
}

impl Objective for Lengths {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.cell).tensors(&self.initial);
        self.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let trajectory = drivers::unroll_lengths(&self.cell, &self.initial, &self.inputs, &self.lengths)?;
        let d_states = drivers::output_adjoints(&self.cell, &self.g)?;
        let grads = drivers::bptt_lengths(&self.cell, &trajectory, &d_states, &self.r)?;
        let mut flat = Flat::default();
        flat.sequence(&grads);
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut cell = self.cell.retype(S::of_f64);
        reader.params(&mut cell)?;
        let mut initial: rnn_core::cells::LstmState<S> = lift_tensors(&self.initial);
        reader.tensors(&mut initial)?;
        let inputs: Vec<LstmInput<S>> = read_lifted(&mut reader, &self.inputs)?;
        let run = drivers::unroll_lengths(&cell, &initial, &inputs, &self.lengths)?;
        let mut total = dot_tensors(run.final_state(), &lift_tensors(&self.r));
        for (y, g) in run.outputs().iter().zip(&self.g) {
            total += dot(y, &lift(g));
        }
        Ok(total)
    }

    fn label(&self, k: usize) -> String {
        format!("variable {k} of {}", self.variables().len())
    }
}

#[test]
fn variable_length_gradients_are_exact_and_padding_gets_none() {
    let mut rng = SplitMix64::new(10);
    let (h, i, steps) = (3, 2, 6);
    let lengths = vec![4, 6, 0, 1, 6];
    let b = lengths.len();
    let objective = Lengths {
        cell: seeded(Lstm::new(LstmDims { H: h, I: i }).unwrap(), &mut rng),
        initial: rnn_core::cells::LstmState {
            h: random(&mut rng, h, b),
            c: random(&mut rng, h, b),
        },
        inputs: (0..steps)
            .map(|_| LstmInput {
                x: random(&mut rng, i, b),
            })
            .collect(),
        g: (0..steps).map(|_| random(&mut rng, h, b)).collect(),
        r: rnn_core::cells::LstmState {
            h: random(&mut rng, h, b),
            c: random(&mut rng, h, b),
        },
        lengths,
    };
    assert_checks("variable lengths", &objective);
    let gradient = objective.gradient().unwrap();
    let offset = objective.cell.param_count() + 2 * h * b;
    for t in 0..steps {
        for col in 0..b {
            for r in 0..i {
                let g = gradient[offset + t * i * b + col * i + r];
                if t >= objective.lengths[col] {
                    assert_eq!(g, 0.0, "padding input x[{r}, {col}] at step {}", t + 1);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// One TBPTT(k1, k2) window after parameter updates: `L = Σ_{new steps} ⟨R_j, s_j⟩` from the
/// window's constant first state; variables: the parameters, the window's inputs and its first
/// state (the state carried in, as a variable, to see its gradient too).
struct TruncatedWindow {
    cell: Gru<f64>,
    first: rnn_core::cells::GruState<f64>,
    inputs: Vec<GruInput<f64>>,
    rerun: usize,
    r: Vec<rnn_core::cells::GruState<f64>>,
}

impl Objective for TruncatedWindow {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.cell).tensors(&self.first);
        self.inputs.iter().for_each(|x| {
            flat.tensors(x);
        });
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        // A fresh pass whose window is exactly this one: k2 = window length, the re-run steps
        // fed as an earlier chunk.
        let k2 = self.inputs.len();
        let mut tbptt = TruncatedBptt::new(&self.cell, &self.first, k2)?;
        if self.rerun > 0 {
            tbptt.window(&self.cell, &self.inputs[..self.rerun])?;
        }
        let window = tbptt.window(&self.cell, &self.inputs[self.rerun..])?;
        assert_eq!(window.rerun(), self.rerun);
        let grads = window.backward(&self.cell, &self.r)?;
        let mut flat = Flat::default();
        flat.sequence(&grads);
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let mut cell = self.cell.retype(S::of_f64);
        reader.params(&mut cell)?;
        let mut first: rnn_core::cells::GruState<S> = lift_tensors(&self.first);
        reader.tensors(&mut first)?;
        let inputs: Vec<GruInput<S>> = read_lifted(&mut reader, &self.inputs)?;
        let states = seq::run(&cell, &first, &inputs)?;
        Ok(states[self.rerun..]
            .iter()
            .zip(&self.r)
            .fold(S::zero(), |acc, (s, r)| acc + dot_tensors(s, &lift_tensors(r))))
    }
}

#[test]
fn truncated_windows_after_updates_have_exact_gradients() {
    let mut rng = SplitMix64::new(11);
    let (h, i, b, steps, k1, k2) = (3, 2, 2, 14, 3, 5);
    let mut cell = seeded(Gru::new(GruDims { H: h, I: i }).unwrap(), &mut rng);
    let inputs: Vec<GruInput<f64>> = (0..steps)
        .map(|_| GruInput {
            x: random(&mut rng, i, b),
        })
        .collect();
    let mut tbptt = TruncatedBptt::new(&cell, &cell.zero_state(b), k2).unwrap();
    let mut optimizer = Sgd { learning_rate: 0.1 };
    let mut checked = 0;
    for chunk in inputs.chunks(k1) {
        let window = tbptt.window(&cell, chunk).unwrap();
        let r: Vec<_> = (0..window.new_steps())
            .map(|_| rnn_core::cells::GruState {
                h: random(&mut rng, h, b),
            })
            .collect();
        let start = window.first_step() - 1;
        let objective = TruncatedWindow {
            cell: cell.clone(),
            first: window.trajectory().states()[0].clone(),
            inputs: inputs[start..start + window.rerun() + window.new_steps()].to_vec(),
            rerun: window.rerun(),
            r: r.clone(),
        };
        // The driver's window gradient is the objective's gradient, bit for bit...
        let grads = window.backward(&cell, &r).unwrap();
        assert_eq!(
            objective.gradient().unwrap()[..cell.param_count()],
            grads.params.to_flat()[..]
        );
        // ...and that gradient is exact.
        if window.rerun() > 0 {
            assert_checks(
                &format!("TBPTT window at step {}", window.first_step()),
                &objective,
            );
            checked += 1;
        }
        optimizer.step(&mut cell, &grads.params).unwrap();
    }
    assert!(checked >= 3, "only {checked} windows with re-run steps");
}

// ---------------------------------------------------------------------------------------------

/// Different cells per layer: an LSTM layer under a bidirectional GRU layer,
/// `L = Σ_t ⟨G_t, output_t⟩ + Σ_k ⟨R_k, final_k⟩` (all four final states).
struct Mixed {
    lstm: Layer<f64, Lstm<f64>>,
    gru: Layer<f64, Gru<f64>>,
    xs: Vec<DMatrix<f64>>,
    lstm_initial: rnn_core::cells::LstmState<f64>,
    gru_initial: [rnn_core::cells::GruState<f64>; 2],
    g: Vec<DMatrix<f64>>,
    r_lstm: rnn_core::cells::LstmState<f64>,
    r_gru: [rnn_core::cells::GruState<f64>; 2],
}

impl Objective for Mixed {
    fn variables(&self) -> Vec<f64> {
        let mut flat = Flat::default();
        flat.params(&self.lstm.directions[0].cell)
            .params(&self.gru.directions[0].cell)
            .params(&self.gru.directions[1].cell)
            .tensors(&self.lstm_initial)
            .tensors(&self.gru_initial[0])
            .tensors(&self.gru_initial[1]);
        self.xs.iter().for_each(|x| {
            flat.matrix(x);
        });
        flat.0
    }
    fn gradient(&self) -> Result<Vec<f64>, Error> {
        let first = self
            .lstm
            .forward(&self.xs, std::slice::from_ref(&self.lstm_initial))?;
        let second = self.gru.forward(first.outputs(), &self.gru_initial)?;
        let g2 = self.gru.backward(&second, &self.g, &self.r_gru)?;
        let g1 = self
            .lstm
            .backward(&first, &g2.inputs, std::slice::from_ref(&self.r_lstm))?;
        let mut flat = Flat::default();
        flat.params(&g1.directions[0].params)
            .params(&g2.directions[0].params)
            .params(&g2.directions[1].params)
            .tensors(&g1.directions[0].initial_state)
            .tensors(&g2.directions[0].initial_state)
            .tensors(&g2.directions[1].initial_state);
        g1.inputs.iter().for_each(|x| {
            flat.matrix(x);
        });
        Ok(flat.0)
    }
    fn value<S: Scalar>(&self, x: &[S]) -> Result<S, Error> {
        let mut reader = FlatReader::new(x);
        let layer = |directions: &[Direction<f64, Gru<f64>>]| -> Result<Layer<S, Gru<S>>, Error> {
            Ok(Layer {
                directions: directions
                    .iter()
                    .map(|d| Direction::new(d.cell.retype(S::of_f64), d.reverse))
                    .collect(),
            })
        };
        let mut lstm = Layer {
            directions: vec![Direction::new(
                self.lstm.directions[0].cell.retype(S::of_f64),
                false,
            )],
        };
        let mut gru = layer(&self.gru.directions)?;
        reader.params(&mut lstm.directions[0].cell)?;
        reader.params(&mut gru.directions[0].cell)?;
        reader.params(&mut gru.directions[1].cell)?;
        let mut lstm_initial: rnn_core::cells::LstmState<S> = lift_tensors(&self.lstm_initial);
        reader.tensors(&mut lstm_initial)?;
        let mut gru_initial: Vec<rnn_core::cells::GruState<S>> =
            self.gru_initial.iter().map(lift_tensors).collect();
        for s in &mut gru_initial {
            reader.tensors(s)?;
        }
        let mut xs: Vec<DMatrix<S>> = self.xs.iter().map(lift).collect();
        for m in &mut xs {
            reader.matrix(m)?;
        }
        let first = lstm.forward(&xs, std::slice::from_ref(&lstm_initial))?;
        let second = gru.forward(first.outputs(), &gru_initial)?;
        let mut total = dot_tensors(first.finals().next().unwrap(), &lift_tensors(&self.r_lstm));
        for (f, r) in second.finals().zip(&self.r_gru) {
            total += dot_tensors(f, &lift_tensors(r));
        }
        for (y, g) in second.outputs().iter().zip(&self.g) {
            total += dot(y, &lift(g));
        }
        Ok(total)
    }
}

#[test]
fn layers_of_different_cells_compose_with_exact_gradients() {
    let mut rng = SplitMix64::new(12);
    let (i, h1, h2, b, steps) = (2, 3, 2, 2, 5);
    let lstm = Layer {
        directions: vec![Direction::new(
            seeded(Lstm::new(LstmDims { H: h1, I: i }).unwrap(), &mut rng),
            false,
        )],
    };
    let gru = Layer {
        directions: vec![
            Direction::new(
                seeded(Gru::new(GruDims { H: h2, I: h1 }).unwrap(), &mut rng),
                false,
            ),
            Direction::new(
                seeded(Gru::new(GruDims { H: h2, I: h1 }).unwrap(), &mut rng),
                true,
            ),
        ],
    };
    let lstm_state = |rng: &mut SplitMix64| rnn_core::cells::LstmState {
        h: random(rng, h1, b),
        c: random(rng, h1, b),
    };
    let gru_state = |rng: &mut SplitMix64| rnn_core::cells::GruState {
        h: random(rng, h2, b),
    };
    let objective = Mixed {
        lstm,
        gru,
        xs: (0..steps).map(|_| random(&mut rng, i, b)).collect(),
        lstm_initial: lstm_state(&mut rng),
        gru_initial: [gru_state(&mut rng), gru_state(&mut rng)],
        g: (0..steps).map(|_| random(&mut rng, 2 * h2, b)).collect(),
        r_lstm: lstm_state(&mut rng),
        r_gru: [gru_state(&mut rng), gru_state(&mut rng)],
    };
    assert_checks("LSTM layer under a bidirectional GRU layer", &objective);
}
