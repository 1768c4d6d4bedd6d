//! Criterion benchmarks of the generated kernels (issue: performance).
//!
//! `cargo bench -p benches` runs, for `elman`, `lstm` and `gru` at the shapes
//! S1 (T=100 B=1 I=16 H=32), S2 (T=100 B=1 I=64 H=128), S3 (T=50 B=32 I=128 H=256) and
//! S4 (T=20 B=64 I=512 H=512), in f32 and f64:
//!
//! * `fwd`: inference over the sequence, no cache (`seq::run`);
//! * `fwd_bwd`: forward keeping the caches (`seq::unroll`), then BPTT of `sum(outputs)` into
//!   every parameter (`seq::bptt`).
//!
//! Benchmark ids are `<cell>/<mode>_<dtype>/<shape>` (group `lstm`, id `fwd_bwd_f32/S1`).
//! Throughput is in nominal FLOPs, reported by criterion as "elements/s": forward
//! `T·2·B·G·H·(I+H)` with `G` = 1, 4, 3 for Elman, LSTM, GRU; forward+backward 3× forward (the
//! convention of `benches/peers/`). Also:
//!
//! * `gemm/f32/512`, `gemm/f64/512`: a square 512 product through nalgebra's `*`
//!   (`matrixmultiply`: the input projection's path), `2n³` FLOPs: the machine's rate, to read
//!   every figure as a fraction of it; `gemm/rnn_f32/512`, `gemm/rnn_f64/512`: the same product
//!   through `rnn_core::gemm`, the allocation-free path of every product inside the time loop;
//! * `custom_lstm/...`: an LSTM declared with `recurrent!` here, outside `rnn-core`, at S1 (no
//!   penalty expected for declaring your own cell);
//! * `lstm/fwd_dual64/S1`, `lstm/fwd_bwd_dual64/S1`: the dual-number path (the cost of the P3
//!   verification), forward-mode `Dual64` through the same generated code.

use benches::{SHAPES, Shape, forward_flops};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use nalgebra::DMatrix;
use num_dual::Dual64;
use rnn_core::cells::{Elman, ElmanDims, Gru, GruDims, Lstm, LstmDims};
use rnn_core::gemm::{Mat, MatMut};
use rnn_core::{Cell, Scalar, SplitMix64, Tensors, drivers, recurrent, seq};
use std::hint::black_box;
use std::time::Duration;

recurrent! {
    /// The LSTM of `rnn_core::cells::Lstm`, declared by a user.
    pub cell CustomLstm {
        input x[I];
        state h[H], c[H];
        output h;
        param w_ih[4 * H, I], w_hh[4 * H, H], b_ih[4 * H], b_hh[4 * H];
        step {
            let [i_x, f_x, g_x, o_x] = split(w_ih * x + b_ih);
            let [i_h, f_h, g_h, o_h] = split(w_hh * h + b_hh);
            let i = sigmoid(i_x + i_h);
            let f = sigmoid(f_x + f_h);
            let g = tanh(g_x + g_h);
            let o = sigmoid(o_x + o_h);
            c = f * c + i * g;
            h = o * tanh(c);
        }
    }
}

fn random<T: Scalar>(rng: &mut SplitMix64, rows: usize, cols: usize) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |_, _| T::of_f64(rng.uniform(-1.0, 1.0)))
}

/// Sizes the measurement so the largest shapes finish in reasonable time.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, shape: Shape) {
    if shape.batch > 1 {
        // Flat sampling: ten samples of equal iteration counts (linear sampling would need
        // 55 iterations of a multi-second S4 case).
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(8));
    } else {
        group.sampling_mode(SamplingMode::Auto);
        group.sample_size(30);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
    }
}

/// `fwd_<dtype>/<shape>` and `fwd_bwd_<dtype>/<shape>` of `cell`.
fn bench_cell<T: Scalar, C: Cell<T>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    dtype: &str,
    shape: Shape,
    gates: usize,
    cell: &C,
) {
    let mut rng = SplitMix64::new(7);
    let xs: Vec<C::Input> = (0..shape.steps)
        .map(|_| C::Input::from_fn(|k| random(&mut rng, cell.input_rows(k), shape.batch)))
        .collect();
    let initial = cell.zero_state(shape.batch);
    let ones = vec![DMatrix::from_element(cell.state_rows(C::OUTPUT), shape.batch, T::one()); shape.steps];
    let d_states = drivers::output_adjoints(cell, &ones).expect("shapes match");
    let flops = forward_flops(shape, gates);
    configure(group, shape);
    group.throughput(Throughput::Elements(flops));
    group.bench_function(format!("fwd_{dtype}/{}", shape.name), |b| {
        b.iter(|| seq::run(cell, &initial, black_box(&xs)).expect("shapes match"))
    });
    group.throughput(Throughput::Elements(3 * flops));
    group.bench_function(format!("fwd_bwd_{dtype}/{}", shape.name), |b| {
        b.iter(|| {
            let trajectory = seq::unroll(cell, &initial, black_box(&xs)).expect("shapes match");
            seq::bptt(cell, &trajectory, &d_states).expect("shapes match")
        })
    });
}

