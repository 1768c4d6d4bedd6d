//! Stage 3: lowering the checked syntax tree to the shaped IR. Names are resolved in statement
//! order, every node gets a symbolic [`Kind`], and shape errors are collected with both shapes
//! in the message. Sums are re-associated so that state-independent terms come first: that is
//! what lets `w_hh * h + w_hx * x + b` hoist `w_hx * x + b` out of the time loop.

use crate::ast::{CellDef, DimAst, Expr, ExprKind, ShapeAst, Stmt};
use crate::ctxt::{Ctxt, SpanRange};
use crate::dims::{Dim, normalise};
use crate::ir::{Builtin, CellIr, Dep, Func, Hyper, Kind, Node, NodeId, Op, Tensor};
use std::collections::HashMap;
use syn::Ident;

#[derive(Clone, Copy)]
enum Binding {
    Node(NodeId),
    Leaf(LeafRef),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum LeafRef {
    Input(usize),
    State(usize),
    Param(usize),
    Hyper(usize),
}

struct Lowerer<'a> {
    cell: &'a CellDef,
    cx: &'a mut Ctxt,
    nodes: Vec<Node>,
    leaves: HashMap<LeafRef, NodeId>,
    env: HashMap<String, Binding>,
    inputs: Vec<Tensor>,
    states: Vec<Tensor>,
    params: Vec<Tensor>,
    hypers: Vec<Hyper>,
}

pub fn lower(cell: &CellDef, cx: &mut Ctxt) -> Option<CellIr> {
    let mut dims = Vec::new();
    let mut shape_kind = |shape: &Option<ShapeAst>, batched: bool, cx: &mut Ctxt| -> Kind {
        let Some(shape) = shape else {
            return Kind::Scalar;
        };
        let mut normal = Vec::new();
        for dim in &shape.dims {
            collect_dim_names(dim, &mut dims);
            match normalise(dim) {
                Ok(d) => normal.push(d),
                Err(error) => {
                    cx.push(error);
                    return Kind::Error;
                }
            }
        }
        match normal.as_slice() {
            [len] => Kind::Vector {
                len: len.clone(),
                batched,
            },
            [rows, cols] => Kind::Matrix {
                rows: rows.clone(),
                cols: cols.clone(),
            },
            _ => Kind::Error,
        }
    };
    let mut tensors = |decls: &[crate::ast::TensorDecl], batched: bool, cx: &mut Ctxt| -> Vec<Tensor> {
        decls
            .iter()
            .map(|decl| Tensor {
                docs: decl.docs.clone(),
                name: decl.name.clone(),
                kind: shape_kind(&decl.shape, batched, cx),
            })
            .collect()
    };
    let inputs = tensors(&cell.inputs, true, cx);
    let states = tensors(&cell.states, true, cx);
    let params = tensors(&cell.params, false, cx);
    let hypers: Vec<Hyper> = cell
        .hypers
        .iter()
        .map(|decl| Hyper {
            docs: decl.docs.clone(),
            name: decl.name.clone(),
            kind: shape_kind(&decl.shape, false, cx),
            default: decl.default.map_or(0.0, |(value, _)| value),
        })
        .collect();

    let mut env = HashMap::new();
    for (k, t) in inputs.iter().enumerate() {
        env.entry(t.name.to_string())
            .or_insert(Binding::Leaf(LeafRef::Input(k)));
    }
    for (k, t) in states.iter().enumerate() {
        env.entry(t.name.to_string())
            .or_insert(Binding::Leaf(LeafRef::State(k)));
    }
    for (k, t) in params.iter().enumerate() {
        env.entry(t.name.to_string())
            .or_insert(Binding::Leaf(LeafRef::Param(k)));
    }
    for (k, h) in hypers.iter().enumerate() {
        env.entry(h.name.to_string())
            .or_insert(Binding::Leaf(LeafRef::Hyper(k)));
    }
    let mut lowerer = Lowerer {
        cell,
        cx,
        nodes: Vec::new(),
        leaves: HashMap::new(),
        env,
        inputs,
        states,
        params,
        hypers,
    };
    let mut assigns: Vec<Option<NodeId>> = vec![None; lowerer.states.len()];
    for step in cell.steps.iter().take(1) {
        for stmt in &step.stmts {
            lowerer.statement(stmt, &mut assigns);
        }
    }
    let output = cell
        .outputs
        .first()
        .and_then(|name| lowerer.states.iter().position(|s| s.name == *name))
        .unwrap_or(0);
    if lowerer.cx.has_errors() {
        return None;
    }
    let assigns: Option<Vec<NodeId>> = assigns.into_iter().collect();
    Some(CellIr {
        attrs: cell.attrs.clone(),
        vis: cell.vis.clone(),
        name: cell.name.clone(),
        dims,
        inputs: lowerer.inputs,
        states: lowerer.states,
        params: lowerer.params,
        hypers: lowerer.hypers,
        funcs: cell.funcs.iter().map(|f| f.path.clone()).collect(),
        func_names: cell.funcs.iter().map(|f| f.name.to_string()).collect(),
        output,
        nodes: lowerer.nodes,
        assigns: assigns?,
    })
}

