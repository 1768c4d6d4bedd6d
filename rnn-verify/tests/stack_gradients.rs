//! docs/THEORY.md P2 and P3 for the stacked, bidirectional driver (two layers, both directions,
//! LSTM cells): gradients of `L = Σ_t ⟨G_t, output_t⟩ + Σ_k ⟨R_k, final_k⟩` with respect to every
//! parameter of every direction, every input entry and every initial state.

use nalgebra::DMatrix;
use num_dual::Dual64;
use rnn_core::cells::{Lstm, LstmDims};
use rnn_core::layers::{Direction, Layer, Stack};
use rnn_core::{Cell, ParamSet, Scalar, SplitMix64, Tensors};

struct Setup<T: Scalar, C: Cell<T>> {
    stack: Stack<T, C>,
    xs: Vec<DMatrix<T>>,
    initial: Vec<C::State>,
    g: Vec<DMatrix<T>>,
    r: Vec<C::State>,
}

fn loss<T: Scalar, C: Cell<T>>(s: &Setup<T, C>) -> T {
    let run = s.stack.forward(&s.xs, &s.initial).unwrap();
    let dot = |a: &DMatrix<T>, b: &DMatrix<T>| {
        a.iter()
            .zip(b.iter())
            .fold(T::zero(), |acc, (&x, &y)| acc + x * y)
    };
    let mut total = T::zero();
    for (o, g) in run.outputs().iter().zip(&s.g) {
        total += dot(o, g);
    }
    for (f, r) in run.finals().zip(&s.r) {
        for (a, b) in f.iter().zip(r.iter()) {
            total += dot(a, b);
        }
    }
    total
}

/// Applies `f(index, value)` to every variable: parameters (direction by direction), inputs,
/// initial states.
fn visit<T: Scalar, C: Cell<T>>(s: &mut Setup<T, C>, mut f: impl FnMut(usize, &mut T)) {
    let mut index = 0;
    for layer in &mut s.stack.layers {
        for d in &mut layer.directions {
            d.cell.visit_mut(|_, _, data| {
                data.iter_mut().for_each(|v| {
                    f(index, v);
                    index += 1;
                })
            });
        }
    }
    for m in s.xs.iter_mut() {
        m.iter_mut().for_each(|v| {
            f(index, v);
            index += 1;
        });
    }
    for state in s.initial.iter_mut() {
        for k in 0..C::State::NAMES.len() {
            if let Some(m) = state.get_mut(k) {
                m.iter_mut().for_each(|v| {
                    f(index, v);
                    index += 1;
                });
            }
        }
    }
}

fn setup(seed: u64) -> Setup<f64, Lstm<f64>> {
    let (h, i, batch, steps) = (3, 2, 2, 5);
    let mut rng = SplitMix64::new(seed);
    let mut cell = |input: usize| {
        let mut c = Lstm::<f64>::new(LstmDims { H: h, I: input }).unwrap();
        c.visit_mut(|_, _, data| data.iter_mut().for_each(|v| *v = rng.uniform(-0.5, 0.5)));
        c
    };
    let stack = Stack {
        layers: vec![
            Layer {
                directions: vec![Direction::new(cell(i), false), Direction::new(cell(i), true)],
            },
            Layer {
                directions: vec![
                    Direction::new(cell(2 * h), false),
                    Direction::new(cell(2 * h), true),
                ],
            },
        ],
    };
    let mut random = |rows: usize| DMatrix::from_fn(rows, batch, |_, _| rng.uniform(-1.0, 1.0));
    let xs = (0..steps).map(|_| random(i)).collect();
    let initial = (0..4)
        .map(|_| rnn_core::cells::LstmState {
            h: random(h),
            c: random(h),
        })
        .collect();
    let g = (0..steps).map(|_| random(2 * h)).collect();
    let r = (0..4)
        .map(|_| rnn_core::cells::LstmState {
            h: random(h),
            c: random(h),
        })
        .collect();
    Setup {
        stack,
        xs,
        initial,
        g,
        r,
    }
}

fn gradient(s: &Setup<f64, Lstm<f64>>) -> Vec<f64> {
    let run = s.stack.forward(&s.xs, &s.initial).unwrap();
    let grads = s.stack.backward(&run, &s.g, &s.r).unwrap();
    let mut flat: Vec<f64> = grads.directions.iter().flat_map(|d| d.params.to_flat()).collect();
    flat.extend(grads.inputs.iter().flat_map(|m| m.iter().copied()));
    for d in &grads.directions {
        flat.extend(d.initial_state.iter().flat_map(|m| m.iter().copied()));
    }
    flat
}

fn retype(s: &Setup<f64, Lstm<f64>>) -> Setup<Dual64, Lstm<Dual64>> {
    let lift = |m: &DMatrix<f64>| m.map(Dual64::from_re);
    let state = |st: &rnn_core::cells::LstmState<f64>| rnn_core::cells::LstmState {
        h: lift(&st.h),
        c: lift(&st.c),
    };
    Setup {
        stack: Stack {
            layers: s
                .stack
                .layers
                .iter()
                .map(|l| Layer {
                    directions: l
                        .directions
                        .iter()
                        .map(|d| Direction::new(d.cell.retype(Dual64::from_re), d.reverse))
                        .collect(),
                })
                .collect(),
        },
        xs: s.xs.iter().map(lift).collect(),
        initial: s.initial.iter().map(state).collect(),
        g: s.g.iter().map(lift).collect(),
        r: s.r.iter().map(state).collect(),
    }
}

#[test]
fn stack_gradients_match_finite_differences_and_dual_numbers() {
    for seed in [1, 2, 3] {
        let base = setup(seed);
        let g = gradient(&base);
        let scale = g.iter().fold(1.0_f64, |m, x| m.max(x.abs()));
        let dual_base = retype(&base);
        let mut count = 0;
        for k in 0..g.len() {
            // P3: exact forward mode.
            let mut dual = Setup {
                stack: dual_base.stack.clone(),
                xs: dual_base.xs.clone(),
                initial: dual_base.initial.clone(),
                g: dual_base.g.clone(),
                r: dual_base.r.clone(),
            };
            visit(&mut dual, |i, v| {
                if i == k {
                    v.eps = 1.0
                }
            });
            let d = loss(&dual).eps;
            assert!(
                (g[k] - d).abs() <= 1e-11 * g[k].abs().max(d.abs()) + 1e-12 * scale,
                "variable {k}: bptt {:e}, dual {d:e}",
                g[k]
            );
            // P2: central differences.
            let mut value = 0.0;
            let mut probe = setup(seed);
            visit(&mut probe, |i, v| {
                if i == k {
                    value = *v
                }
            });
            let eps = 1e-6 * value.abs().max(1.0);
            let at = |x: f64| {
                let mut p = setup(seed);
                visit(&mut p, |i, v| {
                    if i == k {
                        *v = x
                    }
                });
                loss(&p)
            };
            let fd = (at(value + eps) - at(value - eps)) / ((value + eps) - (value - eps));
            assert!(
                (g[k] - fd).abs() <= 1e-5 * g[k].abs().max(fd.abs()) + 1e-7 * scale,
                "variable {k}: bptt {:e}, fd {fd:e}",
                g[k]
            );
            count += 1;
        }
        assert!(count > 400, "only {count} variables");
    }
}
