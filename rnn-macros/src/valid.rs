//! Stage 2: structural checks on the syntax tree. Every problem is collected in the [`Ctxt`],
//! so one expansion reports all of them. Name resolution inside expressions and shape checks
//! happen in [`crate::lower`], which also collects.

use crate::ast::{CellDef, Expr, ExprKind, Stmt};
use crate::ctxt::{Ctxt, SpanRange};
use crate::ir::Builtin;
use std::collections::{HashMap, HashSet};
use syn::Ident;

pub fn check(cell: &CellDef, cx: &mut Ctxt) {
    check_sections(cell, cx);
    check_names(cell, cx);
    check_shapes(cell, cx);
    check_statements(cell, cx);
    check_usage(cell, cx);
}

fn check_sections(cell: &CellDef, cx: &mut Ctxt) {
    let body = SpanRange::single(cell.body_span);
    if cell.inputs.is_empty() {
        cx.error_at(
            body,
            format!(
                "cell `{}` declares no input; add one, e.g. `input x[I];`",
                cell.name
            ),
        );
    }
    if cell.states.is_empty() {
        cx.error_at(
            body,
            format!(
                "cell `{}` declares no state; add one, e.g. `state h[H];`",
                cell.name
            ),
        );
    }
    match cell.steps.len() {
        0 => cx.error_at(
            body,
            format!(
                "cell `{}` has no `step {{ ... }}` block; add one that assigns every state",
                cell.name
            ),
        ),
        1 => {}
        _ => {
            for extra in &cell.steps[1..] {
                cx.error_at(
                    extra.span,
                    "a cell has exactly one `step` block; merge the statements into the first",
                );
            }
        }
    }
    for extra in cell.outputs.iter().skip(1) {
        cx.error_at(
            SpanRange::single(extra.span()),
            "a cell has at most one `output` line",
        );
    }
    if let Some(output) = cell.outputs.first()
        && !cell.states.iter().any(|state| state.name == *output)
    {
        {
            cx.error_at(
                SpanRange::single(output.span()),
                format!("`output {output};` must name a declared state"),
            );
        }
    }
    for hyper in &cell.hypers {
        if hyper.default.is_none() {
            cx.error_at(
                SpanRange::single(hyper.name.span()),
                format!(
                    "hyper-parameter `{}` needs a default value, e.g. `hyper {} = 0.5;` (set the field to change it)",
                    hyper.name, hyper.name
                ),
            );
        }
    }
}

fn declared_names(cell: &CellDef) -> Vec<(&Ident, &'static str)> {
    let mut names = Vec::new();
    names.extend(cell.inputs.iter().map(|t| (&t.name, "input")));
    names.extend(cell.states.iter().map(|t| (&t.name, "state")));
    names.extend(cell.params.iter().map(|t| (&t.name, "param")));
    names.extend(cell.hypers.iter().map(|h| (&h.name, "hyper-parameter")));
    names.extend(cell.funcs.iter().map(|f| (&f.name, "function")));
    names
}

fn check_names(cell: &CellDef, cx: &mut Ctxt) {
    let mut seen: HashMap<String, &'static str> = HashMap::new();
    for (name, role) in declared_names(cell) {
        let text = name.to_string();
        if text == "dims" || text.starts_with("__") {
            cx.error_at(
                SpanRange::single(name.span()),
                format!("`{name}` is reserved for the generated code; give this {role} another name"),
            );
        }
        if let Some(previous) = seen.get(&name.to_string()) {
            cx.error_at(
                SpanRange::single(name.span()),
                format!(
                    "`{name}` is already declared as {} {previous}; give this {role} another name",
                    article(previous)
                ),
            );
        } else {
            seen.insert(name.to_string(), role);
        }
        if role == "function" && Builtin::from_name(&name.to_string()).is_some() {
            cx.error_at(
                SpanRange::single(name.span()),
                format!("`{name}` is a built-in function; give the element-wise function another name"),
            );
        }
        if role == "function" && name == "split" {
            cx.error_at(
                SpanRange::single(name.span()),
                "`split` is reserved; give the function another name",
            );
        }
    }
    for step in &cell.steps {
        for stmt in &step.stmts {
            let bound: Vec<&Ident> = match stmt {
                Stmt::Let { name, .. } => vec![name],
                Stmt::LetSplit { names, .. } => names.iter().collect(),
                Stmt::Assign { .. } => Vec::new(),
            };
            for name in bound {
                if let Some(previous) = seen.get(&name.to_string()) {
                    cx.error_at(
                        SpanRange::single(name.span()),
                        format!(
                            "`{name}` is already {} {previous}; `let` needs a fresh name",
                            article(previous)
                        ),
                    );
                } else {
                    seen.insert(name.to_string(), "`let` binding");
                }
            }
        }
    }
}

