//! Optimizers and initialisation.

use nalgebra::DMatrix;
use rnn_core::clip::Flat;
use rnn_core::init::{orthogonal, xavier_uniform};
use rnn_core::optim::{Adam, Momentum, Optimizer, Sgd};
use rnn_core::{Error, SplitMix64};

#[test]
fn sgd_and_momentum_steps_are_exact() {
    let mut theta = Flat(vec![1.0, -2.0, 0.5]);
    Sgd { learning_rate: 0.25 }
        .step(&mut theta, &Flat(vec![4.0, 2.0, -2.0]))
        .unwrap();
    assert_eq!(theta.0, [0.0, -2.5, 1.0]);

    let mut theta = Flat(vec![1.0, 1.0]);
    let mut opt = Momentum::new(0.5, 0.5);
    opt.step(&mut theta, &Flat(vec![1.0, -2.0])).unwrap(); // b = g
    assert_eq!(theta.0, [0.5, 2.0]);
    opt.step(&mut theta, &Flat(vec![2.0, 2.0])).unwrap(); // b = 0.5 b + g = (2.5, 1)
    assert_eq!(theta.0, [0.5 - 1.25, 2.0 - 0.5]);
}

#[test]
fn adam_follows_the_bias_corrected_rule() {
    let mut theta = Flat(vec![0.0, 0.0]);
    let mut opt = Adam::new(0.125);
    opt.beta1 = 0.5;
    opt.beta2 = 0.75;
    // ε has a floor (1.5e-154 in f64); 1e-150 vanishes in √v̂ + ε here (√v̂ ≥ 1), so the
    // values are exact.
    opt.epsilon = 1e-150;
    // Step 1: m̂ = g, v̂ = g², the update is η sign(g).
    opt.step(&mut theta, &Flat(vec![2.0, -4.0])).unwrap();
    assert_eq!(theta.0, [-0.125, 0.125]);
    // Step 2 with g = (2, 4): m = 0.5 m + 0.5 g = (1.5, 1), v = 0.75 v + 0.25 g² = (1.75, 7)
    // (after step 1, m = (1, −2), v = (1, 4)); m̂ = m / (1 − 0.5²), v̂ = v / (1 − 0.75²).
    opt.step(&mut theta, &Flat(vec![2.0, 4.0])).unwrap();
    let (c1, c2) = (1.0 - 0.25, 1.0 - 0.5625);
    assert_eq!(theta.0[0], -0.125 - 0.125 * (1.5 / c1) / (1.75_f64 / c2).sqrt());
    assert_eq!(theta.0[1], 0.125 - 0.125 * (1.0 / c1) / (7.0_f64 / c2).sqrt());
    assert_eq!(theta.0[0], -0.25, "v̂ = 4, m̂ = 2: a step of exactly η");
}

#[test]
fn adam_minimises_a_quadratic() {
    let target = [3.0_f64, -1.0, 0.25];
    let mut theta = Flat(vec![0.0; 3]);
    let mut opt = Adam::new(0.05);
    for _ in 0..2000 {
        let grad = Flat(theta.0.iter().zip(&target).map(|(t, c)| 2.0 * (t - c)).collect());
        opt.step(&mut theta, &grad).unwrap();
    }
    for (t, c) in theta.0.iter().zip(&target) {
        assert!((t - c).abs() < 1e-3, "{t} vs {c}");
    }
}

#[test]
fn restored_state_continues_bit_for_bit() {
    let grads: Vec<Flat<f64>> = (0..6)
        .map(|k| Flat(vec![(k as f64).sin(), (k as f64 * 0.7).cos()]))
        .collect();
    let mut straight = (Flat(vec![0.3, -0.2]), Adam::new(0.01));
    for g in &grads {
        straight.1.step(&mut straight.0, g).unwrap();
    }
    let mut first = (Flat(vec![0.3, -0.2]), Adam::new(0.01));
    for g in &grads[..3] {
        first.1.step(&mut first.0, g).unwrap();
    }
    let (params, state) = (first.0.clone(), first.1.state());
    let mut resumed = (params, Adam::new(0.01));
    resumed.1.set_state(&state).unwrap();
    for g in &grads[3..] {
        resumed.1.step(&mut resumed.0, g).unwrap();
    }
    let bits = |f: &Flat<f64>| f.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.0), bits(&straight.0));
}

#[test]
fn mismatched_gradients_are_errors() {
    let mut theta = Flat(vec![0.0; 3]);
    let err = Adam::new(0.1).step(&mut theta, &Flat(vec![1.0; 2])).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::TensorShape { expected, found, .. } if expected == &[3] && found == &[2]
        ),
        "{err:?}"
    );
    assert!(
        Sgd { learning_rate: 0.1 }
            .step(&mut theta, &Flat(vec![1.0; 4]))
            .is_err()
    );
    assert!(Adam::<f64>::new(0.1).set_state(&[1.0, 2.0]).is_err());
}

#[test]
fn orthogonal_initialisation_has_the_chosen_radius() {
    let mut rng = SplitMix64::new(9);
    for (n, radius) in [(1, 0.9), (5, 1.0), (16, 1.5)] {
        let w: DMatrix<f64> = orthogonal(&mut rng, n, radius).unwrap();
        let gram = w.transpose() * &w;
        let u = f64::EPSILON / 2.0;
        assert!(
            (gram - DMatrix::identity(n, n) * radius * radius).abs().max()
                <= 20.0 * n as f64 * u * radius * radius
        );
        for z in w.complex_eigenvalues().iter() {
            assert!(
                (z.norm() - radius).abs() <= 1e-12 * radius,
                "|λ| = {} for radius {radius}",
                z.norm()
            );
        }
        assert!((w.singular_values().max() - radius).abs() <= 1e-12 * radius);
    }
    let x: DMatrix<f64> = xavier_uniform(&mut SplitMix64::new(1), 20, 30).unwrap();
    let bound = (6.0_f64 / 50.0).sqrt();
    assert!(x.iter().all(|v| v.abs() <= bound) && x.abs().max() > 0.8 * bound);
    assert_eq!(x, xavier_uniform(&mut SplitMix64::new(1), 20, 30).unwrap());
}

#[test]
fn a_pair_of_parameter_sets_is_clipped_by_one_global_norm() {
    use rnn_core::ParamSet;
    use rnn_core::clip::{clip_global_norm, global_norm};
    let mut pair = (Flat(vec![3.0, 0.0]), Flat(vec![0.0, 4.0, 0.0]));
    assert_eq!(pair.param_count(), 5);
    assert_eq!(pair.to_flat(), vec![3.0, 0.0, 0.0, 4.0, 0.0]);
    assert_eq!(global_norm(&pair), 5.0);
    // Clipped together: both halves divided by the same norm 5 (then times τ = 1), not each
    // to norm 1.
    assert_eq!(clip_global_norm(&mut pair, 1.0).unwrap(), 5.0);
    assert_eq!(pair.0.0, vec![3.0 / 5.0, 0.0]);
    assert_eq!(pair.1.0, vec![0.0, 4.0 / 5.0, 0.0]);
}
