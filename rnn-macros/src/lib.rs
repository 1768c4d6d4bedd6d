//! The `recurrent!` procedural macro. Use it through `rnn_core::recurrent!`: the generated code
//! names the runtime as `::rnn_core`, and the documentation of the DSL lives there.
//!
//! The expansion is a pipeline with one module per stage:
//! `ast` parses the tokens, `valid` checks names and statements (collecting every error),
//! `lower` builds the shaped `ir`, `adjoint` derives the reverse sweep from the rule
//! table in `ops`, and `expand` emits the Rust items. On error, `fallback` emits stub items
//! next to the `compile_error!`s so the user's code does not cascade into unrelated errors.

mod adjoint;
mod ast;
mod ctxt;
mod dims;
mod expand;
mod fallback;
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
