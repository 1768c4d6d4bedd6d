//! The vectorisable activations of `rnn_core::vmath` against the standard library, in units in
//! the last place, over the whole input range: every 97th `f32` bit pattern (44 million
//! inputs, positive and negative, subnormals, infinities and NaNs included), and proptest
//! inputs for `f32` and `f64` drawn over all bit patterns and densely where the formulas
//! change (around 0, the clamps, the overflow and underflow thresholds). The bounds are those
//! the module documentation states.

use proptest::prelude::*;
use rnn_core::vmath::{exp_f32, exp_f64, sigmoid_f32, sigmoid_f64, tanh_f32, tanh_f64};

/// The documented bounds (ulps), for f32 and f64 alike.
const EXP_ULPS: u64 = 1;
const TANH_ULPS: u64 = 4;
const SIGMOID_ULPS: u64 = 2;

/// The exact sigmoid of `rnn_core::activation`, through the standard library.
fn sigmoid_std_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

fn sigmoid_std_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

/// Distance in representable values (`+0` and `−0` are one value); NaN against NaN is 0,
/// NaN against a number is `u64::MAX`.
fn ulps_f32(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let ordered = |x: f32| {
        let bits = i64::from(x.to_bits() as i32);
        if bits < 0 { -(bits & 0x7fff_ffff) } else { bits }
    };
    ordered(a).abs_diff(ordered(b))
}

fn ulps_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let ordered = |x: f64| {
        let bits = i128::from(x.to_bits() as i64);
        if bits < 0 {
            -(bits & 0x7fff_ffff_ffff_ffff)
        } else {
            bits
        }
    };
    u64::try_from(ordered(a).abs_diff(ordered(b))).unwrap_or(u64::MAX)
}

/// A function's name, the fast and the exact version, and the bound in ulps.
type Case<F> = (&'static str, fn(F) -> F, fn(F) -> F, u64);

fn f32_cases() -> [Case<f32>; 3] {
    [
        ("exp", exp_f32, f32::exp, EXP_ULPS),
        ("tanh", tanh_f32, f32::tanh, TANH_ULPS),
        ("sigmoid", sigmoid_f32, sigmoid_std_f32, SIGMOID_ULPS),
    ]
}

fn f64_cases() -> [Case<f64>; 3] {
    [
        ("exp", exp_f64, f64::exp, EXP_ULPS),
        ("tanh", tanh_f64, f64::tanh, TANH_ULPS),
        ("sigmoid", sigmoid_f64, sigmoid_std_f64, SIGMOID_ULPS),
    ]
}

fn check_f32(x: f32) -> Result<(), TestCaseError> {
    for (name, fast, exact, bound) in f32_cases() {
        let (got, want) = (fast(x), exact(x));
        let ulps = ulps_f32(got, want);
        prop_assert!(
            ulps <= bound,
            "{name}_f32({x:e}) = {got:e}, std {want:e}: {ulps} ulps > {bound}"
        );
    }
    Ok(())
}

fn check_f64(x: f64) -> Result<(), TestCaseError> {
    for (name, fast, exact, bound) in f64_cases() {
        let (got, want) = (fast(x), exact(x));
        let ulps = ulps_f64(got, want);
        prop_assert!(
            ulps <= bound,
            "{name}_f64({x:e}) = {got:e}, std {want:e}: {ulps} ulps > {bound}"
        );
    }
    Ok(())
}

/// Asserts every case within its bound over `inputs`, naming the worst input of a failing one.
fn assert_within_bounds<F: Copy + Default + std::fmt::LowerExp>(
    dtype: &str,
    inputs: impl Iterator<Item = F>,
    cases: &[Case<F>],
    ulps: fn(F, F) -> u64,
) {
    let mut worst = vec![(0_u64, F::default()); cases.len()];
    for x in inputs {
        for (worst, (_, fast, exact, _)) in worst.iter_mut().zip(cases) {
            let distance = ulps(fast(x), exact(x));
            if distance > worst.0 {
                *worst = (distance, x);
            }
        }
    }
    for ((name, _, _, bound), (distance, x)) in cases.iter().zip(worst) {
        assert!(
            distance <= *bound,
            "{name}_{dtype}: {distance} ulps at {x:e} (bound {bound})"
        );
    }
}

#[test]
fn every_97th_f32_is_within_its_bound() {
    let inputs = (0..=u32::MAX).step_by(97).map(f32::from_bits);
    assert_within_bounds("f32", inputs, &f32_cases(), ulps_f32);
}

#[test]
fn a_dense_f64_grid_is_within_its_bound() {
    // Log-spaced magnitudes from 1e-320 to 1e3 and a uniform grid over [−760, 760], both signs.
    let log_spaced = (0..2_000_000).map(|k| 10f64.powf(-320.0 + 323.0 * f64::from(k) / 2e6));
    let uniform = (0..2_000_000).map(|k| -760.0 + 1520.0 * f64::from(k) / 2e6);
    let inputs = log_spaced.chain(uniform).flat_map(|x| [x, -x]);
    assert_within_bounds("f64", inputs, &f64_cases(), ulps_f64);
}

#[test]
fn special_values_are_the_standard_librarys() {
    for x in [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -1e-45,
        88.72284,
        -104.0,
    ] {
        check_f32(x).unwrap();
        assert_eq!(
            tanh_f32(x).to_bits() >> 31,
            x.tanh().to_bits() >> 31,
            "sign of tanh({x})"
        );
    }
    for x in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -5e-324,
        709.8,
        -746.0,
    ] {
        check_f64(x).unwrap();
        assert_eq!(
            tanh_f64(x).to_bits() >> 63,
            x.tanh().to_bits() >> 63,
            "sign of tanh({x})"
        );
    }
}

/// Any bit pattern, or a value where the formulas change.
fn f32_input() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        -120.0_f32..120.0,
        -2.0_f32..2.0,
        -1e-3_f32..1e-3,
        (-10.0_f32..10.0).prop_map(|x| if x.abs() < 1e-30 { x } else { x * 1e-20 }),
    ]
}

fn f64_input() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        -760.0_f64..760.0,
        -40.0_f64..40.0,
        -2.0_f64..2.0,
        -1e-6_f64..1e-6,
        (700.0_f64..760.0).prop_map(|x| -x),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(rnn_verify::strategies::cases(20_000)))]

    #[test]
    fn f32_activations_are_within_their_bounds(x in f32_input()) {
        check_f32(x)?;
    }

    #[test]
    fn f64_activations_are_within_their_bounds(x in f64_input()) {
        check_f64(x)?;
    }
}
