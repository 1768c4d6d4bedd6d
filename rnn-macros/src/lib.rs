//! The `recurrent!` procedural macro. Use it through `rnn_core::recurrent!`: the generated code
//! names the runtime as `::rnn_core`, and the documentation of the DSL lives there.
//!
//! The expansion is a pipeline with one module per stage:
//! `ast` parses the tokens, `valid` checks names and statements (collecting every error),
//! `lower` builds the shaped `ir`, `adjoint` derives the reverse sweep from the rule
//! table in `ops`, and `expand` emits the Rust items. On error, `fallback` emits stub items
//! next to the `compile_error!`s so the user's code does not cascade into unrelated errors.

#![forbid(unsafe_code)]

mod adjoint;
mod ast;
mod ctxt;
mod dims;
mod expand;
mod fallback;
#[cfg(test)]
mod fuzz;
mod ir;
mod lower;
mod ops;
mod valid;

use proc_macro::TokenStream;

/// Declares one or more recurrent cells; see the `rnn_core` documentation for the DSL.
#[proc_macro]
pub fn recurrent(input: TokenStream) -> TokenStream {
    expand::expand(input.into()).into()
}

#[cfg(test)]
mod tests {
    //! The macro never panics: every program made from valid ones by dropping, duplicating or
    //! swapping one token either expands or becomes spanned errors. (A larger generated corpus
    //! belongs to the hardening work; this one covers every token position of real cells.)

    use proc_macro2::TokenStream;

    const PROGRAMS: &[&str] = &[
        "pub cell Elman { input x[I]; state h[H]; param w_hh[H, H], w_hx[H, I], b[H]; \
         step { h = tanh(w_hh * h + w_hx * x + b); } }",
        "pub cell Gru { input x[I]; state h[H]; param w_ih[3 * H, I], w_hh[3 * H, H], b_ih[3 * H], b_hh[3 * H]; \
         step { let [r_x, z_x, n_x] = split(w_ih * x + b_ih); let [r_h, z_h, n_h] = split(w_hh * h + b_hh); \
         let r = sigmoid(r_x + r_h); let z = sigmoid(z_x + z_h); let n = tanh(n_x + r * n_h); \
         h = (1 - z) * n + z * h; } }",
        "cell Lstm { input x[I], u[J]; state h[H], c[H]; output h; param w[4 * H, I + H], b[4 * H], g; \
         hyper leak = 0.5, a[H] = -1; fn soft = crate::Soft; \
         step { let [i, f, gg, o] = split(w * [x; h] + b); c = sigmoid(f) * c + sigmoid(i) * soft(gg) - leak * a; \
         h = sigmoid(o) * tanh(c) * g + relu(-exp(softplus(identity(u[0])))); } }",
        "cell Leaky { input x[H]; state h[H]; hyper alpha = 0.5; step { h = alpha * h + (1 - alpha) * x; } }",
    ];

    fn words(program: &str) -> Vec<String> {
        let stream: TokenStream = program.parse().expect("valid tokens");
        stream.to_string().split_whitespace().map(str::to_owned).collect()
    }

    fn expand_without_panic(text: &str) -> bool {
        let Ok(stream) = text.parse::<TokenStream>() else {
            return true; // not even tokens: the compiler's lexer rejects it before the macro runs
        };
        std::panic::catch_unwind(|| crate::expand::expand(stream).to_string()).is_ok()
    }

    /// 12 000 generated programs by default, 4 000 of each kind (`PROPTEST_CASES` sets the count
    /// per kind): valid cells must expand cleanly, and nothing may panic.
    #[test]
    fn generated_programs_never_panic() {
        let per_half = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4000);
        let (clean, errors) = crate::fuzz::run(per_half).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("front end: {clean} programs expanded, {errors} became compile errors, 0 panics");
        assert!(
            clean > 0 && errors > 0,
            "the generator should produce both kinds: {clean} clean, {errors} errors"
        );
        assert!(
            clean + errors >= 3 * per_half as usize * 9 / 10,
            "too many inputs were not even tokens"
        );
    }

    #[test]
    fn valid_programs_expand_without_errors() {
        for program in &PROGRAMS[..2] {
            let out = crate::expand::expand(program.parse().unwrap()).to_string();
            assert!(
                !out.contains("compile_error"),
                "{program} should expand cleanly: {out}"
            );
        }
    }

    #[test]
    fn non_finite_numbers_are_errors_not_panics() {
        for program in [
            "cell A { input x[H]; state h[H]; step { h = 1e400 * x + h; } }",
            "cell A { input x[H]; state h[H]; hyper a = -1e999; step { h = a * x + h; } }",
        ] {
            assert!(expand_without_panic(program), "panicked on {program}");
            let out = crate::expand::expand(program.parse().unwrap()).to_string();
            assert!(out.contains("compile_error"), "{program} must be rejected");
        }
    }

    #[test]
    fn mutated_programs_never_panic() {
        let mut tried = 0;
        for program in PROGRAMS {
            let tokens = words(program);
            for k in 0..tokens.len() {
                let mut dropped = tokens.clone();
                dropped.remove(k);
                let mut duplicated = tokens.clone();
                duplicated.insert(k, tokens[k].clone());
                let mut swapped = tokens.clone();
                if k + 1 < tokens.len() {
                    swapped.swap(k, k + 1);
                }
                for variant in [dropped, duplicated, swapped] {
                    let text = variant.join(" ");
                    assert!(expand_without_panic(&text), "the macro panicked on: {text}");
                    tried += 1;
                }
            }
        }
        assert!(tried > 500, "only {tried} programs were tried");
    }
}
