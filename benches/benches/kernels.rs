//! Forward and forward+backward of the Elman cell over a sequence.

use benches::random_matrix;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rnn_core::cells::{Elman, ElmanDims, ElmanInput, ElmanState};
use rnn_core::{Cell, seq};
use std::hint::black_box;

fn elman(c: &mut Criterion) {
    let (steps, batch, input, hidden) = (100, 1, 16, 32);
    let cell = Elman::<f64>::init(ElmanDims { H: hidden, I: input }, 1).expect("valid dims");
    let xs: Vec<ElmanInput<f64>> = (0..steps)
        .map(|t| ElmanInput {
            x: random_matrix(input, batch, t as u64),
        })
        .collect();
    let h0: ElmanState<f64> = cell.zero_state(batch);
    let flops = (steps * 2 * batch * hidden * (input + hidden)) as u64;
    let mut group = c.benchmark_group("elman");
    group.throughput(Throughput::Elements(flops));
    group.bench_function("fwd_f64/S1", |b| b.iter(|| seq::run(&cell, &h0, black_box(&xs))));
    group.throughput(Throughput::Elements(3 * flops));
    group.bench_function("fwd_bwd_f64/S1", |b| {
        b.iter(|| {
            let trajectory = seq::unroll(&cell, &h0, black_box(&xs)).expect("shapes checked");
            let mut d = vec![cell.zero_state(batch); steps];
            for dt in &mut d {
                dt.h.fill(1.0);
            }
            seq::bptt(&cell, &trajectory, &d)
        })
    });
    group.finish();
}

criterion_group!(benches, elman);
criterion_main!(benches);
