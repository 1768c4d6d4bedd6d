//! Stage 4: reverse mode. The step is split into two graphs:
//!
//! * the **projection**: everything that depends on the inputs but on no state (`w_ih * x + b`).
//!   Drivers evaluate it once for all time steps (the inputs side by side as one wide matrix), and
//!   run its backward once after the time loop, so its weight gradients are one matrix product;
//! * the **step**: everything that depends on a state. Its leaves are the old states, the
//!   projection outputs (the *frontier*), parameters and constants.
//!
//! For each graph this module emits the forward evaluation and the reverse sweep: nodes are
//! visited in reverse evaluation order and each active node hands its adjoint to its operands
//! through the rules of [`crate::ops`]. The values those rules read are the step's cache;
//! parameter-only values are recomputed instead of cached.

use crate::ir::{CellIr, Dep, Kind, NodeId, Op};
use crate::ops::{self, Contribution, Need, Val};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Leaf {
    Param(usize),
    Hyper(usize),
    Lit(f64),
    StateIn(usize),
    ProjIn(usize),
    InputIn(usize),
}

pub struct Graph {
    /// Computed nodes, in evaluation order.
    pub members: Vec<NodeId>,
    pub leaves: BTreeMap<NodeId, Leaf>,
}

pub struct Plan {
    pub step: Graph,
    pub proj: Graph,
    /// Projection outputs; `Leaf::ProjIn(k)` of the step graph is `frontier[k]`.
    pub frontier: Vec<NodeId>,
    /// Step-graph values kept for the backward step, in node order.
    pub cached: Vec<NodeId>,
    /// Step-graph parameter-only members recomputed by the backward step.
    pub step_recompute: Vec<NodeId>,
    /// Projection members recomputed by the projection's backward.
    pub proj_recompute: Vec<NodeId>,
}

pub fn plan(ir: &CellIr) -> Plan {
    let nodes = &ir.nodes;
    let mut live = BTreeSet::new();
    let mut stack: Vec<NodeId> = ir.assigns.clone();
    while let Some(n) = stack.pop() {
        if live.insert(n) {
            stack.extend(nodes[n].op.operands());
        }
    }
    let mut frontier = BTreeSet::new();
    for &n in &live {
        if nodes[n].dep == Dep::State {
            for o in nodes[n].op.operands() {
                if nodes[o].dep == Dep::Input {
                    frontier.insert(o);
                }
            }
        }
    }
    for &n in &ir.assigns {
        if nodes[n].dep == Dep::Input {
            frontier.insert(n);
        }
    }
    let frontier: Vec<NodeId> = frontier.into_iter().collect();

    let collect = |roots: &[NodeId], leaf_of: &dyn Fn(NodeId) -> Option<Leaf>| -> Graph {
        let mut members = BTreeSet::new();
        let mut leaves = BTreeMap::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(leaf) = leaf_of(n) {
                leaves.insert(n, leaf);
            } else {
                members.insert(n);
                stack.extend(nodes[n].op.operands());
            }
        }
        Graph {
            members: members.into_iter().collect(),
            leaves,
        }
    };
    let basic_leaf = |n: NodeId| match nodes[n].op {
        Op::Param(k) => Some(Leaf::Param(k)),
        Op::Hyper(k) => Some(Leaf::Hyper(k)),
        Op::Lit(v) => Some(Leaf::Lit(v)),
        Op::State(k) => Some(Leaf::StateIn(k)),
        Op::Input(k) => Some(Leaf::InputIn(k)),
        _ => None,
    };
    let step = collect(&ir.assigns, &|n| {
        frontier
            .iter()
            .position(|&f| f == n)
            .map(Leaf::ProjIn)
            .or_else(|| basic_leaf(n))
    });
    let proj = collect(&frontier, &basic_leaf);

    // Values the rules read, per graph.
    let needed = |graph: &Graph| -> BTreeSet<NodeId> {
        let mut out = BTreeSet::new();
        for &m in &graph.members {
            if !nodes[m].active {
                continue;
            }
            let operands = nodes[m].op.operands();
            let active: Vec<bool> = operands.iter().map(|&o| nodes[o].active).collect();
            for need in ops::needs(&nodes[m].op, &active) {
                out.insert(match need {
                    Need::Operand(k) => operands[k],
                    Need::Output => m,
                });
            }
        }
        out
    };
    let closure = |graph: &Graph, seeds: &BTreeSet<NodeId>, include: &dyn Fn(NodeId) -> bool| {
        let members: BTreeSet<NodeId> = graph.members.iter().copied().collect();
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeId> = seeds
            .iter()
            .copied()
            .filter(|n| members.contains(n) && include(*n))
            .collect();
        while let Some(n) = stack.pop() {
            if out.insert(n) {
                stack.extend(
                    nodes[n]
                        .op
                        .operands()
                        .into_iter()
                        .filter(|o| members.contains(o) && include(*o)),
                );
            }
        }
        out.into_iter().collect::<Vec<_>>()
    };
    let step_needed = needed(&step);
    let cached: Vec<NodeId> = step_needed
        .iter()
        .copied()
        .filter(|&n| {
            nodes[n].dep != Dep::Const
                && !matches!(
                    step.leaves.get(&n),
                    Some(Leaf::Param(_) | Leaf::Hyper(_) | Leaf::Lit(_))
                )
        })
        .collect();
    let step_recompute = closure(&step, &step_needed, &|n| nodes[n].dep == Dep::Const);
    let proj_needed = needed(&proj);
    let proj_recompute = closure(&proj, &proj_needed, &|_| true);
    Plan {
        step,
        proj,
        frontier,
        cached,
        step_recompute,
        proj_recompute,
    }
}

