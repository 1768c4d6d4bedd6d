//! The time loop allocates nothing: counted with a global counting allocator (dhat's, which
//! behaves as the system allocator while no profiler runs). One test function, because the
//! counts are process-wide and tests run on parallel threads.
//!
//! * In-place steps (`Cell::step_into`, `Cell::step_backward_into`, `Cell::flush_grad`) at
//!   `B = 1, 8, 32`: zero allocations per step after the workspace, caches and states exist,
//!   for built-in cells and a user-declared one, f32 and f64, including flushes of deferred
//!   weight products (of 3 steps here).
//! * The drivers (`seq::run`, `seq::unroll`, `seq::bptt`): the only allocations that grow with
//!   `T` are what they return (states, caches, input gradients), allocated before the loop.
//!
//! Every product inside the loop goes through `rnn_core::gemm`, which packs its panels into
//! buffers on the stack (a blocked product that packs into the heap, as `matrixmultiply` does,
//! allocates inside each call).

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, Gru, GruDims, Lstm, LstmDims, PeepholeLstm, PeepholeLstmDims};
use rnn_core::{Cell, Saved, Scalar, Tensors, recurrent, seq};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

recurrent! {
    /// A user-declared cell touching the scalar, broadcast and concatenation paths: a trainable
    /// scalar gain, an unbatched bias under a batched sum, a stacked input to one product.
    cell Gained {
        input x[I];
        state h[H];
        param w[H, H + I], b[H], gain;
        hyper leak = 0.3;
        step {
            let a = tanh(w * [h; x] + b);
            h = (1 - leak) * h + leak * gain * a;
        }
    }
}

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn count(f: impl FnOnce()) -> u64 {
    let before = blocks();
    f();
    blocks() - before
}

fn inputs<T: Scalar, C: Cell<T>>(cell: &C, steps: usize, batch: usize) -> Vec<C::Input> {
    (0..steps)
        .map(|t| {
            C::Input::from_fn(|k| {
                DMatrix::from_fn(cell.input_rows(k), batch, |i, j| {
                    T::of_f64(((t * 7 + i + 3 * j) as f64 * 0.1).sin())
                })
            })
        })
        .collect()
}

/// Allocations of `steps` in-place forward steps (cached) then `steps` backward steps and the
/// final flush, at batch `batch`, after one warm-up step of each. The workspace defers the
/// weight products of 3 steps, so flushes happen inside the loop too.
fn in_place_loop<T: Scalar, C: Cell<T>>(cell: &C, steps: usize, batch: usize) -> u64 {
    let wide = C::Input::from_fn(|k| {
        let blocks: Vec<DMatrix<T>> = inputs(cell, steps, batch)
            .iter()
            .map(|x| x.get(k).cloned().unwrap())
            .collect();
        let refs: Vec<&DMatrix<T>> = blocks.iter().collect();
        DMatrix::from_columns(&refs.iter().flat_map(|m| m.column_iter()).collect::<Vec<_>>())
    });
    let projection = cell.project(&wide).unwrap();
    let mut states: Vec<C::State> = (0..=steps).map(|_| cell.zero_state(batch)).collect();
    let mut caches: Vec<C::Cache> = (0..steps).map(|_| cell.new_cache(batch)).collect();
    let mut workspace = cell.workspace(batch, 3);
    let mut grad = cell.zero_grad();
    let mut d_projection = C::Projection::from_fn(|k| DMatrix::zeros(cell.projection_rows(k), steps * batch));
    let mut carry = cell.zero_state(batch);
    let mut d_prev = cell.zero_state(batch);
    for k in 0..C::State::NAMES.len() {
        carry.get_mut(k).unwrap().fill(T::one());
    }
    let mut forward = |states: &mut Vec<C::State>, caches: &mut Vec<C::Cache>, t: usize| {
        let (done, rest) = states.split_at_mut(t + 1);
        cell.step_into(
            &projection,
            t * batch,
            &done[t],
            &mut rest[0],
            Some(&mut caches[t]),
            &mut workspace,
        )
        .unwrap();
    };
    // Warm-up: one step each way (lazy initialisations in the libraries below, if any).
    forward(&mut states, &mut caches, 0);
    let allocations = count(|| {
        for t in 0..steps {
            forward(&mut states, &mut caches, t);
        }
    });
    let mut backward = |t: usize, flush: bool| {
        let saved = Saved {
            state: &states[t],
            next: &states[t + 1],
            cache: &caches[t],
            column: t * batch,
        };
        cell.step_backward_into(
            saved,
            &carry,
            &mut d_prev,
            &mut d_projection,
            &mut grad,
            &mut workspace,
        )
        .unwrap();
        std::mem::swap(&mut carry, &mut d_prev);
        if flush {
            cell.flush_grad(&mut workspace, &mut grad).unwrap();
        }
    };
    backward(steps - 1, true);
    allocations
        + count(|| {
            for t in (0..steps).rev() {
                backward(t, t == 0);
            }
        })
}