fn collect_dim_names(dim: &DimAst, out: &mut Vec<String>) {
    match dim {
        DimAst::Lit(..) => {}
        DimAst::Name(name) => {
            let name = name.to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
        DimAst::Sum(parts) | DimAst::Product(parts) => {
            for part in parts {
                collect_dim_names(part, out);
            }
        }
    }
}

impl Lowerer<'_> {
    fn push(&mut self, op: Op, kind: Kind, span: SpanRange) -> NodeId {
        let operands = op.operands();
        let (dep, active) = match &op {
            Op::Input(_) => (Dep::Input, true),
            Op::State(_) => (Dep::State, true),
            Op::Param(_) => (Dep::Const, true),
            Op::Hyper(_) | Op::Lit(_) => (Dep::Const, false),
            _ => (
                operands
                    .iter()
                    .map(|&o| self.nodes[o].dep)
                    .max()
                    .unwrap_or(Dep::Const),
                operands.iter().any(|&o| self.nodes[o].active),
            ),
        };
        self.nodes.push(Node {
            op,
            kind,
            dep,
            active,
            span,
            label: None,
        });
        self.nodes.len() - 1
    }

    fn leaf(&mut self, leaf: LeafRef, span: SpanRange) -> NodeId {
        if let Some(&id) = self.leaves.get(&leaf) {
            return id;
        }
        let (op, kind) = match leaf {
            LeafRef::Input(k) => (Op::Input(k), self.inputs[k].kind.clone()),
            LeafRef::State(k) => (Op::State(k), self.states[k].kind.clone()),
            LeafRef::Param(k) => (Op::Param(k), self.params[k].kind.clone()),
            LeafRef::Hyper(k) => (Op::Hyper(k), self.hypers[k].kind.clone()),
        };
        let id = self.push(op, kind, span);
        self.leaves.insert(leaf, id);
        id
    }

    fn statement(&mut self, stmt: &Stmt, assigns: &mut [Option<NodeId>]) {
        match stmt {
            Stmt::Let { name, expr } => {
                let id = self.expr(expr);
                self.bind(name, id);
            }
            Stmt::LetSplit { names, expr, .. } => {
                let ExprKind::Call(_, args) = &expr.kind else {
                    return;
                };
                let [arg] = args.as_slice() else {
                    return;
                };
                let source = self.expr(arg);
                if names.is_empty() {
                    // Reported by `valid`: the pattern names no block.
                    return;
                }
                let parts = names.len();
                let block_kind = match &self.nodes[source].kind {
                    Kind::Vector { len, batched } => match len.divide(parts as u64) {
                        Some(block) => Kind::Vector {
                            len: block,
                            batched: *batched,
                        },
                        None => {
                            self.cx.error_at(arg.span, split_hint(arg, len, parts));
                            Kind::Error
                        }
                    },
                    Kind::Error => Kind::Error,
                    other => {
                        self.cx.error_at(
                            arg.span,
                            format!(
                                "`split` cuts a vector into blocks, but this is {}",
                                other.describe()
                            ),
                        );
                        Kind::Error
                    }
                };
                for (index, name) in names.iter().enumerate() {
                    let id = self.push(
                        Op::Block { source, index, parts },
                        block_kind.clone(),
                        SpanRange::single(name.span()),
                    );
                    self.bind(name, id);
                }
            }
            Stmt::Assign { target, expr } => {
                let id = self.expr(expr);
                let Some(k) = self.states.iter().position(|s| s.name == *target) else {
                    return;
                };
                if assigns[k].is_some() {
                    return;
                }
                assigns[k] = Some(id);
                self.env.insert(target.to_string(), Binding::Node(id));
                self.label(target, id);
                let expected = self.states[k].kind.clone();
                let node = &self.nodes[id];
                match (&node.kind, &expected) {
                    (Kind::Error, _) | (_, Kind::Error) => {}
                    (Kind::Vector { len, batched }, Kind::Vector { len: state_len, .. })
                        if len == state_len =>
                    {
                        if !batched {
                            self.cx.error_at(
                                expr.span,
                                format!(
                                    "state `{target}` would get a value that depends on no input and no state \
                                     (only on parameters); a recurrent state must depend on the sequence"
                                ),
                            );
                        }
                    }
                    (found, _) => {
                        self.cx.error_at(
                            expr.span,
                            format!(
                                "shape mismatch: state `{target}` is {} but this expression is {}",
                                expected.describe(),
                                found.describe()
                            ),
                        );
                    }
                }
            }
        }
    }

    fn bind(&mut self, name: &Ident, id: NodeId) {
        self.env.insert(name.to_string(), Binding::Node(id));
        self.label(name, id);
    }

    /// Names a computed value after the first name the step gives it (leaves keep their
    /// declared names).
    fn label(&mut self, name: &Ident, id: NodeId) {
        let node = &mut self.nodes[id];
        let leaf = matches!(
            node.op,
            Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_)
        );
        if !leaf && node.label.is_none() {
            node.label = Some(name.to_string());
        }
    }

    fn error_node(&mut self, span: SpanRange) -> NodeId {
        self.push(Op::Lit(0.0), Kind::Error, span)
    }

    fn expr(&mut self, expr: &Expr) -> NodeId {
        match &expr.kind {
            ExprKind::Lit(value) => self.push(Op::Lit(*value), Kind::Scalar, expr.span),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Name(name) => match self.env.get(&name.to_string()).copied() {
                Some(Binding::Node(id)) => id,
                Some(Binding::Leaf(leaf)) => self.leaf(leaf, expr.span),
                None => {
                    let is_func = self.cell.funcs.iter().any(|f| f.name == *name)
                        || Builtin::from_name(&name.to_string()).is_some();
                    let message = if is_func {
                        format!("`{name}` is a function; call it on a value: `{name}(...)`")
                    } else if self
                        .cell
                        .steps
                        .iter()
                        .flat_map(|s| &s.stmts)
                        .any(|s| binds(s, name))
                    {
                        format!(
                            "`{name}` is used before its `let`; statements run in order, move the `let` up"
                        )
                    } else {
                        format!(
                            "unknown name `{name}`; declare it (`input`, `state`, `param`, `hyper`) or bind it with `let {name} = ...;`"
                        )
                    };
                    self.cx.error_at(expr.span, message);
                    self.error_node(expr.span)
                }
            },
            ExprKind::Neg(inner) => self.neg(expr, inner, None),
            ExprKind::Product(factors) => self.product_chain(factors),
            ExprKind::Sum(_) => self.sum(expr),
            ExprKind::Call(name, args) => self.call(name, args, expr.span),
            ExprKind::Concat(parts) => {
                let ids: Vec<NodeId> = parts.iter().map(|p| self.expr(p)).collect();
                let mut len = Some(Dim::constant(0));
                let mut batched = false;
                for (part, &id) in parts.iter().zip(&ids) {
                    match &self.nodes[id].kind {
                        Kind::Vector { len: l, batched: b } => {
                            len = len.and_then(|total| total.add(l));
                            batched |= *b;
                        }
                        Kind::Error => len = None,
                        other => {
                            self.cx.error_at(
                                part.span,
                                format!("`[a; b]` stacks vectors, but this part is {}", other.describe()),
                            );
                            len = None;
                        }
                    }
                }
                let kind = len.map_or(Kind::Error, |len| Kind::Vector { len, batched });
                self.push(Op::Concat(ids), kind, expr.span)
            }
        }
    }

    fn matrix_misuse(&mut self, span: SpanRange, id: NodeId) {
        let kind = self.nodes[id].kind.describe();
        self.cx.error_at(
            span,
            format!("this is {kind}; a matrix can only be the left operand of `*` with a vector (`w * x`)"),
        );
    }

    /// `-inner`. A matrix cannot be negated; when the negation is a factor of a product and a
    /// factor follows it (`-w * x`), the hint is the negated product.
    fn neg(&mut self, expr: &Expr, inner: &Expr, next: Option<&Expr>) -> NodeId {
        let a = self.expr(inner);
        let kind = match &self.nodes[a].kind {
            Kind::Matrix { .. } => {
                match next {
                    Some(next) => {
                        let kind = self.nodes[a].kind.describe();
                        self.cx.error_at(
                            expr.span,
                            format!(
                                "`-{inner} * {next}` is `(-{inner}) * {next}`, and `{inner}` is {kind}, which \
                                 cannot be negated (a matrix only multiplies the vector on its right); \
                                 write `-({inner} * {next})`"
                            ),
                        );
                    }
                    None => self.matrix_misuse(inner.span, a),
                }
                Kind::Error
            }
            other => other.clone(),
        };
        self.push(Op::Neg(a), kind, expr.span)
    }

    /// `f0 * f1 * ...`, multiplied left to right (a loop: a chain of any length costs no stack).
    fn product_chain(&mut self, factors: &[Expr]) -> NodeId {
        let factor = |this: &mut Self, k: usize| -> NodeId {
            match &factors[k].kind {
                ExprKind::Neg(inner) => this.neg(&factors[k], inner, factors.get(k + 1)),
                _ => this.expr(&factors[k]),
            }
        };
        let mut acc = factor(self, 0);
        for k in 1..factors.len() {
            let b = factor(self, k);
            acc = self.product(acc, b, factors, k);
        }
        acc
    }

    /// The product of `a`, the value of `factors[..k]`, and `b`, the value of `factors[k]`.
    fn product(&mut self, a: NodeId, b: NodeId, factors: &[Expr], k: usize) -> NodeId {
        let span = factors[0].span.to(factors[k].span);
        let b_expr = &factors[k];
        let a_text = if k == 1 {
            self.text(&factors[0])
        } else {
            "the expression".to_owned()
        };
        let (ka, kb) = (self.nodes[a].kind.clone(), self.nodes[b].kind.clone());
        let (op, kind) = match (&ka, &kb) {
            (Kind::Error, _) | (_, Kind::Error) => (Op::Mul(a, b), Kind::Error),
            (Kind::Matrix { rows, cols }, Kind::Vector { len, batched }) => {
                if cols == len {
                    (
                        Op::MatVec(a, b),
                        Kind::Vector {
                            len: rows.clone(),
                            batched: *batched,
                        },
                    )
                } else {
                    self.cx.error_at(
                        span,
                        format!(
                            "shape mismatch in `*`: the matrix is [{rows}, {cols}] but the vector has length {len}; \
                             a matrix [R, C] multiplies a vector of length C"
                        ),
                    );
                    (Op::MatVec(a, b), Kind::Error)
                }
            }
            (Kind::Matrix { .. }, _) => {
                self.cx.error_at(
                    span,
                    format!(
                        "a matrix can only multiply a vector, but the right operand is {}",
                        kb.describe()
                    ),
                );
                (Op::Mul(a, b), Kind::Error)
            }
            (_, Kind::Matrix { .. }) => {
                // `*` is left-associative: `2 * w * x` is `(2 * w) * x`, a scalar times a matrix.
                let message = match factors.get(k + 1) {
                    Some(next) => {
                        let left: Vec<String> = factors[..k].iter().map(ToString::to_string).collect();
                        let left = left.join(" * ");
                        format!(
                            "`{left} * {b_expr} * {next}` is `({left} * {b_expr}) * {next}`, and {} cannot \
                             multiply a matrix (a matrix only multiplies the vector on its right); \
                             write `{left} * ({b_expr} * {next})`",
                            ka.describe(),
                        )
                    }
                    None => format!(
                        "{} cannot multiply a matrix; a matrix can only be the left operand of `*` with a vector (`w * x`)",
                        ka.describe()
                    ),
                };
                self.cx.error_at(b_expr.span, message);
                (Op::Mul(a, b), Kind::Error)
            }
            _ => match self.broadcast(&ka, &kb) {
                Some(kind) => (Op::Mul(a, b), kind),
                None => {
                    self.cx.error_at(
                        span,
                        format!(
                            "shape mismatch in `*`: `{}` is {} but `{}` is {}; element-wise products need equal lengths",
                            a_text,
                            ka.describe(),
                            self.text(b_expr),
                            kb.describe()
                        ),
                    );
                    (Op::Mul(a, b), Kind::Error)
                }
            },
        };
        self.push(op, kind, span)
    }

    /// The kind of an element-wise combination of `a` and `b` (scalars broadcast), if compatible.
    fn broadcast(&self, a: &Kind, b: &Kind) -> Option<Kind> {
        match (a, b) {
            (Kind::Scalar, Kind::Scalar) => Some(Kind::Scalar),
            (Kind::Scalar, v @ Kind::Vector { .. }) | (v @ Kind::Vector { .. }, Kind::Scalar) => {
                Some(v.clone())
            }
            (Kind::Vector { len: la, batched: ba }, Kind::Vector { len: lb, batched: bb }) if la == lb => {
                Some(Kind::Vector {
                    len: la.clone(),
                    batched: *ba || *bb,
                })
            }
            _ => None,
        }
    }

    fn text(&self, expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Name(name) => name.to_string(),
            _ => "the expression".to_owned(),
        }
    }

    /// Lowers a chain of `+`/`-`: terms are type-checked left to right, then emitted with the
    /// state-independent terms first.
    fn sum(&mut self, expr: &Expr) -> NodeId {
        let mut terms: Vec<(bool, &Expr)> = Vec::new();
        if let ExprKind::Sum(chain) = &expr.kind {
            flatten_sum(chain, false, &mut terms);
        } else {
            terms.push((false, expr));
        }
        let ids: Vec<NodeId> = terms.iter().map(|(_, e)| self.expr(e)).collect();
        let mut kind = Kind::Error;
        let mut ok = true;
        for (position, ((negative, term), &id)) in terms.iter().zip(&ids).enumerate() {
            let term_kind = self.nodes[id].kind.clone();
            if let Kind::Matrix { .. } = term_kind {
                self.matrix_misuse(term.span, id);
                ok = false;
                continue;
            }
            if term_kind == Kind::Error {
                ok = false;
                continue;
            }
            if position == 0 || kind == Kind::Error {
                kind = term_kind;
                continue;
            }
            match self.broadcast(&kind, &term_kind) {
                Some(k) => kind = k,
                None => {
                    let op = if *negative { "-" } else { "+" };
                    self.cx.error_at(
                        terms[0].1.span.to(term.span),
                        format!(
                            "shape mismatch in `{op}`: the left side is {} but `{}` is {}",
                            kind.describe(),
                            self.text(term),
                            term_kind.describe()
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return self.error_node(expr.span);
        }
        // Stable order: input-dependent, then constant, then state-dependent terms.
        let rank = |dep: Dep| match dep {
            Dep::Input => 0,
            Dep::Const => 1,
            Dep::State => 2,
        };
        let mut order: Vec<usize> = (0..terms.len()).collect();
        order.sort_by_key(|&k| rank(self.nodes[ids[k]].dep));
        let mut acc: Option<NodeId> = None;
        for k in order {
            let (negative, term) = terms[k];
            let id = ids[k];
            let next = match acc {
                None if negative => {
                    let kind = self.nodes[id].kind.clone();
                    self.push(Op::Neg(id), kind, term.span)
                }
                None => id,
                Some(left) => {
                    let kind = self
                        .broadcast(&self.nodes[left].kind, &self.nodes[id].kind)
                        .unwrap_or(Kind::Error);
                    let op = if negative {
                        Op::Sub(left, id)
                    } else {
                        Op::Add(left, id)
                    };
                    self.push(op, kind, expr.span)
                }
            };
            acc = Some(next);
        }
        acc.unwrap_or_else(|| self.error_node(expr.span))
    }

    fn call(&mut self, name: &Ident, args: &[Expr], span: SpanRange) -> NodeId {
        let func = if let Some(builtin) = Builtin::from_name(&name.to_string()) {
            Some(Func::Builtin(builtin))
        } else {
            self.cell
                .funcs
                .iter()
                .position(|f| f.name == *name)
                .map(Func::User)
        };
        let ids: Vec<NodeId> = args.iter().map(|a| self.expr(a)).collect();
        let Some(func) = func else {
            if name == "split" {
                // Reported by `valid`: `split` outside `let [a, b] = split(...)`.
                return self.error_node(span);
            }
            let message = {
                format!(
                    "unknown function `{name}`; the built-in ones are {}, and element-wise functions of your own \
                     are declared with `fn {name} = path::to::Type;` (a type implementing `rnn_core::Activation`)",
                    Builtin::NAMES
                )
            };
            self.cx.error_at(SpanRange::single(name.span()), message);
            return self.error_node(span);
        };
        let [arg] = ids.as_slice() else {
            self.cx.error_at(
                span,
                format!("`{name}` is applied element-wise to one value: `{name}(x)`, but it was given {} arguments", ids.len()),
            );
            return self.error_node(span);
        };
        let kind = match &self.nodes[*arg].kind {
            Kind::Matrix { .. } => {
                self.matrix_misuse(args[0].span, *arg);
                Kind::Error
            }
            other => other.clone(),
        };
        self.push(Op::Apply(func, *arg), kind, span)
    }
}

/// Why `split(arg)` cannot cut a vector of length `len` into `parts` equal blocks, and what to
/// write instead.
fn split_hint(arg: &Expr, len: &Dim, parts: usize) -> String {
    let problem = format!(
        "cannot split a vector of length {len} into {parts} equal blocks: {len} is not a multiple of {parts}"
    );
    let mut inner = arg;
    while let ExprKind::Paren(e) = &inner.kind {
        inner = e;
    }
    if let ExprKind::Concat(pieces) = &inner.kind
        && let Some((last, rest)) = pieces.split_last()
    {
        // `split([h; x])` does not undo the concatenation: it cuts the stacked vector into
        // equal blocks, whatever the lengths of the pieces.
        let rest: Vec<String> = rest.iter().map(|p| format!("`{p}`")).collect();
        let last = format!("`{last}`");
        return format!(
            "cannot split `{inner}` (length {len}) into {parts} equal blocks: {len} is not a multiple of \
             {parts}; `split` cuts a vector into equal blocks, it does not undo `[a; b]`: use {} and {last} \
             directly",
            rest.join(", ")
        );
    }
    match (len.terms.len(), len.terms.iter().next()) {
        (1, Some((name, _))) => format!("{problem}; declare the length as `{parts} * {name}`"),
        _ => format!("{problem}; make the length a multiple of {parts}"),
    }
}

fn binds(stmt: &Stmt, name: &Ident) -> bool {
    match stmt {
        Stmt::Let { name: bound, .. } => bound == name,
        Stmt::LetSplit { names, .. } => names.contains(name),
        Stmt::Assign { .. } => false,
    }
}

/// The terms of a sum with their signs, parenthesised sums spliced in (`a - (b - c)` is
/// `a - b + c`); recursion only through parentheses.
fn flatten_sum<'e>(terms: &'e [(bool, Expr)], negative: bool, out: &mut Vec<(bool, &'e Expr)>) {
    for (minus, term) in terms {
        let sign = negative != *minus;
        if let ExprKind::Paren(inner) = &term.kind
            && let ExprKind::Sum(inner_terms) = &inner.kind
        {
            flatten_sum(inner_terms, sign, out);
        } else {
            out.push((sign, term));
        }
    }
}