pub fn value_var(n: NodeId) -> proc_macro2::Ident {
    format_ident!("v{}", n)
}

fn adjoint_var(n: NodeId) -> proc_macro2::Ident {
    format_ident!("d{}", n)
}

/// Where a leaf's value lives, in any generated method.
pub fn leaf_place(
    ir: &CellIr,
    leaf: Leaf,
    state: &TokenStream,
    proj: &TokenStream,
    input: &TokenStream,
) -> TokenStream {
    match leaf {
        Leaf::Param(k) => {
            let name = &ir.params[k].name;
            quote!(self.#name)
        }
        Leaf::Hyper(k) => {
            let name = &ir.hypers[k].name;
            quote!(self.#name)
        }
        Leaf::Lit(value) => quote!(::rnn_core::__private::lit::<T>(#value)),
        Leaf::StateIn(k) => {
            let name = &ir.states[k].name;
            quote!(#state.#name)
        }
        Leaf::ProjIn(k) => {
            let field = proj_field(k);
            quote!(#proj.#field)
        }
        Leaf::InputIn(k) => {
            let name = &ir.inputs[k].name;
            quote!(#input.#name)
        }
    }
}

pub fn proj_field(k: usize) -> proc_macro2::Ident {
    format_ident!("p{}", k)
}

/// `let vN = ...;` for the given members, reading other values through `place`.
pub fn forward_code(ir: &CellIr, members: &[NodeId], place: &dyn Fn(NodeId) -> TokenStream) -> TokenStream {
    let mut code = TokenStream::new();
    for &m in members {
        let node = &ir.nodes[m];
        let args: Vec<Val> = node
            .op
            .operands()
            .into_iter()
            .map(|o| Val {
                place: place(o),
                kind: ir.nodes[o].kind.clone(),
            })
            .collect();
        let value = ops::forward(&node.op, &args, &ir.funcs);
        let var = value_var(m);
        code.extend(quote!(let #var = #value;));
    }
    code
}

/// The reverse sweep over `graph`: seeds the adjoints, applies the rules in reverse order and
/// returns the code plus, for each active leaf reached, the variable holding its adjoint.
pub fn backward_code(
    ir: &CellIr,
    graph: &Graph,
    seeds: &[(NodeId, TokenStream)],
    place: &dyn Fn(NodeId) -> TokenStream,
    dims: &TokenStream,
) -> (TokenStream, BTreeMap<NodeId, proc_macro2::Ident>) {
    let rt = quote!(::rnn_core::__private);
    let nodes = &ir.nodes;
    let mut code = TokenStream::new();
    let mut initialised: BTreeSet<NodeId> = BTreeSet::new();
    let mut contribute = |target: NodeId, contribution: Contribution, code: &mut TokenStream| {
        let var = adjoint_var(target);
        let kind = &nodes[target].kind;
        let first = initialised.insert(target);
        match contribution {
            Contribution::Dense(value) => {
                if first {
                    code.extend(quote!(let mut #var = #value;));
                } else if *kind == Kind::Scalar {
                    code.extend(quote!(#var += #value;));
                } else {
                    code.extend(quote!(#rt::acc(&mut #var, &#value);));
                }
            }
            Contribution::Block { index, parts, value } => {
                if first {
                    let rows = rows_of(kind, dims);
                    code.extend(quote!(let mut #var = #rt::zeros(#rows, #value.ncols());));
                }
                code.extend(quote!(#rt::block_acc(&mut #var, #index, #parts, &#value);));
            }
        }
    };
    for (node, seed) in seeds {
        let value = quote!(#seed.clone());
        contribute(*node, Contribution::Dense(value), &mut code);
    }
    let mut reached: BTreeSet<NodeId> = BTreeSet::new();
    for &m in graph.members.iter().rev() {
        let node = &nodes[m];
        if !node.active || !reached_or_seeded(m, &reached, seeds) {
            continue;
        }
        let operands = node.op.operands();
        let args: Vec<Val> = operands
            .iter()
            .map(|&o| Val {
                place: place(o),
                kind: nodes[o].kind.clone(),
            })
            .collect();
        let dy = Val {
            place: {
                let var = adjoint_var(m);
                quote!(#var)
            },
            kind: node.kind.clone(),
        };
        let out = Val {
            place: place(m),
            kind: node.kind.clone(),
        };
        let row_counts: Vec<TokenStream> = operands.iter().map(|&o| rows_of(&nodes[o].kind, dims)).collect();
        for (k, &o) in operands.iter().enumerate() {
            if !nodes[o].active {
                continue;
            }
            let contribution = ops::vjp(&node.op, k, &dy, &args, Some(&out), &row_counts, &ir.funcs);
            contribute(o, contribution, &mut code);
            reached.insert(o);
        }
    }
    let mut sinks = BTreeMap::new();
    for (&leaf, _) in graph.leaves.iter() {
        if nodes[leaf].active && (reached.contains(&leaf) || seeds.iter().any(|(n, _)| *n == leaf)) {
            sinks.insert(leaf, adjoint_var(leaf));
        }
    }
    (code, sinks)
}

fn reached_or_seeded(m: NodeId, reached: &BTreeSet<NodeId>, seeds: &[(NodeId, TokenStream)]) -> bool {
    reached.contains(&m) || seeds.iter().any(|(n, _)| *n == m)
}

/// The runtime number of rows of a vector kind (1 for scalars).
pub fn rows_of(kind: &Kind, dims: &TokenStream) -> TokenStream {
    match kind {
        Kind::Vector { len, .. } => len.runtime(dims),
        Kind::Matrix { rows, .. } => rows.runtime(dims),
        Kind::Scalar | Kind::Error => quote!(1usize),
    }
}
