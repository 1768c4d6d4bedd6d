//! Stage 1: the syntax tree of the DSL, parsed with `syn`. Every node keeps its source range.
//!
//! ```text
//! cells   := cell*
//! cell    := attr* vis `cell` Name `{` section* `}`
//! section := attr* (`input` | `state` | `param`) tensor (`,` tensor)* `;`
//!          | attr* `hyper` hyper (`,` hyper)* `;`
//!          | `output` name `;`
//!          | `fn` name `=` path `;`
//!          | `step` `{` stmt* `}`
//! tensor  := name (`[` dim (`,` dim)* `]`)?
//! hyper   := name (`[` dim (`,` dim)* `]`)? `=` number
//! dim     := term (`+` term)* ; term := atom (`*` atom)* ; atom := integer | Name | `(` dim `)`
//! stmt    := `let` name `=` expr `;` | `let` `[` name (`,` name)* `]` `=` expr `;` | name `=` expr `;`
//! expr    := prod ((`+` | `-`) prod)* ; prod := unary (`*` unary)*
//! unary   := `-` unary | atom ; atom := number | name | name `(` expr,* `)` | `(` expr `)`
//!          | `[` expr (`;` expr)* `]`
//! ```
//!
//! Chains of `+`, `-` and `*` are kept flat ([`ExprKind::Sum`], [`ExprKind::Product`],
//! [`DimAst::Sum`], [`DimAst::Product`]) and parsed by loops, so their length costs no stack.
//! Everything that nests (parentheses, calls, unary minus, `[a; b]`) is parsed, checked,
//! lowered and dropped by recursion, so it is limited to [`MAX_NESTING`] levels: the macro runs
//! on the compiler's stack, and a deeper expression must be a spanned error, not a crash.

use crate::ctxt::SpanRange;
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Token, Visibility, braced, bracketed, parenthesized};

/// How deep expressions and dimensions may nest: parentheses, calls, unary minus and `[a; b]`
/// each add one level (the chains `a + b - c`, `a * b * c` add none, whatever their length).
/// Documented in the `recurrent!` item docs. Measured: 128 nested calls take under 1.5 MiB of
/// stack through every stage in an unoptimised build of this crate (the compiler runs the
/// macro on its 8 MiB main thread); the unit tests run them on a 2 MiB test thread.
pub const MAX_NESTING: usize = 128;

mod kw {
    syn::custom_keyword!(cell);
    syn::custom_keyword!(input);
    syn::custom_keyword!(state);
    syn::custom_keyword!(param);
    syn::custom_keyword!(hyper);
    syn::custom_keyword!(output);
    syn::custom_keyword!(step);
}

pub struct Cells {
    pub cells: Vec<CellDef>,
}

pub struct CellDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub inputs: Vec<TensorDecl>,
    pub states: Vec<TensorDecl>,
    pub params: Vec<TensorDecl>,
    pub hypers: Vec<HyperDecl>,
    pub outputs: Vec<Ident>,
    pub funcs: Vec<FuncDecl>,
    pub steps: Vec<Step>,
    /// The braces of the cell body, for "missing section" errors.
    pub body_span: Span,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TensorRole {
    Input,
    State,
    Param,
}

pub struct TensorDecl {
    pub docs: Vec<Attribute>,
    pub name: Ident,
    pub shape: Option<ShapeAst>,
}

pub struct HyperDecl {
    pub docs: Vec<Attribute>,
    pub name: Ident,
    pub shape: Option<ShapeAst>,
    pub default: Option<(f64, SpanRange)>,
}

pub struct ShapeAst {
    pub dims: Vec<DimAst>,
    pub span: SpanRange,
}

pub enum DimAst {
    Lit(u64, SpanRange),
    Name(Ident),
    /// `a + b + ...`: two or more terms.
    Sum(Vec<DimAst>),
    /// `a * b * ...`: two or more factors.
    Product(Vec<DimAst>),
}

