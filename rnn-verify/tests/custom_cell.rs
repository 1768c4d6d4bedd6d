//! A cell declared outside rnn-core, exactly as a downstream crate would, using every part of
//! the DSL: two inputs, two states, an explicit output, matrix, vector and scalar parameters,
//! a hyper-parameter, dimension arithmetic, `split`, `[a; b]`, scalar constants, negation and
//! a user-supplied element-wise function. Its BPTT must agree with finite differences (P2) and
//! with dual numbers (P3).

use proptest::prelude::*;
use rnn_core::recurrent;
use rnn_verify::strategies::{cases, problem};
use rnn_verify::{Problem, check_dual, check_finite_differences};

recurrent! {
    /// A gated cell exercising the whole DSL.
    pub cell Gated {
        input x[I], u[J];
        state h[H], c[H];
        output h;
        param w_x[3 * H, I], w_h[3 * H, H], b[3 * H], w_cat[H, H + J], gain;
        hyper leak = 0.25;
        fn softsign = rnn_core::Softsign;
        step {
            let [r_x, z_x, n_x] = split(w_x * x + b);
            let [r_h, z_h, n_h] = split(w_h * h);
            let r = sigmoid(r_x + r_h);
            let z = sigmoid(z_x + z_h);
            let n = tanh(n_x + r * n_h) + softsign(w_cat * [c; u]);
            c = leak * c + (1 - leak) * softplus(gain * n - c);
            h = (1 - z) * n + z * h - 0.1 * exp(-identity(c));
        }
    }
}

fn assert_gradients(problem: &Problem<f64, Gated<f64>>) -> Result<(), TestCaseError> {
    let fd = check_finite_differences(problem).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(fd.passed(), "finite differences: {fd}");
    let dual = check_dual(problem).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(dual.passed(), "dual numbers: {dual}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn custom_cell_gradients(
        p in (1..=4usize, 1..=3usize, 1..=3usize)
            .prop_flat_map(|(h, i, j)| problem(Gated::new(GatedDims { H: h, I: i, J: j }).unwrap(), 3, 10))
    ) {
        assert_gradients(&p)?;
    }
}

#[test]
fn output_is_the_declared_state() {
    use rnn_core::Cell;
    assert_eq!(<Gated<f64> as Cell<f64>>::OUTPUT, 0);
    assert_eq!(<Gated<f64> as Cell<f64>>::NAME, "Gated");
}