/// Allocations per step of each driver beyond the first `short` steps, and the allocations
/// per step of what it returns.
fn driver_growth<C: Cell<f64>>(cell: &C) -> [(u64, u64); 3] {
    let (short, long) = (10, 30);
    let per_step = |f: &dyn Fn(usize) -> u64| (f(long) - f(short)) / (long - short) as u64;
    let initial = cell.zero_state(1);
    let run = per_step(&|steps| {
        let xs = inputs(cell, steps, 1);
        count(|| {
            seq::run(cell, &initial, &xs).unwrap();
        })
    });
    let unroll = per_step(&|steps| {
        let xs = inputs(cell, steps, 1);
        count(|| {
            seq::unroll(cell, &initial, &xs).unwrap();
        })
    });
    let bptt = per_step(&|steps| {
        let xs = inputs(cell, steps, 1);
        let trajectory = seq::unroll(cell, &initial, &xs).unwrap();
        let d: Vec<C::State> = (0..steps).map(|_| cell.zero_state(1)).collect();
        count(|| {
            seq::bptt(cell, &trajectory, &d).unwrap();
        })
    });
    // What each returns per step: a state; a state and a cache; an input gradient.
    let state = count(|| drop(cell.zero_state(1)));
    let cache = count(|| drop(cell.new_cache(1)));
    let input = count(|| drop(C::Input::from_fn(|k| DMatrix::zeros(cell.input_rows(k), 1))));
    [(run, state), (unroll, state + cache), (bptt, input)]
}

#[test]
fn the_time_loop_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let steps = 20;
    let elman = Elman::<f64>::init(ElmanDims { H: 16, I: 4 }, 1).unwrap();
    let lstm = Lstm::<f64>::init(LstmDims { H: 16, I: 4 }, 2).unwrap();
    let gru = Gru::<f64>::init(GruDims { H: 16, I: 4 }, 3).unwrap();
    let peephole = PeepholeLstm::<f64>::init(PeepholeLstmDims { H: 16, I: 4 }, 4).unwrap();
    let gained = Gained::<f64>::init(GainedDims { H: 16, I: 4 }, 5).unwrap();
    let f32_of = |x: f64| x as f32;
    // Batch 1 (matrix–vector steps) and batches whose products are blocked matrix products.
    for batch in [1, 8, 32] {
        let loops = [
            ("Elman f64", in_place_loop(&elman, steps, batch)),
            ("Lstm f64", in_place_loop(&lstm, steps, batch)),
            ("Gru f64", in_place_loop(&gru, steps, batch)),
            ("PeepholeLstm f64", in_place_loop(&peephole, steps, batch)),
            ("Gained f64", in_place_loop(&gained, steps, batch)),
            ("Elman f32", in_place_loop(&elman.retype(f32_of), steps, batch)),
            ("Lstm f32", in_place_loop(&lstm.retype(f32_of), steps, batch)),
            ("Gru f32", in_place_loop(&gru.retype(f32_of), steps, batch)),
            ("Gained f32", in_place_loop(&gained.retype(f32_of), steps, batch)),
        ];
        for (name, allocations) in loops {
            assert_eq!(
                allocations, 0,
                "{name}, batch {batch}: {allocations} allocations in {steps} forward and {steps} backward steps"
            );
        }
    }

    for (name, growth) in [
        ("Elman", driver_growth(&elman)),
        ("Lstm", driver_growth(&lstm)),
        ("Gru", driver_growth(&gru)),
        ("Gained", driver_growth(&gained)),
    ] {
        for ((driver, (measured, returned)), _) in ["run", "unroll", "bptt"].iter().zip(growth).zip(0..) {
            assert_eq!(
                measured, returned,
                "{name} {driver}: {measured} allocations per step, {returned} of them what it returns"
            );
        }
    }
    the_lstm_cache_holds_at_most_six_hidden_vectors();
}

/// Part of the one test (a second test would allocate on another thread while this one counts).
fn the_lstm_cache_holds_at_most_six_hidden_vectors() {
    // The backward step reads the old and new states from the trajectory; the cache adds the
    // four gates and tanh(c): 5·H·B numbers.
    let lstm = Lstm::<f64>::new(LstmDims { H: 32, I: 16 }).unwrap();
    for batch in [1, 4, 64] {
        assert_eq!(lstm.cache_len(batch), 5 * 32 * batch);
    }
    let gru = Gru::<f64>::new(GruDims { H: 32, I: 16 }).unwrap();
    let elman = Elman::<f64>::new(ElmanDims { H: 32, I: 16 }).unwrap();
    assert_eq!(
        elman.cache_len(1),
        0,
        "Elman's backward reads h_t from the new state"
    );
    // r, z, 1 − z, n and W_hn h + b_hn.
    assert_eq!(gru.cache_len(1), 5 * 32);
}