impl DimAst {
    pub fn span(&self) -> SpanRange {
        match self {
            DimAst::Lit(_, span) => *span,
            DimAst::Name(ident) => SpanRange::single(ident.span()),
            DimAst::Sum(parts) | DimAst::Product(parts) => match (parts.first(), parts.last()) {
                (Some(first), Some(last)) => first.span().to(last.span()),
                _ => SpanRange::single(Span::call_site()),
            },
        }
    }
}

pub struct FuncDecl {
    pub name: Ident,
    pub path: syn::Path,
}

pub struct Step {
    pub span: SpanRange,
    pub stmts: Vec<Stmt>,
}

pub enum Stmt {
    Let {
        name: Ident,
        expr: Expr,
    },
    LetSplit {
        names: Vec<Ident>,
        pattern: SpanRange,
        expr: Expr,
    },
    Assign {
        target: Ident,
        expr: Expr,
    },
}

pub struct Expr {
    pub kind: ExprKind,
    pub span: SpanRange,
}

pub enum ExprKind {
    Lit(f64),
    Name(Ident),
    /// `a + b - c`: two or more terms, each with its sign (`true`: subtracted; never the first).
    Sum(Vec<(bool, Expr)>),
    /// `a * b * c`: two or more factors, multiplied left to right.
    Product(Vec<Expr>),
    Neg(Box<Expr>),
    Call(Ident, Vec<Expr>),
    Concat(Vec<Expr>),
    Paren(Box<Expr>),
}

/// The DSL text of an expression, as written (parentheses kept); used in hints.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, items: &[Expr], separator: &str| {
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    f.write_str(separator)?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        };
        match &self.kind {
            ExprKind::Lit(value) => write!(f, "{value}"),
            ExprKind::Name(name) => write!(f, "{name}"),
            ExprKind::Sum(terms) => {
                for (k, (negative, term)) in terms.iter().enumerate() {
                    match (k, negative) {
                        (0, _) => {}
                        (_, true) => f.write_str(" - ")?,
                        (_, false) => f.write_str(" + ")?,
                    }
                    write!(f, "{term}")?;
                }
                Ok(())
            }
            ExprKind::Product(factors) => list(f, factors, " * "),
            ExprKind::Neg(inner) => write!(f, "-{inner}"),
            ExprKind::Call(name, args) => {
                write!(f, "{name}(")?;
                list(f, args, ", ")?;
                f.write_str(")")
            }
            ExprKind::Concat(parts) => {
                f.write_str("[")?;
                list(f, parts, "; ")?;
                f.write_str("]")
            }
            ExprKind::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

/// One level deeper into an expression at `span` (an opening parenthesis or bracket, a function
/// name, a unary minus), or the error for a level past [`MAX_NESTING`].
fn deeper(depth: usize, span: Span) -> syn::Result<usize> {
    if depth >= MAX_NESTING {
        return Err(syn::Error::new(
            span,
            format!(
                "this expression nests more than {MAX_NESTING} levels deep (parentheses, calls, unary `-` \
                 and `[a; b]` each add a level); bind inner parts with `let` and use their names"
            ),
        ));
    }
    Ok(depth + 1)
}

impl Parse for Cells {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut cells = Vec::new();
        while !input.is_empty() {
            cells.push(input.parse()?);
        }
        Ok(Cells { cells })
    }
}

impl Parse for CellDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(kw::cell) {
            return Err(input.error(
                "expected a cell declaration: `pub cell Name { input x[I]; state h[H]; ... step { ... } }`",
            ));
        }
        input.parse::<kw::cell>()?;
        let name: Ident = input.parse()?;
        let body;
        let brace = braced!(body in input);
        let mut cell = CellDef {
            attrs,
            vis,
            name,
            inputs: Vec::new(),
            states: Vec::new(),
            params: Vec::new(),
            hypers: Vec::new(),
            outputs: Vec::new(),
            funcs: Vec::new(),
            steps: Vec::new(),
            body_span: brace.span.join(),
        };
        while !body.is_empty() {
            parse_section(&body, &mut cell)?;
        }
        Ok(cell)
    }
}

