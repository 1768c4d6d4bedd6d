//! The front end under random input: generated DSL programs (well-formed cells whose names,
//! shapes and statements are drawn at random, so many are ill-typed) and programs made from them
//! by dropping, duplicating or swapping tokens go through the whole pipeline as `proc_macro2`
//! token streams. Every input must either expand or become spanned errors; a panic fails.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const DIMS: &[&str] = &[
    "H", "I", "J", "2 * H", "H + I", "3 * H", "4 * H", "2", "H * I", "h",
];
const FUNCS: &[&str] = &[
    "tanh", "sigmoid", "relu", "identity", "exp", "softplus", "split", "gelu", "soft",
];

fn shape() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        proptest::sample::select(DIMS).prop_map(|d| format!("[{d}]")),
        (proptest::sample::select(DIMS), proptest::sample::select(DIMS))
            .prop_map(|(a, b)| format!("[{a}, {b}]")),
    ]
}

fn expr(names: Vec<String>) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        proptest::sample::select(names).prop_map(|n| n),
        (0u32..4).prop_map(|k| format!("{k}")),
        Just("0.5".to_owned()),
        Just("1e400".to_owned()),
        Just("missing".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                proptest::sample::select(&["+", "-", "*", "/"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (proptest::sample::select(FUNCS), inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}; {b}]")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.prop_map(|a| format!("-{a}")),
        ]
    })
}

/// A cell with 1–2 inputs, 1–2 states, 0–3 params, maybe a hyper-parameter and a user function,
/// and 1–4 statements over those names.
pub fn program() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(shape(), 1..=2),
        proptest::collection::vec(shape(), 1..=2),
        proptest::collection::vec(shape(), 0..=3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(inputs, states, params, hyper, func)| {
            let mut names: Vec<String> = Vec::new();
            names.extend((0..inputs.len()).map(|k| format!("x{k}")));
            names.extend((0..states.len()).map(|k| format!("s{k}")));
            names.extend((0..params.len()).map(|k| format!("w{k}")));
            if hyper {
                names.push("alpha".into());
            }
            let targets: Vec<String> = (0..states.len())
                .map(|k| format!("s{k}"))
                .chain(["x0".into(), "t".into()])
                .collect();
            let statements = proptest::collection::vec(
                (
                    any::<bool>(),
                    proptest::sample::select(targets),
                    expr(names.clone()),
                ),
                1..=4,
            );
            (Just((inputs, states, params, hyper, func)), statements)
        })
        .prop_map(|((inputs, states, params, hyper, func), statements)| {
            let list = |prefix: &str, shapes: &[String]| {
                shapes
                    .iter()
                    .enumerate()
                    .map(|(k, s)| format!("{prefix}{k}{s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut text = format!(
                "pub cell Fuzz {{ input {}; state {};",
                list("x", &inputs),
                list("s", &states)
            );
            if !params.is_empty() {
                text.push_str(&format!(" param {};", list("w", &params)));
            }
            if hyper {
                text.push_str(" hyper alpha = 0.5;");
            }
            if func {
                text.push_str(" fn soft = crate::Soft;");
            }
            text.push_str(" step {");
            for (k, (is_let, target, e)) in statements.into_iter().enumerate() {
                if is_let {
                    text.push_str(&format!(" let t{k} = {e};"));
                } else {
                    text.push_str(&format!(" {target} = {e};"));
                }
            }
            text.push_str(" } }");
            text
        })
}

/// A well-typed expression of length `H` over the valid cell's names.
fn vector_expr() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(
        &[
            "s0",
            "(w * x0)",
            "(u * s0)",
            "b",
            "(0.5 * s0)",
            "(1 - s0)",
            "(gain * s0)",
            "(v * [s0; x0])",
            "p",
        ][..],
    )
    .prop_map(str::to_owned);
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                proptest::sample::select(&["+", "-", "*"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                proptest::sample::select(&["tanh", "sigmoid", "relu", "identity", "softplus"][..]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.prop_map(|a| format!("(2 * {a})")),
        ]
    })
}

/// A valid cell: random well-typed statements, every parameter used, every state assigned once.
pub fn valid_program() -> impl Strategy<Value = String> {
    (vector_expr(), vector_expr(), any::<bool>()).prop_map(|(first, second, two_states)| {
        let mut text = String::from("pub cell Valid { input x0[I]; state s0[H]");
        if two_states {
            text.push_str(", s1[H]");
        }
        text.push_str("; param w[H, I], u[H, H], b[H], v[H, H + I], gain, z[2 * H, I]; step { ");
        text.push_str("let [p, q] = split(z * x0); ");
        text.push_str(&format!("let t = {first} + q; "));
        if two_states {
            text.push_str("s1 = tanh(t) + s1; ");
        }
        text.push_str(&format!(
            "s0 = t + {second} + w * x0 + u * s0 + b + gain * s0 + v * [s0; x0]; }} }}"
        ));
        text
    })
}

/// `program()` or `valid_program()` with one token dropped, duplicated, or swapped with its
/// neighbour.
pub fn mutated() -> impl Strategy<Value = String> {
    (
        prop_oneof![program(), valid_program()],
        any::<proptest::sample::Index>(),
        0u8..4,
    )
        .prop_map(|(text, index, how)| {
            let stream: proc_macro2::TokenStream = text.parse().unwrap_or_default();
            let mut tokens: Vec<String> = stream.to_string().split_whitespace().map(str::to_owned).collect();
            if tokens.is_empty() {
                return text;
            }
            let k = index.index(tokens.len());
            match how {
                0 => {
                    tokens.remove(k);
                }
                1 => tokens.insert(k, tokens[k].clone()),
                2 if k + 1 < tokens.len() => tokens.swap(k, k + 1),
                _ => {}
            }
            tokens.join(" ")
        })
}

/// Runs `cases` programs of each kind (valid, random, mutated) through the pipeline; returns how
/// many expanded cleanly and how many became errors. Valid programs must expand cleanly.
pub fn run(cases: u32) -> Result<(usize, usize), String> {
    let clean = std::cell::Cell::new(0usize);
    let errors = std::cell::Cell::new(0usize);
    for (must_expand, strategy) in [
        (true, valid_program().boxed()),
        (false, program().boxed()),
        (false, mutated().boxed()),
    ] {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |text| {
                let Ok(stream) = text.parse::<proc_macro2::TokenStream>() else {
                    return Ok(()); // not tokens at all: the compiler's lexer rejects it first
                };
                let out = std::panic::catch_unwind(|| crate::expand::expand(stream).to_string())
                    .map_err(|_| TestCaseError::fail(format!("the macro panicked on: {text}")))?;
                if out.contains("compile_error") {
                    if must_expand {
                        return Err(TestCaseError::fail(format!(
                            "a valid cell was rejected: {text}\n{out}"
                        )));
                    }
                    errors.set(errors.get() + 1);
                } else {
                    clean.set(clean.get() + 1);
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
    }
    Ok((clean.get(), errors.get()))
}