fn article(role: &str) -> &'static str {
    if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn check_shapes(cell: &CellDef, cx: &mut Ctxt) {
    for (tensors, role) in [(&cell.inputs, "input"), (&cell.states, "state")] {
        for tensor in tensors {
            let vector = tensor.shape.as_ref().is_some_and(|shape| shape.dims.len() == 1);
            if !vector {
                let span = tensor
                    .shape
                    .as_ref()
                    .map_or(SpanRange::single(tensor.name.span()), |shape| shape.span);
                cx.error_at(
                    span,
                    format!(
                        "{role} `{}` must be a vector with one dimension, e.g. `{}[H]`",
                        tensor.name, tensor.name
                    ),
                );
            }
        }
    }
    let shapes = cell
        .inputs
        .iter()
        .chain(&cell.states)
        .chain(&cell.params)
        .filter_map(|t| t.shape.as_ref())
        .chain(cell.hypers.iter().filter_map(|h| h.shape.as_ref()));
    for shape in shapes {
        for dim in &shape.dims {
            check_dim_names(dim, cx);
        }
    }
}

fn check_dim_names(dim: &crate::ast::DimAst, cx: &mut Ctxt) {
    use crate::ast::DimAst;
    match dim {
        DimAst::Lit(value, span) => {
            if *value == 0 {
                cx.error_at(*span, "a dimension of size 0 holds nothing; use a positive size");
            }
        }
        DimAst::Name(name) => {
            let upper = name
                .to_string()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase());
            if !upper {
                cx.error_at(
                    SpanRange::single(name.span()),
                    format!(
                        "dimension `{name}` must start with an upper-case letter (dimensions are sizes like `H`, `I`)"
                    ),
                );
            }
        }
        DimAst::Sum(parts) | DimAst::Product(parts) => {
            for part in parts {
                check_dim_names(part, cx);
            }
        }
    }
}

fn check_statements(cell: &CellDef, cx: &mut Ctxt) {
    let states: HashSet<String> = cell.states.iter().map(|s| s.name.to_string()).collect();
    let inputs: HashSet<String> = cell.inputs.iter().map(|s| s.name.to_string()).collect();
    let params: HashSet<String> = cell.params.iter().map(|s| s.name.to_string()).collect();
    let hypers: HashSet<String> = cell.hypers.iter().map(|s| s.name.to_string()).collect();
    let mut lets: HashSet<String> = HashSet::new();
    let mut assigned: HashSet<String> = HashSet::new();
    for step in &cell.steps {
        for stmt in &step.stmts {
            match stmt {
                Stmt::Let { name, expr } => {
                    check_split_calls(expr, cx);
                    lets.insert(name.to_string());
                }
                Stmt::LetSplit { names, pattern, expr } => {
                    match &expr.kind {
                        ExprKind::Call(function, args) if function == "split" => {
                            if args.len() != 1 {
                                cx.error_at(
                                    expr.span,
                                    "`split` takes one vector: `let [a, b] = split(w * x);`",
                                );
                            }
                            for arg in args {
                                check_split_calls(arg, cx);
                            }
                        }
                        _ => cx.error_at(
                            expr.span,
                            "`let [a, b, ...] = ...` destructures the blocks of `split(...)`; write `split(...)` here",
                        ),
                    }
                    if names.is_empty() {
                        cx.error_at(
                            *pattern,
                            "this pattern names no block: `split` cuts a vector into two or more blocks, \
                             one name each: `let [a, b] = split(...);`",
                        );
                    } else if names.len() < 2 {
                        cx.error_at(*pattern, "`split` cuts a vector into two or more blocks: name at least two, `let [a, b] = split(...);`");
                    }
                    lets.extend(names.iter().map(ToString::to_string));
                }
                Stmt::Assign { target, expr } => {
                    check_split_calls(expr, cx);
                    let key = target.to_string();
                    let span = SpanRange::single(target.span());
                    if states.contains(&key) {
                        if !assigned.insert(key) {
                            cx.error_at(
                                span,
                                format!(
                                    "state `{target}` is assigned twice; every state is assigned exactly once per step \
                                     (bind intermediate values with `let`)"
                                ),
                            );
                        }
                    } else if inputs.contains(&key) {
                        cx.error_at(span, format!("cannot assign to input `{target}`: inputs are read-only; bind a new value with `let {target}_new = ...;`"));
                    } else if params.contains(&key) {
                        cx.error_at(span, format!("cannot assign to param `{target}`: parameters change only through training; bind a new value with `let`"));
                    } else if hypers.contains(&key) {
                        cx.error_at(span, format!("cannot assign to hyper-parameter `{target}`: it is fixed during the step; bind a new value with `let`"));
                    } else if lets.contains(&key) {
                        cx.error_at(span, format!("`{target}` is a `let` binding and cannot be reassigned; only states are assigned"));
                    } else {
                        cx.error_at(span, format!("cannot assign to `{target}`: it is not a declared state; declare it with `state {target}[H];` or use `let {target} = ...;`"));
                    }
                }
            }
        }
    }
    if cell.steps.len() == 1 {
        for state in &cell.states {
            if !assigned.contains(&state.name.to_string()) {
                cx.error_at(
                    SpanRange::single(state.name.span()),
                    format!(
                        "state `{}` is never assigned in `step`; add `{} = ...;` (write `{} = {};` to keep it unchanged)",
                        state.name, state.name, state.name, state.name
                    ),
                );
            }
        }
    }
}