fn parse_section(input: ParseStream, cell: &mut CellDef) -> syn::Result<()> {
    let docs = input.call(Attribute::parse_outer)?;
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::input) || lookahead.peek(kw::state) || lookahead.peek(kw::param) {
        let role = if input.peek(kw::input) {
            input.parse::<kw::input>()?;
            TensorRole::Input
        } else if input.peek(kw::state) {
            input.parse::<kw::state>()?;
            TensorRole::State
        } else {
            input.parse::<kw::param>()?;
            TensorRole::Param
        };
        loop {
            let name: Ident = input.parse()?;
            let shape = parse_optional_shape(input)?;
            let decl = TensorDecl {
                docs: docs.clone(),
                name,
                shape,
            };
            match role {
                TensorRole::Input => cell.inputs.push(decl),
                TensorRole::State => cell.states.push(decl),
                TensorRole::Param => cell.params.push(decl),
            }
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                continue;
            }
            input.parse::<Token![;]>()?;
            return Ok(());
        }
    } else if lookahead.peek(kw::hyper) {
        input.parse::<kw::hyper>()?;
        loop {
            let name: Ident = input.parse()?;
            let shape = parse_optional_shape(input)?;
            let default = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(parse_number(input)?)
            } else {
                None
            };
            cell.hypers.push(HyperDecl {
                docs: docs.clone(),
                name,
                shape,
                default,
            });
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                continue;
            }
            input.parse::<Token![;]>()?;
            return Ok(());
        }
    } else if lookahead.peek(kw::output) {
        input.parse::<kw::output>()?;
        cell.outputs.push(input.parse()?);
        input.parse::<Token![;]>()?;
        Ok(())
    } else if lookahead.peek(Token![fn]) {
        input.parse::<Token![fn]>()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let path: syn::Path = input.parse()?;
        input.parse::<Token![;]>()?;
        cell.funcs.push(FuncDecl { name, path });
        Ok(())
    } else if lookahead.peek(kw::step) {
        let keyword = input.parse::<kw::step>()?;
        let body;
        let brace = braced!(body in input);
        let mut stmts = Vec::new();
        while !body.is_empty() {
            stmts.push(body.parse()?);
        }
        cell.steps.push(Step {
            span: SpanRange {
                first: keyword.span,
                last: brace.span.close(),
            },
            stmts,
        });
        Ok(())
    } else {
        Err(lookahead.error())
    }
}

fn parse_optional_shape(input: ParseStream) -> syn::Result<Option<ShapeAst>> {
    if !input.peek(syn::token::Bracket) {
        return Ok(None);
    }
    let content;
    let bracket = bracketed!(content in input);
    let mut dims = Vec::new();
    loop {
        if content.is_empty() {
            break;
        }
        dims.push(parse_dim_sum(&content, 0)?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    let span = SpanRange {
        first: bracket.span.open(),
        last: bracket.span.close(),
    };
    if dims.is_empty() || dims.len() > 2 {
        return Err(span.error(
            "a shape has one dimension (a vector, `b[H]`) or two (a matrix, `w[H, I]`); \
             leave the brackets out for a scalar",
        ));
    }
    Ok(Some(ShapeAst { dims, span }))
}

fn parse_dim_sum(input: ParseStream, depth: usize) -> syn::Result<DimAst> {
    let mut terms = vec![parse_dim_product(input, depth)?];
    while input.peek(Token![+]) {
        input.parse::<Token![+]>()?;
        terms.push(parse_dim_product(input, depth)?);
    }
    if input.peek(Token![-]) || input.peek(Token![/]) {
        return Err(input.error(
            "dimension arithmetic has `+` and `*` only (`H + I`, `4 * H`); \
             declare the smaller dimension and build the larger one from it",
        ));
    }
    Ok(if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        DimAst::Sum(terms)
    })
}

fn parse_dim_product(input: ParseStream, depth: usize) -> syn::Result<DimAst> {
    let mut factors = vec![parse_dim_atom(input, depth)?];
    while input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        factors.push(parse_dim_atom(input, depth)?);
    }
    Ok(if factors.len() == 1 {
        factors.swap_remove(0)
    } else {
        DimAst::Product(factors)
    })
}

