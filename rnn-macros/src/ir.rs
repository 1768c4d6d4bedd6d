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

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Tanh => "tanh",
            Builtin::Sigmoid => "sigmoid",
            Builtin::Relu => "relu",
            Builtin::Identity => "identity",
            Builtin::Exp => "exp",
            Builtin::Softplus => "softplus",
        }
    }
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
    /// The first name the step gives the value (`let f = ...`, a block of a `split`, a state
    /// assignment); generated messages and docs call it by this name.
    pub label: Option<String>,
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
    /// The DSL name of each of [`CellIr::funcs`] (`fn softsign = ...`).
    pub func_names: Vec<String>,
    /// Index of the state that is the cell's output.
    pub output: usize,
    pub nodes: Vec<Node>,
    /// For each state, the node holding its new value.
    pub assigns: Vec<NodeId>,
}

impl CellIr {
    /// Node `n` in the user's terms, for generated messages and docs: its name when the step
    /// gives it one (`f`, `r_x`), else its DSL text (`w_hx * x + b`, `sigmoid(v * x)`) with
    /// named operands by name, cut short past a few levels or about 80 characters.
    pub fn describe(&self, n: NodeId) -> String {
        let mut out = String::new();
        self.write_node(n, 0, &mut out);
        out
    }

    fn write_node(&self, n: NodeId, depth: usize, out: &mut String) {
        let node = &self.nodes[n];
        let leaf = match node.op {
            Op::Input(k) => Some(self.inputs[k].name.to_string()),
            Op::State(k) => Some(self.states[k].name.to_string()),
            Op::Param(k) => Some(self.params[k].name.to_string()),
            Op::Hyper(k) => Some(self.hypers[k].name.to_string()),
            Op::Lit(value) => Some(format!("{value}")),
            _ => node.label.clone(),
        };
        if let Some(name) = leaf {
            out.push_str(&name);
            return;
        }
        if depth > 6 || out.len() > 80 {
            out.push('…');
            return;
        }
        // An operand is parenthesised when its operator binds less tightly than the position.
        let precedence = |m: NodeId| match self.nodes[m].op {
            _ if self.nodes[m].label.is_some() => 3,
            Op::Add(..) | Op::Sub(..) => 0,
            Op::MatVec(..) | Op::Mul(..) => 1,
            Op::Neg(..) => 2,
            _ => 3,
        };
        let operand = |m: NodeId, at_least: u8, out: &mut String| {
            if precedence(m) < at_least {
                out.push('(');
                self.write_node(m, depth + 1, out);
                out.push(')');
            } else {
                self.write_node(m, depth + 1, out);
            }
        };
        match &node.op {
            Op::Add(a, b) | Op::Sub(a, b) => {
                operand(*a, 0, out);
                out.push_str(if matches!(node.op, Op::Add(..)) {
                    " + "
                } else {
                    " - "
                });
                operand(*b, 1, out);
            }
            Op::MatVec(a, b) | Op::Mul(a, b) => {
                operand(*a, 1, out);
                out.push_str(" * ");
                operand(*b, 2, out);
            }
            Op::Neg(a) => {
                out.push('-');
                operand(*a, 3, out);
            }
            Op::Concat(parts) => {
                out.push('[');
                for (k, &part) in parts.iter().enumerate() {
                    if k > 0 {
                        out.push_str("; ");
                    }
                    operand(part, 0, out);
                }
                out.push(']');
            }
            Op::Block { source, index, parts } => {
                out.push_str(&format!("block {} of {parts} of split(", index + 1));
                operand(*source, 0, out);
                out.push(')');
            }
            Op::Apply(func, a) => {
                let name = match func {
                    Func::Builtin(builtin) => builtin.name().to_owned(),
                    Func::User(k) => self.func_names[*k].clone(),
                };
                out.push_str(&name);
                out.push('(');
                operand(*a, 0, out);
                out.push(')');
            }
            Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => {}
        }
    }
}
