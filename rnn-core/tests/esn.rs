//! Echo state networks: the reservoir has the spectral radius asked for, the ridge readout
//! satisfies its normal equations, and misuse is a typed error.

use nalgebra::{DMatrix, DVector};
use rnn_core::esn::{EchoStateNetwork, EsnConfig, ridge_regression, spectral_radius};
use rnn_core::{Error, SplitMix64};

#[test]
fn reservoir_is_scaled_to_the_requested_spectral_radius() {
    for (size, radius, density, seed) in [(50, 0.9, 0.2, 1), (120, 1.25, 0.05, 2), (7, 0.5, 1.0, 3)] {
        let config = EsnConfig {
            reservoir_size: size,
            spectral_radius: radius,
            density,
            seed,
            ..EsnConfig::default()
        };
        let esn = EchoStateNetwork::new(2, 1, config).unwrap();
        let measured = spectral_radius(&esn.reservoir.w).unwrap();
        // The eigenvalues of a scaled matrix are scaled: the radius is exact up to the Schur
        // form's backward error (a few ulps of ‖W‖ times the size).
        assert!(
            (measured - radius).abs() <= 1e-12 * size as f64,
            "N = {size}: radius {measured}, asked {radius}"
        );
        let nonzero = esn.reservoir.w.iter().filter(|&&x| x != 0.0).count() as f64 / (size * size) as f64;
        assert!(
            (nonzero - density).abs() < 0.05 + 1.0 / size as f64,
            "density {nonzero}"
        );
    }
    // A rotation by θ scaled by r has eigenvalues r e^{±iθ}: radius r though no entry is r.
    let (r, theta) = (0.7_f64, 1.1_f64);
    let rotation = DMatrix::from_row_slice(
        2,
        2,
        &[
            r * theta.cos(),
            -r * theta.sin(),
            r * theta.sin(),
            r * theta.cos(),
        ],
    );
    assert!((spectral_radius(&rotation).unwrap() - r).abs() < 1e-15);
}

#[test]
fn ridge_readout_solves_its_normal_equations() {
    let mut rng = SplitMix64::new(4);
    let (features, outputs, samples, beta) = (6, 2, 40, 0.3);
    let x = DMatrix::from_fn(features, samples, |_, _| rng.uniform(-1.0, 1.0));
    let y = DMatrix::from_fn(outputs, samples, |_, _| rng.uniform(-1.0, 1.0));
    let fit = ridge_regression(&x, &y, beta).unwrap();
    // Stationarity of ‖Y − W X − b 1ᵀ‖² + β‖W‖²: (W X + b 1ᵀ − Y) Xᵀ + β W = 0 and
    // (W X + b 1ᵀ − Y) 1 = 0.
    let residual = fit.forward(&x).unwrap() - &y;
    let d_w = &residual * x.transpose() + &fit.w * beta;
    let d_b: DVector<f64> = residual.column_sum();
    let scale = y.norm() * x.norm();
    assert!(d_w.amax() <= 1e-13 * scale, "∂/∂W = {d_w}");
    assert!(d_b.amax() <= 1e-13 * y.norm() * samples as f64, "∂/∂b = {d_b}");
    // Exact linear data and a tiny β: the map is recovered.
    let w_true = DMatrix::from_fn(outputs, features, |i, j| (i + 2 * j) as f64 * 0.1 - 0.4);
    let b_true = DVector::from_vec(vec![0.25, -1.5]);
    let mut y_exact = &w_true * &x;
    for mut column in y_exact.column_iter_mut() {
        column += &b_true;
    }
    let recovered = ridge_regression(&x, &y_exact, 1e-12).unwrap();
    assert!((&recovered.w - &w_true).amax() < 1e-9, "{}", recovered.w);
    assert!((&recovered.b - &b_true).amax() < 1e-9, "{}", recovered.b);
}

#[test]
fn a_fitted_network_learns_a_delay_and_forgets_its_initial_state() {
    let mut rng = SplitMix64::new(5);
    let u: Vec<f64> = (0..800).map(|_| rng.uniform(-0.5, 0.5)).collect();
    let inputs: Vec<DMatrix<f64>> = u.iter().map(|&v| DMatrix::from_element(1, 1, v)).collect();
    let delayed = |d: usize| -> Vec<DMatrix<f64>> {
        (0..u.len())
            .map(|t| DMatrix::from_element(1, 1, if t >= d { u[t - d] } else { 0.0 }))
            .collect()
    };
    let config = EsnConfig {
        reservoir_size: 100,
        spectral_radius: 0.8,
        washout: 100,
        ridge: 1e-8,
        ..EsnConfig::default()
    };
    let mut esn = EchoStateNetwork::new(1, 1, config).unwrap();
    let fit = esn.fit(&inputs, &delayed(2)).unwrap();
    assert_eq!(fit.samples, 700);
    assert!(fit.nrmse < 0.05, "delay 2: NRMSE {}", fit.nrmse);
    // Radius 0.8 < 1: runs from different initial states meet (the echo state property).
    use rnn_core::cells::{ReservoirInput, ReservoirState};
    let xs: Vec<ReservoirInput<f64>> = inputs[..300]
        .iter()
        .map(|u| ReservoirInput { u: u.clone() })
        .collect();
    let from = |value: f64| {
        let initial = ReservoirState {
            x: DMatrix::from_element(100, 1, value),
        };
        rnn_core::seq::run(&esn.reservoir, &initial, &xs).unwrap()
    };
    let (low, high) = (from(-0.9), from(0.9));
    assert!((&low[0].x - &high[0].x).amax() > 0.1);
    assert!(
        (&low[299].x - &high[299].x).amax() < 1e-6,
        "states 300 steps after different starts differ"
    );
    assert_eq!(esn.states(&inputs[..300]).unwrap()[299].nrows(), 100);
}

#[test]
fn misuse_is_a_typed_error() {
    let config = EsnConfig {
        reservoir_size: 20,
        washout: 10,
        ..EsnConfig::default()
    };
    for bad in [
        EsnConfig {
            density: 0.0,
            ..config
        },
        EsnConfig { leak: 1.5, ..config },
        EsnConfig {
            spectral_radius: f64::NAN,
            ..config
        },
    ] {
        assert!(
            matches!(EchoStateNetwork::new(1, 1, bad), Err(Error::OutOfRange { .. })),
            "{bad:?}"
        );
    }
    let mut esn = EchoStateNetwork::new(1, 1, config).unwrap();
    let inputs = vec![DMatrix::from_element(1, 1, 0.1); 50];
    let short = esn.fit(&inputs, &inputs[..10]);
    assert!(
        matches!(
            short,
            Err(Error::Length {
                expected: 50,
                found: 10,
                ..
            })
        ),
        "{short:?}"
    );
    let washout = esn.fit(&inputs[..10], &inputs[..10]);
    assert!(matches!(washout, Err(Error::OutOfRange { .. })), "{washout:?}");
    let wide = esn.fit(&inputs, &vec![DMatrix::zeros(2, 1); 50]);
    assert!(
        matches!(
            wide,
            Err(Error::Shape {
                expected: (1, 1),
                found: (2, 1),
                ..
            })
        ),
        "{wide:?}"
    );
    let x = DMatrix::zeros(3, 5);
    assert!(matches!(
        ridge_regression(&x, &DMatrix::zeros(1, 5), 0.0),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        ridge_regression(&x, &DMatrix::zeros(1, 4), 1.0),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        spectral_radius(&DMatrix::zeros(2, 3)),
        Err(Error::Shape { .. })
    ));
}