fn parse_dim_atom(input: ParseStream, depth: usize) -> syn::Result<DimAst> {
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        let value = lit.base10_parse::<u64>()?;
        Ok(DimAst::Lit(value, SpanRange::single(lit.span())))
    } else if input.peek(Ident) {
        Ok(DimAst::Name(input.parse()?))
    } else if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        if depth >= MAX_NESTING {
            return Err(syn::Error::new(
                paren.span.open(),
                format!(
                    "this dimension nests more than {MAX_NESTING} levels of parentheses; \
                     multiply them out (`2 * (H + I)` is `2 * H + 2 * I`)"
                ),
            ));
        }
        let dim = parse_dim_sum(&content, depth + 1)?;
        if !content.is_empty() {
            return Err(content.error("expected `)` after the dimension"));
        }
        Ok(dim)
    } else {
        Err(input.error("expected a dimension: an upper-case name (`H`), a number, or `H + I`, `4 * H`"))
    }
}

fn parse_number(input: ParseStream) -> syn::Result<(f64, SpanRange)> {
    let negative = if input.peek(Token![-]) {
        Some(input.parse::<Token![-]>()?.span)
    } else {
        None
    };
    let (value, span) = if input.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        (lit.base10_parse::<f64>()?, lit.span())
    } else if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        (lit.base10_parse::<f64>()?, lit.span())
    } else {
        return Err(input.error("expected a number, e.g. `0.5`"));
    };
    let range = SpanRange {
        first: negative.unwrap_or(span),
        last: span,
    };
    Ok((
        if negative.is_some() { -value } else { value },
        finite(value, range)?,
    ))
}

impl Parse for Stmt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            if input.peek(syn::token::Bracket) {
                let content;
                let bracket = bracketed!(content in input);
                let names = content.parse_terminated(Ident::parse, Token![,])?;
                input.parse::<Token![=]>()?;
                let expr = input.parse()?;
                input.parse::<Token![;]>()?;
                return Ok(Stmt::LetSplit {
                    names: names.into_iter().collect(),
                    pattern: SpanRange {
                        first: bracket.span.open(),
                        last: bracket.span.close(),
                    },
                    expr,
                });
            }
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let expr = input.parse()?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Let { name, expr })
        } else if input.peek(Ident) {
            let target: Ident = input.parse()?;
            if !input.peek(Token![=]) {
                return Err(input.error(format!(
                    "expected `=`: a step statement is `let name = ...;` or `{target} = ...;` (assigning a state)"
                )));
            }
            input.parse::<Token![=]>()?;
            let expr = input.parse()?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Assign { target, expr })
        } else {
            Err(input.error(
                "expected a step statement: `let name = ...;`, `let [a, b] = split(...);` or `state = ...;`",
            ))
        }
    }
}

impl Parse for Expr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        parse_sum(input, 0)
    }
}

/// `prod ((+ | -) prod)*`, kept flat: a chain of any length is one [`ExprKind::Sum`].
fn parse_sum(input: ParseStream, depth: usize) -> syn::Result<Expr> {
    let mut terms = vec![(false, parse_product(input, depth)?)];
    loop {
        let negative = if input.peek(Token![+]) {
            input.parse::<Token![+]>()?;
            false
        } else if input.peek(Token![-]) {
            input.parse::<Token![-]>()?;
            true
        } else {
            break;
        };
        terms.push((negative, parse_product(input, depth)?));
    }
    if input.peek(Token![/]) {
        return Err(input.error(
            "division is not part of the DSL: multiply by a constant (`0.5 * x`) or write an element-wise function",
        ));
    }
    if terms.len() == 1 {
        return Ok(terms.swap_remove(0).1);
    }
    let span = terms[0].1.span.to(terms[terms.len() - 1].1.span);
    Ok(Expr {
        kind: ExprKind::Sum(terms),
        span,
    })
}