fn check_split_calls(expr: &Expr, cx: &mut Ctxt) {
    visit(expr, &mut |e| {
        if let ExprKind::Call(function, _) = &e.kind
            && function == "split"
        {
            {
                cx.error_at(
                    e.span,
                    "`split(...)` cuts a vector into blocks and must be destructured: `let [a, b] = split(...);`",
                );
            }
        }
    });
}

fn check_usage(cell: &CellDef, cx: &mut Ctxt) {
    let mut used: HashSet<String> = HashSet::new();
    for step in &cell.steps {
        for stmt in &step.stmts {
            let expr = match stmt {
                Stmt::Let { expr, .. } | Stmt::LetSplit { expr, .. } | Stmt::Assign { expr, .. } => expr,
            };
            visit(expr, &mut |e| match &e.kind {
                ExprKind::Name(name) => {
                    used.insert(name.to_string());
                }
                ExprKind::Call(name, _) => {
                    used.insert(name.to_string());
                }
                _ => {}
            });
        }
    }
    if cell.steps.is_empty() {
        return;
    }
    for param in &cell.params {
        if !used.contains(&param.name.to_string()) {
            cx.error_at(
                SpanRange::single(param.name.span()),
                format!(
                    "param `{}` is never used in `step`; remove it or use it (an unused parameter would get a zero gradient forever)",
                    param.name
                ),
            );
        }
    }
    for hyper in &cell.hypers {
        if !used.contains(&hyper.name.to_string()) {
            cx.error_at(
                SpanRange::single(hyper.name.span()),
                format!(
                    "hyper-parameter `{}` is never used in `step`; remove it or use it",
                    hyper.name
                ),
            );
        }
    }
    for func in &cell.funcs {
        if !used.contains(&func.name.to_string()) {
            cx.error_at(
                SpanRange::single(func.name.span()),
                format!(
                    "function `{}` is never used in `step`; remove it or call it",
                    func.name
                ),
            );
        }
    }
}

/// Calls `f` on every sub-expression, parents first (recursing only into nested expressions,
/// at most [`crate::ast::MAX_NESTING`] deep).
pub fn visit(expr: &Expr, f: &mut impl FnMut(&Expr)) {
    f(expr);
    match &expr.kind {
        ExprKind::Lit(_) | ExprKind::Name(_) => {}
        ExprKind::Sum(terms) => terms.iter().for_each(|(_, term)| visit(term, f)),
        ExprKind::Product(factors) => factors.iter().for_each(|a| visit(a, f)),
        ExprKind::Neg(a) | ExprKind::Paren(a) => visit(a, f),
        ExprKind::Call(_, args) => args.iter().for_each(|a| visit(a, f)),
        ExprKind::Concat(parts) => parts.iter().for_each(|a| visit(a, f)),
    }
}