fn cells(c: &mut Criterion) {
    for shape in SHAPES {
        let (h, i) = (shape.hidden, shape.input);
        let mut group = c.benchmark_group("elman");
        bench_cell(
            &mut group,
            "f32",
            shape,
            1,
            &Elman::<f32>::init(ElmanDims { H: h, I: i }, 1).expect("dims"),
        );
        bench_cell(
            &mut group,
            "f64",
            shape,
            1,
            &Elman::<f64>::init(ElmanDims { H: h, I: i }, 1).expect("dims"),
        );
        group.finish();
        let mut group = c.benchmark_group("lstm");
        bench_cell(
            &mut group,
            "f32",
            shape,
            4,
            &Lstm::<f32>::init(LstmDims { H: h, I: i }, 1).expect("dims"),
        );
        bench_cell(
            &mut group,
            "f64",
            shape,
            4,
            &Lstm::<f64>::init(LstmDims { H: h, I: i }, 1).expect("dims"),
        );
        group.finish();
        let mut group = c.benchmark_group("gru");
        bench_cell(
            &mut group,
            "f32",
            shape,
            3,
            &Gru::<f32>::init(GruDims { H: h, I: i }, 1).expect("dims"),
        );
        bench_cell(
            &mut group,
            "f64",
            shape,
            3,
            &Gru::<f64>::init(GruDims { H: h, I: i }, 1).expect("dims"),
        );
        group.finish();
    }
}

fn custom_and_dual(c: &mut Criterion) {
    let s1 = SHAPES[0];
    let dims = CustomLstmDims {
        H: s1.hidden,
        I: s1.input,
    };
    let mut group = c.benchmark_group("custom_lstm");
    bench_cell(
        &mut group,
        "f32",
        s1,
        4,
        &CustomLstm::<f32>::init(dims, 1).expect("dims"),
    );
    bench_cell(
        &mut group,
        "f64",
        s1,
        4,
        &CustomLstm::<f64>::init(dims, 1).expect("dims"),
    );
    group.finish();
    let mut group = c.benchmark_group("lstm");
    let lstm = Lstm::<f64>::init(
        LstmDims {
            H: s1.hidden,
            I: s1.input,
        },
        1,
    )
    .expect("dims");
    bench_cell(&mut group, "dual64", s1, 4, &lstm.retype(Dual64::from_re));
    group.finish();
}

fn gemm(c: &mut Criterion) {
    let n = 512;
    let mut rng = SplitMix64::new(3);
    let mut group = c.benchmark_group("gemm");
    group.sample_size(30);
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    let (a, b): (DMatrix<f32>, DMatrix<f32>) = (random(&mut rng, n, n), random(&mut rng, n, n));
    group.bench_function("f32/512", |bench| bench.iter(|| black_box(&a) * black_box(&b)));
    let (a, b): (DMatrix<f64>, DMatrix<f64>) = (random(&mut rng, n, n), random(&mut rng, n, n));
    group.bench_function("f64/512", |bench| bench.iter(|| black_box(&a) * black_box(&b)));
    // The same products through `rnn_core::gemm`, the path of every product inside the time
    // loop (nalgebra's takes the input projection, once per sequence).
    bench_own_gemm::<f32>(&mut group, "rnn_f32/512", n, &mut rng);
    bench_own_gemm::<f64>(&mut group, "rnn_f64/512", n, &mut rng);
    group.finish();
}

fn bench_own_gemm<T: Scalar>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    n: usize,
    rng: &mut SplitMix64,
) {
    let (a, b): (DMatrix<T>, DMatrix<T>) = (random(rng, n, n), random(rng, n, n));
    let mut c = DMatrix::<T>::zeros(n, n);
    group.bench_function(id, |bench| {
        bench.iter(|| {
            rnn_core::gemm::gemm(
                MatMut::col_major(c.as_mut_slice(), n, n).expect("n × n"),
                Mat::col_major(black_box(a.as_slice()), n, n).expect("n × n"),
                Mat::col_major(black_box(b.as_slice()), n, n).expect("n × n"),
                false,
            )
            .expect("shapes match")
        })
    });
}

criterion_group!(benches, gemm, cells, custom_and_dual);
criterion_main!(benches);
