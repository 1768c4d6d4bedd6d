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
//! through the rules of [`crate::ops`]. Every value and adjoint is written into a place sized
//! once (the caller, `crate::expand`, says where each node lives: a workspace field, the cache,
//! the new state, a gradient), so a step allocates nothing. The first contribution to a
//! workspace adjoint overwrites it, later ones add; gradients and projection adjoints always add.
//!
//! What the rules read is the step's cache, except the old state (the drivers keep it), the
//! new states (read back from the new state) and parameter-only values (recomputed). The
//! weight gradient `dy xᵀ` of a product `W * x` with a batched `x` is not formed per step: the
//! step stores `dy` and `x` in the workspace and a flush forms `Σ_t dy_t x_tᵀ` as one matrix
//! product.

use crate::ir::{CellIr, Dep, Kind, NodeId, Op};
use crate::ops::{self, Kernel, Need, Val};
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
    /// Step-graph values kept for the backward step, in node order: what the rules read,
    /// except parameters and constants, the old state (the drivers keep it) and the new states
    /// (read back from the new state, see `from_next`).
    pub cached: Vec<NodeId>,
    /// Step-graph members that are the new value of a state (the first state assigned them),
    /// computed straight into that state and read back from it by the backward step.
    pub from_next: BTreeMap<NodeId, usize>,
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
    let members: BTreeSet<NodeId> = step.members.iter().copied().collect();
    let mut from_next = BTreeMap::new();
    for (k, &n) in ir.assigns.iter().enumerate() {
        let batched = matches!(nodes[n].kind, Kind::Vector { batched: true, .. });
        if members.contains(&n) && batched {
            from_next.entry(n).or_insert(k);
        }
    }
    let cached: Vec<NodeId> = step_needed
        .iter()
        .copied()
        .filter(|&n| {
            nodes[n].dep != Dep::Const
                && !from_next.contains_key(&n)
                && !matches!(
                    step.leaves.get(&n),
                    Some(Leaf::Param(_) | Leaf::Hyper(_) | Leaf::Lit(_) | Leaf::StateIn(_))
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
        from_next,
        step_recompute,
        proj_recompute,
    }
}

pub fn value_var(n: NodeId) -> proc_macro2::Ident {
    format_ident!("v{}", n)
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

pub fn adjoint_var(n: NodeId) -> proc_macro2::Ident {
    format_ident!("d{}", n)
}

/// Where a node's adjoint is written.
pub struct Target {
    pub place: TokenStream,
    /// Adds even the first contribution (gradients, projection adjoints: the caller owns
    /// them and they may hold other steps' contributions); otherwise the first contribution
    /// overwrites (workspace buffers, the old state's adjoint).
    pub always_add: bool,
}

fn val(ir: &CellIr, n: NodeId, place: TokenStream) -> Val {
    Val {
        place,
        kind: ir.nodes[n].kind.clone(),
    }
}

/// Code computing the given members in order, each into `place(member)`, reading operands
/// through `place` too.
pub fn forward_code(
    ir: &CellIr,
    members: &[NodeId],
    place: &dyn Fn(NodeId) -> TokenStream,
    products: ops::Products,
) -> TokenStream {
    let mut code = TokenStream::new();
    for &m in members {
        let node = &ir.nodes[m];
        let args: Vec<Val> = node
            .op
            .operands()
            .into_iter()
            .map(|o| val(ir, o, place(o)))
            .collect();
        let kernel = ops::forward(&node.op, &args, &ir.funcs);
        code.extend(ops::emit(&kernel, &val(ir, m, place(m)), false, products));
    }
    code
}

/// The reverse sweep over `graph`. `seeds` are given adjoints of nodes (places to read),
/// `value` says where forward values are, `target` where each node's adjoint goes, and
/// `outer(node, dy, x)` may take over the weight gradient `dy xᵀ` of a product node (to
/// defer it). Returns the code and the nodes whose adjoint it wrote.
#[allow(clippy::too_many_arguments)] // each argument is one independent decision of the caller
pub fn backward_code(
    ir: &CellIr,
    graph: &Graph,
    seeds: &[(NodeId, TokenStream)],
    value: &dyn Fn(NodeId) -> TokenStream,
    target: &dyn Fn(NodeId) -> Target,
    outer: &dyn Fn(NodeId, &Val, &Val) -> Option<TokenStream>,
    dims: &TokenStream,
    products: ops::Products,
) -> (TokenStream, BTreeSet<NodeId>) {
    let nodes = &ir.nodes;
    let mut code = TokenStream::new();
    let mut written: BTreeSet<NodeId> = BTreeSet::new();
    let contribute = |to: NodeId, kernel: &Kernel, code: &mut TokenStream, written: &mut BTreeSet<NodeId>| {
        let t = target(to);
        let first = written.insert(to);
        code.extend(ops::emit(
            kernel,
            &val(ir, to, t.place),
            t.always_add || !first,
            products,
        ));
    };
    for (node, seed) in seeds {
        let seed = ops::identity(&val(ir, *node, seed.clone()));
        contribute(*node, &seed, &mut code, &mut written);
    }
    for &m in graph.members.iter().rev() {
        let node = &nodes[m];
        if !node.active || !written.contains(&m) {
            continue;
        }
        let operands = node.op.operands();
        let args: Vec<Val> = operands.iter().map(|&o| val(ir, o, value(o))).collect();
        let dy = val(ir, m, target(m).place);
        let out = val(ir, m, value(m));
        let row_counts: Vec<TokenStream> = operands.iter().map(|&o| rows_of(&nodes[o].kind, dims)).collect();
        for (k, &o) in operands.iter().enumerate() {
            if !nodes[o].active {
                continue;
            }
            let kernel = ops::vjp(&node.op, k, &dy, &args, Some(&out), &row_counts, &ir.funcs);
            if let Kernel::Outer { dy, x } = &kernel
                && let Some(deferred) = outer(m, dy, x)
            {
                code.extend(deferred);
                written.insert(o);
                continue;
            }
            contribute(o, &kernel, &mut code, &mut written);
        }
    }
    (code, written)
}

/// The runtime number of rows of a vector kind (1 for scalars).
pub fn rows_of(kind: &Kind, dims: &TokenStream) -> TokenStream {
    match kind {
        Kind::Vector { len, .. } => len.runtime(dims),
        Kind::Matrix { rows, .. } => rows.runtime(dims),
        Kind::Scalar | Kind::Error => quote!(1usize),
    }
}
