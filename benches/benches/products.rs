//! The products of one step, through `rnn_core::gemm` (the path the generated kernels take)
//! against nalgebra's (`matrixmultiply` for the blocked sizes): `W h` (`nn`) and `Wᵀ δ` (`tn`)
//! with the LSTM's `W_hh` (`4H × H`) at each shape's hidden size and batch, and the square 512
//! product. Ids `products/<path>_<op>_<dtype>/<shape>`; throughput in FLOPs (`2·m·k·n`).

use benches::SHAPES;
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use nalgebra::DMatrix;
use rnn_core::gemm::{Mat, MatMut, gemm, gemm_tn};
use rnn_core::{Scalar, SplitMix64};
use std::hint::black_box;
use std::time::Duration;

fn random<T: Scalar>(rng: &mut SplitMix64, rows: usize, cols: usize) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |_, _| T::of_f64(rng.uniform(-1.0, 1.0)))
}

/// `m × k` times `k × n` both ways, through both paths.
fn bench_shape<T: Scalar>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    dtype: &str,
    name: &str,
    (m, k, n): (usize, usize, usize),
) {
    let mut rng = SplitMix64::new(5);
    let (w, x, dy) = (
        random::<T>(&mut rng, m, k),
        random::<T>(&mut rng, k, n),
        random::<T>(&mut rng, m, n),
    );
    let mut out = DMatrix::<T>::zeros(m, n);
    let mut out_t = DMatrix::<T>::zeros(k, n);
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    group.bench_function(format!("rnn_nn_{dtype}/{name}"), |b| {
        b.iter(|| {
            gemm(
                MatMut::col_major(out.as_mut_slice(), m, n).expect("shape"),
                Mat::col_major(black_box(w.as_slice()), m, k).expect("shape"),
                Mat::col_major(black_box(x.as_slice()), k, n).expect("shape"),
                false,
            )
            .expect("shapes match")
        })
    });
    group.bench_function(format!("nalgebra_nn_{dtype}/{name}"), |b| {
        b.iter(|| out.gemm(T::one(), black_box(&w), black_box(&x), T::zero()))
    });
    group.bench_function(format!("rnn_tn_{dtype}/{name}"), |b| {
        b.iter(|| {
            gemm_tn(
                MatMut::col_major(out_t.as_mut_slice(), k, n).expect("shape"),
                Mat::col_major(black_box(w.as_slice()), m, k).expect("shape"),
                Mat::col_major(black_box(dy.as_slice()), m, n).expect("shape"),
                false,
            )
            .expect("shapes match")
        })
    });
    group.bench_function(format!("nalgebra_tn_{dtype}/{name}"), |b| {
        b.iter(|| out_t.gemm_tr(T::one(), black_box(&w), black_box(&dy), T::zero()))
    });
}

fn products(c: &mut Criterion) {
    let mut group = c.benchmark_group("products");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for shape in SHAPES {
        let dims = (4 * shape.hidden, shape.hidden, shape.batch);
        bench_shape::<f32>(&mut group, "f32", shape.name, dims);
        bench_shape::<f64>(&mut group, "f64", shape.name, dims);
    }
    bench_shape::<f32>(&mut group, "f32", "512", (512, 512, 512));
    bench_shape::<f64>(&mut group, "f64", "512", (512, 512, 512));
    group.finish();
}

criterion_group!(benches, products);
criterion_main!(benches);
