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

use crate::ctxt::SpanRange;
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Token, Visibility, braced, bracketed, parenthesized};

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
    Add(Box<DimAst>, Box<DimAst>),
    Mul(Box<DimAst>, Box<DimAst>),
}

impl DimAst {
    pub fn span(&self) -> SpanRange {
        match self {
            DimAst::Lit(_, span) => *span,
            DimAst::Name(ident) => SpanRange::single(ident.span()),
            DimAst::Add(a, b) | DimAst::Mul(a, b) => a.span().to(b.span()),
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
}

pub struct Expr {
    pub kind: ExprKind,
    pub span: SpanRange,
}

pub enum ExprKind {
    Lit(f64),
    Name(Ident),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Call(Ident, Vec<Expr>),
    Concat(Vec<Expr>),
    Paren(Box<Expr>),
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
        dims.push(parse_dim_sum(&content)?);
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

fn parse_dim_sum(input: ParseStream) -> syn::Result<DimAst> {
    let mut left = parse_dim_product(input)?;
    while input.peek(Token![+]) {
        input.parse::<Token![+]>()?;
        let right = parse_dim_product(input)?;
        left = DimAst::Add(Box::new(left), Box::new(right));
    }
    if input.peek(Token![-]) || input.peek(Token![/]) {
        return Err(input.error(
            "dimension arithmetic has `+` and `*` only (`H + I`, `4 * H`); \
             declare the smaller dimension and build the larger one from it",
        ));
    }
    Ok(left)
}

fn parse_dim_product(input: ParseStream) -> syn::Result<DimAst> {
    let mut left = parse_dim_atom(input)?;
    while input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        let right = parse_dim_atom(input)?;
        left = DimAst::Mul(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_dim_atom(input: ParseStream) -> syn::Result<DimAst> {
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        let value = lit.base10_parse::<u64>()?;
        Ok(DimAst::Lit(value, SpanRange::single(lit.span())))
    } else if input.peek(Ident) {
        Ok(DimAst::Name(input.parse()?))
    } else if input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        let dim = parse_dim_sum(&content)?;
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
        parse_sum(input)
    }
}

fn parse_sum(input: ParseStream) -> syn::Result<Expr> {
    let mut left = parse_product(input)?;
    loop {
        let op = if input.peek(Token![+]) {
            input.parse::<Token![+]>()?;
            BinOp::Add
        } else if input.peek(Token![-]) {
            input.parse::<Token![-]>()?;
            BinOp::Sub
        } else {
            break;
        };
        let right = parse_product(input)?;
        let span = left.span.to(right.span);
        left = Expr {
            kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
            span,
        };
    }
    if input.peek(Token![/]) {
        return Err(input.error(
            "division is not part of the DSL: multiply by a constant (`0.5 * x`) or write an element-wise function",
        ));
    }
    Ok(left)
}

fn parse_product(input: ParseStream) -> syn::Result<Expr> {
    let mut left = parse_unary(input)?;
    while input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        let right = parse_unary(input)?;
        let span = left.span.to(right.span);
        left = Expr {
            kind: ExprKind::Binary(BinOp::Mul, Box::new(left), Box::new(right)),
            span,
        };
    }
    Ok(left)
}

fn parse_unary(input: ParseStream) -> syn::Result<Expr> {
    if input.peek(Token![-]) {
        let minus = input.parse::<Token![-]>()?;
        let operand = parse_unary(input)?;
        let span = SpanRange::single(minus.span).to(operand.span);
        return Ok(Expr {
            kind: ExprKind::Neg(Box::new(operand)),
            span,
        });
    }
    parse_atom(input)
}

/// A number of the DSL must be finite: it becomes an `f64` literal in the generated code.
fn finite(value: f64, span: SpanRange) -> syn::Result<SpanRange> {
    if value.is_finite() {
        Ok(span)
    } else {
        Err(span.error("this number does not fit in an f64; write a finite constant"))
    }
}

fn parse_atom(input: ParseStream) -> syn::Result<Expr> {
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
            let args = content.parse_terminated(Expr::parse, Token![,])?;
            return Ok(Expr {
                span: SpanRange {
                    first: name.span(),
                    last: paren.span.close(),
                },
                kind: ExprKind::Call(name, args.into_iter().collect()),
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
        let inner: Expr = content.parse()?;
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
        let parts = content.parse_terminated(Expr::parse, Token![;])?;
        let span = SpanRange {
            first: bracket.span.open(),
            last: bracket.span.close(),
        };
        if parts.len() < 2 {
            return Err(span.error("`[a; b]` stacks two or more vectors; separate them with `;`"));
        }
        return Ok(Expr {
            kind: ExprKind::Concat(parts.into_iter().collect()),
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
