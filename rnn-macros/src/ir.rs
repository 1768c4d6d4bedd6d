//! The intermediate representation: the step as a list of nodes in evaluation order, each with
//! its shape (a symbolic [`Kind`]), what it depends on ([`Dep`]) and whether it needs an adjoint.

use crate::ctxt::SpanRange;
use crate::dims::Dim;
use syn::{Attribute, Ident, Visibility};

pub type NodeId = usize;

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Kind {
    /// One number, shared by the whole batch.
    Scalar,
    /// A vector; `batched` vectors are `len × B` matrices at run time, others `len × 1`.
    Vector { len: Dim, batched: bool },
    /// A matrix parameter or hyper-parameter.
    Matrix { rows: Dim, cols: Dim },
    /// The node could not be typed; an error has been reported already.
    Error,
}

impl Kind {
    pub fn describe(&self) -> String {
        match self {
            Kind::Scalar => "a scalar".to_owned(),
            Kind::Vector { len, .. } => format!("a vector [{len}]"),
            Kind::Matrix { rows, cols } => format!("a matrix [{rows}, {cols}]"),
            Kind::Error => "an erroneous value".to_owned(),
        }
    }
}

/// What a node's value depends on. The order matters: a node's class is the largest of its
/// operands' classes. `Input` nodes form the state-independent projection, computed for all
/// time steps at once by the drivers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Dep {
    Const,
    Input,
    State,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Builtin {
    Tanh,
    Sigmoid,
    Relu,
    Identity,
    Exp,
    Softplus,
}

impl Builtin {
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "tanh" => Builtin::Tanh,
            "sigmoid" => Builtin::Sigmoid,
            "relu" => Builtin::Relu,
            "identity" => Builtin::Identity,
            "exp" => Builtin::Exp,
            "softplus" => Builtin::Softplus,
            _ => return None,
        })
    }

    pub const NAMES: &'static str = "tanh, sigmoid, relu, identity, exp, softplus";
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Func {
    Builtin(Builtin),
    /// Index into [`CellIr::funcs`].
    User(usize),
}

#[derive(Clone, PartialEq, Debug)]
pub enum Op {
    Input(usize),
    State(usize),
    Param(usize),
    Hyper(usize),
    Lit(f64),
    MatVec(NodeId, NodeId),
    Add(NodeId, NodeId),
    Sub(NodeId, NodeId),
    /// Element-wise product, or scaling when one operand is a scalar.
    Mul(NodeId, NodeId),
    Neg(NodeId),
    Concat(Vec<NodeId>),
    Block {
        source: NodeId,
        index: usize,
        parts: usize,
    },
    Apply(Func, NodeId),
}

impl Op {
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => Vec::new(),
            Op::MatVec(a, b) | Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) => vec![*a, *b],
            Op::Neg(a) | Op::Apply(_, a) => vec![*a],
            Op::Block { source, .. } => vec![*source],
            Op::Concat(parts) => parts.clone(),
        }
    }
}

pub struct Node {
    pub op: Op,
    pub kind: Kind,
    pub dep: Dep,
    /// True when the value depends on something that receives a gradient (a parameter, a
    /// state or an input), so the reverse sweep must carry its adjoint.
    pub active: bool,
    /// Where the node came from in the DSL; kept for diagnostics of later stages.
    #[allow(dead_code)]
    pub span: SpanRange,
}

pub struct Tensor {
    pub docs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Kind,
}

pub struct Hyper {
    pub docs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Kind,
    pub default: f64,
}

pub struct CellIr {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// Dimension names, in order of first appearance.
    pub dims: Vec<String>,
    pub inputs: Vec<Tensor>,
    pub states: Vec<Tensor>,
    pub params: Vec<Tensor>,
    pub hypers: Vec<Hyper>,
    pub funcs: Vec<syn::Path>,
    /// Index of the state that is the cell's output.
    pub output: usize,
    pub nodes: Vec<Node>,
    /// For each state, the node holding its new value.
    pub assigns: Vec<NodeId>,
}
