//! Error collection (every diagnostic, not only the first) and source ranges.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, TokenStreamExt};
use std::fmt::Display;

/// The first and last token of a piece of DSL. `syn::Error::new_spanned` turns such a pair
/// into a diagnostic that underlines the whole range on stable Rust.
#[derive(Clone, Copy, Debug)]
pub struct SpanRange {
    pub first: Span,
    pub last: Span,
}

impl SpanRange {
    pub fn single(span: Span) -> Self {
        SpanRange {
            first: span,
            last: span,
        }
    }

    pub fn to(self, other: SpanRange) -> Self {
        SpanRange {
            first: self.first,
            last: other.last,
        }
    }

    pub fn error(self, message: impl Display) -> syn::Error {
        syn::Error::new_spanned(self, message)
    }
}

impl ToTokens for SpanRange {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append(proc_macro2::Ident::new("first", self.first));
        tokens.append(proc_macro2::Ident::new("last", self.last));
    }
}

/// Collects diagnostics while a stage goes on, so the user sees all of them at once.
#[derive(Default)]
pub struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(existing) => existing.combine(error),
            None => self.errors = Some(error),
        }
    }

    pub fn error_at(&mut self, range: SpanRange, message: impl Display) {
        self.push(range.error(message));
    }

    pub fn has_errors(&self) -> bool {
        self.errors.is_some()
    }

    pub fn finish(self) -> Result<(), syn::Error> {
        match self.errors {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