/// `unary (* unary)*`, kept flat: a chain of any length is one [`ExprKind::Product`].
fn parse_product(input: ParseStream, depth: usize) -> syn::Result<Expr> {
    let mut factors = vec![parse_unary(input, depth)?];
    while input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        factors.push(parse_unary(input, depth)?);
    }
    if factors.len() == 1 {
        return Ok(factors.swap_remove(0));
    }
    let span = factors[0].span.to(factors[factors.len() - 1].span);
    Ok(Expr {
        kind: ExprKind::Product(factors),
        span,
    })
}

fn parse_unary(input: ParseStream, depth: usize) -> syn::Result<Expr> {
    if input.peek(Token![-]) {
        let minus = input.parse::<Token![-]>()?;
        let operand = parse_unary(input, deeper(depth, minus.span)?)?;
        let span = SpanRange::single(minus.span).to(operand.span);
        return Ok(Expr {
            kind: ExprKind::Neg(Box::new(operand)),
            span,
        });
    }
    parse_atom(input, depth)
}

/// `expr (sep expr)* sep?` inside a group (already one level deeper), separated by `;` (a
/// concatenation) or `,` (call arguments).
fn parse_list(input: ParseStream, depth: usize, semicolons: bool) -> syn::Result<Vec<Expr>> {
    let mut items = Vec::new();
    while !input.is_empty() {
        items.push(parse_sum(input, depth)?);
        if input.is_empty() {
            break;
        }
        if semicolons {
            input.parse::<Token![;]>()?;
        } else {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(items)
}

/// A number of the DSL must be finite: it becomes an `f64` literal in the generated code.
fn finite(value: f64, span: SpanRange) -> syn::Result<SpanRange> {
    if value.is_finite() {
        Ok(span)
    } else {
        Err(span.error("this number does not fit in an f64; write a finite constant"))
    }
}

fn parse_atom(input: ParseStream, depth: usize) -> syn::Result<Expr> {
    if input.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        let span = finite(lit.base10_parse()?, SpanRange::single(lit.span()))?;
        return Ok(Expr {
            kind: ExprKind::Lit(lit.base10_parse()?),
            span,
        });
    }
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        let span = finite(lit.base10_parse()?, SpanRange::single(lit.span()))?;
        return Ok(Expr {
            kind: ExprKind::Lit(lit.base10_parse()?),
            span,
        });
    }
    if input.peek(Ident) {
        let name: Ident = input.parse()?;
        if input.peek(syn::token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            let args = parse_list(&content, deeper(depth, name.span())?, false)?;
            return Ok(Expr {
                span: SpanRange {
                    first: name.span(),
                    last: paren.span.close(),
                },
                kind: ExprKind::Call(name, args),
            });
        }
        return Ok(Expr {
            span: SpanRange::single(name.span()),
            kind: ExprKind::Name(name),
        });
    }
    if input.peek(syn::token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        let inner = parse_sum(&content, deeper(depth, paren.span.open())?)?;
        if !content.is_empty() {
            return Err(content.error("expected `)`"));
        }
        return Ok(Expr {
            span: SpanRange {
                first: paren.span.open(),
                last: paren.span.close(),
            },
            kind: ExprKind::Paren(Box::new(inner)),
        });
    }
    if input.peek(syn::token::Bracket) {
        let content;
        let bracket = bracketed!(content in input);
        let parts = parse_list(&content, deeper(depth, bracket.span.open())?, true)?;
        let span = SpanRange {
            first: bracket.span.open(),
            last: bracket.span.close(),
        };
        if parts.len() < 2 {
            return Err(span.error("`[a; b]` stacks two or more vectors; separate them with `;`"));
        }
        return Ok(Expr {
            kind: ExprKind::Concat(parts),
            span,
        });
    }
    if input.is_empty() {
        return Err(input.error("expected an expression"));
    }
    let token: proc_macro2::TokenTree = input.fork().parse()?;
    Err(syn::Error::new(
        token.span(),
        "expected an expression: a name, a number, `f(...)`, `(...)` or `[a; b]`",
    ))
}
