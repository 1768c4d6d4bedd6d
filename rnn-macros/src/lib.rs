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
///
/// # Limits
///
/// * Chains of `+`, `-` and `*` may be of any length (`h + h + ... + h` with thousands of
///   terms expands; every term is a node of the step, so the compiler's time grows with it).
/// * Expressions may nest at most 128 levels deep: each pair of parentheses, each function
///   call, each unary `-` and each `[a; b]` around a value adds a level, so
///   `tanh(tanh(... (h) ...))` with 129 calls is an error spanned on the call that goes past
///   the limit. Bind inner parts with `let` and use their names instead. Parentheses in a
///   shape (`[2 * (H + I)]`) are limited the same way.
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

    /// The longest run of binary operators between separators anywhere in `stream`: how deep
    /// the compiler's expression tree of the expansion gets (it recurses on such chains).
    fn longest_operator_chain(stream: TokenStream) -> usize {
        use proc_macro2::TokenTree;
        let mut longest = 0;
        let mut pending = vec![stream];
        while let Some(stream) = pending.pop() {
            let mut run = 0;
            for token in stream {
                match token {
                    TokenTree::Group(group) => {
                        pending.push(group.stream());
                    }
                    TokenTree::Punct(p) if matches!(p.as_char(), '+' | '-' | '*' | '&' | '|') => {
                        run += 1;
                        longest = longest.max(run);
                    }
                    TokenTree::Punct(p) if matches!(p.as_char(), ';' | ',' | '=') => run = 0,
                    _ => {}
                }
            }
        }
        longest
    }

    fn cell_with_step(step: &str) -> String {
        format!("pub cell Deep {{ input x[H]; state h[H]; param w[H, H]; step {{ h = {step} + w * x; }} }}")
    }

    /// Chains of any length expand (parsed and lowered by loops), here on a test thread's
    /// 2 MiB stack, and the expansion has no long operator chain: one statement per node, and
    /// no derived `PartialEq` (the derive is one `&&` chain over the workspace's buffers, on
    /// which rustc overflowed its stack for a 3 000-term sum).
    #[test]
    fn long_chains_expand_into_flat_code() {
        let n = 10_000;
        let sum = vec!["h"; n].join(" + ") + " + x";
        let difference = "x".to_owned() + &" - h".repeat(n);
        let product = vec!["h"; n].join(" * ");
        let mixed = vec!["h * h"; n / 2].join(" - ") + " + x";
        for step in [sum, difference, product, mixed] {
            let out = crate::expand::expand(cell_with_step(&step).parse().unwrap());
            let text = out.to_string();
            assert!(!text.contains("compile_error"), "{}...", &step[..40]);
            assert!(!text.contains("PartialEq)] pub struct DeepWorkspace"));
            assert!(!text.contains("PartialEq)] pub struct DeepCache"));
            let chain = longest_operator_chain(out);
            assert!(
                chain < 16,
                "an operator chain of {chain} in the expansion of {}...",
                &step[..40]
            );
        }
    }

    /// Nesting up to the documented limit expands (on a 2 MiB test thread, in every build of
    /// this crate); one level more is a spanned error, not a stack overflow.
    #[test]
    fn nesting_is_limited_to_the_documented_depth() {
        let limit = crate::ast::MAX_NESTING;
        let nested = |depth: usize, open: &str, close: &str| open.repeat(depth) + "h" + &close.repeat(depth);
        for (open, close) in [("tanh(", ")"), ("(", ")"), ("-", ""), ("sigmoid((", "))")] {
            let at_limit = nested(if open.len() > 5 { limit / 2 } else { limit }, open, close);
            let out = crate::expand::expand(cell_with_step(&format!("{at_limit} + x")).parse().unwrap());
            assert!(
                !out.to_string().contains("compile_error"),
                "{open}: {limit} levels must expand"
            );
            let past = nested(limit + 1, open, close);
            let out = crate::expand::expand(cell_with_step(&format!("{past} + x")).parse().unwrap());
            let text = out.to_string();
            assert!(
                text.contains("compile_error") && text.contains(&format!("nests more than {limit} levels")),
                "{open}: {} levels must be an error: {}",
                limit + 1,
                &text[..text.len().min(300)]
            );
        }
        let concat = "[".repeat(limit + 1) + "h" + &"; h]".repeat(limit + 1);
        let out = crate::expand::expand(cell_with_step(&format!("w * {concat}")).parse().unwrap());
        assert!(out.to_string().contains("nests more than"));
        let shape = format!(
            "pub cell S {{ input x[{}H{}]; state h[H]; step {{ h = h; }} }}",
            "(".repeat(limit + 1),
            ")".repeat(limit + 1)
        );
        let out = crate::expand::expand(shape.parse().unwrap()).to_string();
        assert!(out.contains("nests more than"), "{out}");
    }

    /// The generated docs describe the projection and the cache in the user's terms, not by
    /// node ids (`v15`, `p0`; field names aside).
    #[test]
    fn docs_name_values_in_the_users_terms() {
        let lstm = "pub cell Lstm { input x[I]; state h[H], c[H]; param w_ih[4 * H, I], w_hh[4 * H, H], b[4 * H]; \
                    step { let [i_x, f_x, g_x, o_x] = split(w_ih * x + b); let [i_h, f_h, g_h, o_h] = split(w_hh * h); \
                    let i = sigmoid(i_x + i_h); let f = sigmoid(f_x + f_h); let g = tanh(g_x + g_h); \
                    let o = sigmoid(o_x + o_h); c = f * c + i * g; h = o * tanh(c); } }";
        let is_id = |word: &str| {
            let mut chars = word.chars();
            matches!(chars.next(), Some('v' | 'p' | 'd' | 'g'))
                && chars.clone().next().is_some()
                && chars.all(|c| c.is_ascii_digit())
        };
        for program in [PROGRAMS[0], PROGRAMS[1], lstm] {
            let out = crate::expand::expand(program.parse().unwrap()).to_string();
            let docs: Vec<&str> = out
                .split("doc = \"")
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap())
                .collect();
            assert!(docs.len() > 10, "{program}");
            for doc in &docs {
                for word in doc.split(|c: char| !c.is_ascii_alphanumeric()) {
                    assert!(!is_id(word), "`{word}` in the doc \"{doc}\"");
                }
            }
            if program == lstm {
                let cache = docs
                    .iter()
                    .find(|d| d.contains("What the backward step"))
                    .unwrap();
                for value in ["`i`", "`f`", "`g`", "`o`", "`tanh(c)`"] {
                    assert!(cache.contains(value), "{value} in {cache}");
                }
                assert!(docs.iter().any(|d| d.contains("value `f_x`")), "{docs:?}");
            }
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
