//! Symbolic dimensions: linear combinations of dimension names with non-negative integer
//! coefficients (`H + I`, `4 * H`, `2 * (H + I) + 1`). Two shapes agree when their normal forms
//! are equal, which is decided at expansion time; the runtime only evaluates them.

use crate::ast::DimAst;
use crate::ctxt::SpanRange;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dim {
    pub constant: u64,
    pub terms: BTreeMap<String, u64>,
}

impl Dim {
    pub fn constant(value: u64) -> Self {
        Dim {
            constant: value,
            terms: BTreeMap::new(),
        }
    }

    pub fn name(name: &str) -> Self {
        let mut terms = BTreeMap::new();
        terms.insert(name.to_owned(), 1);
        Dim { constant: 0, terms }
    }

    pub fn add(&self, other: &Dim) -> Option<Dim> {
        let mut out = self.clone();
        out.constant = out.constant.checked_add(other.constant)?;
        for (name, coefficient) in &other.terms {
            let entry = out.terms.entry(name.clone()).or_insert(0);
            *entry = entry.checked_add(*coefficient)?;
        }
        Some(out)
    }

    fn scale(&self, factor: u64) -> Option<Dim> {
        let mut out = Dim::constant(self.constant.checked_mul(factor)?);
        if factor != 0 {
            for (name, coefficient) in &self.terms {
                out.terms.insert(name.clone(), coefficient.checked_mul(factor)?);
            }
        }
        Some(out)
    }

    pub fn as_constant(&self) -> Option<u64> {
        self.terms.is_empty().then_some(self.constant)
    }

    /// `self / parts` when every coefficient is a multiple of `parts`, else `None`.
    pub fn divide(&self, parts: u64) -> Option<Dim> {
        if parts == 0
            || !self.constant.is_multiple_of(parts)
            || self
                .terms
                .values()
                .any(|coefficient| !coefficient.is_multiple_of(parts))
        {
            return None;
        }
        let mut out = Dim::constant(self.constant / parts);
        for (name, coefficient) in &self.terms {
            out.terms.insert(name.clone(), coefficient / parts);
        }
        Some(out)
    }

    /// Runtime value, reading the dimensions from a variable `dims` of the generated dims type.
    pub fn runtime(&self, dims: &TokenStream) -> TokenStream {
        let mut parts: Vec<TokenStream> = Vec::new();
        for (name, coefficient) in &self.terms {
            let field = format_ident!("{}", name);
            if *coefficient == 1 {
                parts.push(quote!(#dims.#field));
            } else {
                let coefficient = *coefficient as usize;
                parts.push(quote!(#coefficient * #dims.#field));
            }
        }
        if self.constant != 0 || parts.is_empty() {
            let constant = self.constant as usize;
            parts.push(quote!(#constant));
        }
        quote!((#(#parts)+*))
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, coefficient) in &self.terms {
            if !first {
                f.write_str(" + ")?;
            }
            first = false;
            if *coefficient == 1 {
                write!(f, "{name}")?;
            } else {
                write!(f, "{coefficient} * {name}")?;
            }
        }
        if self.constant != 0 || first {
            if !first {
                f.write_str(" + ")?;
            }
            write!(f, "{}", self.constant)?;
        }
        Ok(())
    }
}

/// Normalises a parsed dimension; products of two dimension names are rejected (not linear).
/// Chains are folded left to right, so only parentheses recurse (at most
/// [`crate::ast::MAX_NESTING`] deep).
pub fn normalise(ast: &DimAst) -> Result<Dim, syn::Error> {
    match ast {
        DimAst::Lit(value, _) => Ok(Dim::constant(*value)),
        DimAst::Name(ident) => Ok(Dim::name(&ident.to_string())),
        DimAst::Sum(terms) => {
            let mut sum = Dim::constant(0);
            for term in terms {
                sum = sum.add(&normalise(term)?).ok_or_else(|| overflow(ast.span()))?;
            }
            Ok(sum)
        }
        DimAst::Product(factors) => {
            let Some((first, rest)) = factors.split_first() else {
                return Ok(Dim::constant(1));
            };
            let mut left = normalise(first)?;
            for (k, factor) in rest.iter().enumerate() {
                let right = normalise(factor)?;
                let product = match (left.as_constant(), right.as_constant()) {
                    (Some(factor), _) => right.scale(factor),
                    (_, Some(factor)) => left.scale(factor),
                    (None, None) => {
                        return Err(first.span().to(rest[k].span()).error(format!(
                            "`{left}` times `{right}` is not linear: dimension arithmetic allows \
                             sums of dimensions and products with a number (`H + I`, `4 * H`)"
                        )));
                    }
                };
                left = product.ok_or_else(|| overflow(ast.span()))?;
            }
            Ok(left)
        }
    }
}

fn overflow(span: SpanRange) -> syn::Error {
    span.error("this dimension is too large")
}
