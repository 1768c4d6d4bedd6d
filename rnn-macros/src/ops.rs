//! The derivative rule table: for every primitive, its value, the values its local
//! vector–Jacobian product needs, and the product itself. The reverse sweep that applies these
//! rules lives in [`crate::adjoint`]; this file knows nothing about graphs or orderings.
//!
//! Values are batched vectors (`DMatrix`, one column per sequence), unbatched vectors
//! (`DMatrix`/`DVector` with one column, broadcast across the batch), matrices, or scalars (`T`).
//! When an operand is broadcast, its adjoint is the broadcast's adjoint: a sum over columns
//! (unbatched vector) or over all entries (scalar).
//!
//! | primitive      | value                  | adjoint contributions                          |
//! |----------------|------------------------|------------------------------------------------|
//! | `W * x`        | `W x`                  | `dW += dy xᵀ`, `dx += Wᵀ dy`                   |
//! | `a + b`        | `a + b`                | `da += dy`, `db += dy`                         |
//! | `a - b`        | `a - b`                | `da += dy`, `db -= dy`                         |
//! | `a * b` (⊙)    | `a ⊙ b`                | `da += dy ⊙ b`, `db += dy ⊙ a`                 |
//! | `s * v`        | `s v`                  | `ds += Σ dy ⊙ v`, `dv += s dy`                 |
//! | `-a`           | `-a`                   | `da -= dy`                                     |
//! | `[a; b]`       | stacked rows           | `da += dy[rows of a]`, `db += dy[rows of b]`   |
//! | `split(v)[k]`  | rows block `k`         | `dv[block k] += dy`                            |
//! | `tanh(a)`      | `y = tanh a`           | `da += dy ⊙ (1 − y²)`                          |
//! | `sigmoid(a)`   | `y = σ(a)`             | `da += dy ⊙ y (1 − y)`                         |
//! | `relu(a)`      | `max(a, 0)`            | `da += dy ⊙ [a > 0]` (relu′(0) = 0, as PyTorch)|
//! | `identity(a)`  | `a`                    | `da += dy`                                     |
//! | `exp(a)`       | `y = eᵃ`               | `da += dy ⊙ y`                                 |
//! | `softplus(a)`  | `ln(1 + eᵃ)`           | `da += dy ⊙ σ(a)`                              |
//! | user `f(a)`    | `f(a)`                 | `da += dy ⊙ f′(a)`                             |

use crate::ir::{Builtin, Func, Kind, Op};
use proc_macro2::TokenStream;
use quote::quote;

/// A value in generated code: a place expression (`v3`, `self.w`, `cache.v3`) and its kind.
#[derive(Clone)]
pub struct Val {
    pub place: TokenStream,
    pub kind: Kind,
}

impl Val {
    /// How to pass the value to a runtime helper: by reference, or by copy for scalars.
    pub fn arg(&self) -> TokenStream {
        let place = &self.place;
        if self.kind == Kind::Scalar {
            quote!(#place)
        } else {
            quote!(&#place)
        }
    }
}

/// What a rule needs from the forward pass to compute its adjoints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Operand(usize),
    Output,
}

/// An adjoint contribution to one operand.
pub enum Contribution {
    /// A full-shaped value to add to the operand's adjoint.
    Dense(TokenStream),
    /// A value to add into rows block `index` of `parts` of the operand's adjoint.
    Block {
        index: usize,
        parts: usize,
        value: TokenStream,
    },
}

fn rt() -> TokenStream {
    quote!(::rnn_core::__private)
}

fn scalar_fn(func: Func, funcs: &[syn::Path]) -> TokenStream {
    let rt = rt();
    match func {
        Func::Builtin(Builtin::Tanh) => quote!(#rt::tanh::<T>),
        Func::Builtin(Builtin::Sigmoid) => quote!(#rt::sigmoid::<T>),
        Func::Builtin(Builtin::Relu) => quote!(#rt::relu::<T>),
        Func::Builtin(Builtin::Identity) => quote!(#rt::identity::<T>),
        Func::Builtin(Builtin::Exp) => quote!(#rt::exp::<T>),
        Func::Builtin(Builtin::Softplus) => quote!(#rt::softplus::<T>),
        Func::User(k) => {
            let path = &funcs[k];
            quote!(#rt::activation_value::<T, #path>)
        }
    }
}

/// The derivative of an activation as `fn(dy, z) -> dz`, where `z` is the value named by
/// [`activation_need`] (the output for tanh, sigmoid and exp; the input otherwise).
fn scalar_back(func: Func, funcs: &[syn::Path]) -> TokenStream {
    let rt = rt();
    match func {
        Func::Builtin(Builtin::Tanh) => quote!(#rt::tanh_back::<T>),
        Func::Builtin(Builtin::Sigmoid) => quote!(#rt::sigmoid_back::<T>),
        Func::Builtin(Builtin::Relu) => quote!(#rt::relu_back::<T>),
        Func::Builtin(Builtin::Identity) => quote!(#rt::identity_back::<T>),
        Func::Builtin(Builtin::Exp) => quote!(#rt::exp_back::<T>),
        Func::Builtin(Builtin::Softplus) => quote!(#rt::softplus_back::<T>),
        Func::User(k) => {
            let path = &funcs[k];
            quote!(#rt::activation_back::<T, #path>)
        }
    }
}

fn activation_need(func: Func) -> Option<Need> {
    match func {
        Func::Builtin(Builtin::Tanh | Builtin::Sigmoid | Builtin::Exp) => Some(Need::Output),
        Func::Builtin(Builtin::Relu | Builtin::Softplus) | Func::User(_) => Some(Need::Operand(0)),
        Func::Builtin(Builtin::Identity) => None,
    }
}

/// The value of a node, as an expression of type `T` (scalar) or `DMatrix<T>`.
pub fn forward(op: &Op, args: &[Val], funcs: &[syn::Path]) -> TokenStream {
    let rt = rt();
    let scalar = |k: usize| args[k].kind == Kind::Scalar;
    match op {
        Op::MatVec(..) => {
            let (w, x) = (args[0].arg(), args[1].arg());
            quote!(#rt::matvec(#w, #x))
        }
        Op::Add(..) | Op::Sub(..) | Op::Mul(..) => {
            let (a, b) = (args[0].arg(), args[1].arg());
            match (op, scalar(0), scalar(1)) {
                (Op::Add(..), true, true) => quote!(#a + #b),
                (Op::Sub(..), true, true) => quote!(#a - #b),
                (Op::Mul(..), true, true) => quote!(#a * #b),
                (Op::Add(..), false, false) => quote!(#rt::add(#a, #b)),
                (Op::Sub(..), false, false) => quote!(#rt::sub(#a, #b)),
                (Op::Mul(..), false, false) => quote!(#rt::mul(#a, #b)),
                (Op::Add(..), true, false) => quote!(#rt::add_scalar(#b, #a)),
                (Op::Add(..), false, true) => quote!(#rt::add_scalar(#a, #b)),
                (Op::Sub(..), true, false) => quote!(#rt::scalar_sub(#a, #b)),
                (Op::Sub(..), false, true) => quote!(#rt::add_scalar(#a, -#b)),
                (Op::Mul(..), true, false) => quote!(#rt::scale(#a, #b)),
                (Op::Mul(..), false, true) => quote!(#rt::scale(#b, #a)),
                _ => unreachable_tokens(),
            }
        }
        Op::Neg(..) => {
            let a = args[0].arg();
            if scalar(0) {
                quote!(-#a)
            } else {
                quote!(#rt::neg(#a))
            }
        }
        Op::Concat(..) => {
            let parts = args.iter().map(Val::arg);
            quote!(#rt::concat(&[#(#rt::view(#parts)),*]))
        }
        Op::Block { index, parts, .. } => {
            let source = args[0].arg();
            quote!(#rt::block(#source, #index, #parts))
        }
        Op::Apply(func, _) => {
            let f = scalar_fn(*func, funcs);
            let a = args[0].arg();
            if scalar(0) {
                quote!(#f(#a))
            } else {
                quote!(#rt::map(#a, #f))
            }
        }
        Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => unreachable_tokens(),
    }
}

fn unreachable_tokens() -> TokenStream {
    quote!(::core::unreachable!("rnn-macros: leaf nodes have no rule"))
}

/// The forward values the adjoint rule of `op` reads, given which operands are active.
pub fn needs(op: &Op, active: &[bool]) -> Vec<Need> {
    let mut out = Vec::new();
    match op {
        Op::MatVec(..) => {
            if active[0] {
                out.push(Need::Operand(1));
            }
            if active[1] {
                out.push(Need::Operand(0));
            }
        }
        Op::Mul(..) => {
            if active[0] {
                out.push(Need::Operand(1));
            }
            if active[1] {
                out.push(Need::Operand(0));
            }
        }
        Op::Apply(func, _) if active[0] => out.extend(activation_need(*func)),
        _ => {}
    }
    out
}

/// Sums an adjoint of the node's shape down to the shape of a broadcast operand.
fn reduce(value: TokenStream, node: &Kind, operand: &Kind) -> TokenStream {
    let rt = rt();
    match (node, operand) {
        (Kind::Vector { .. }, Kind::Scalar) => quote!(#rt::sum_all(&#value)),
        (Kind::Vector { batched: true, .. }, Kind::Vector { batched: false, .. }) => {
            quote!(#rt::sum_cols(&#value))
        }
        _ => value,
    }
}

/// The adjoint contribution of a node to its operand `k`. `dy` is the node's adjoint (same
/// kind as the node), `out` its value when [`needs`] asked for it, `dims` the runtime
/// dimensions of each operand's rows (for concatenation offsets).
pub fn vjp(
    op: &Op,
    k: usize,
    dy: &Val,
    args: &[Val],
    out: Option<&Val>,
    row_counts: &[TokenStream],
    funcs: &[syn::Path],
) -> Contribution {
    let rt = rt();
    let d = dy.arg();
    let node = &dy.kind;
    let operand = &args[k].kind;
    let dense = |value: TokenStream| Contribution::Dense(reduce(value, node, operand));
    let dy_scalar = *node == Kind::Scalar;
    let identity = || {
        let place = &dy.place;
        if dy_scalar {
            quote!(#place)
        } else {
            quote!(#place.clone())
        }
    };
    let negated = || {
        if dy_scalar {
            quote!(-#d)
        } else {
            quote!(#rt::neg(#d))
        }
    };
    match op {
        Op::MatVec(..) => {
            if k == 0 {
                let x = args[1].arg();
                Contribution::Dense(quote!(#rt::outer(#d, #x)))
            } else {
                let w = args[0].arg();
                Contribution::Dense(quote!(#rt::matvec_t(#w, #d)))
            }
        }
        Op::Add(..) => dense(identity()),
        Op::Sub(..) => {
            if k == 0 {
                dense(identity())
            } else {
                dense(negated())
            }
        }
        Op::Mul(..) => {
            let other = &args[1 - k];
            let o = other.arg();
            match (operand == &Kind::Scalar, other.kind == Kind::Scalar) {
                (true, true) => Contribution::Dense(quote!(#d * #o)),
                // The scalar of a scaling: the sum of dy ⊙ v.
                (true, false) => Contribution::Dense(quote!(#rt::dot(#d, #o))),
                (false, true) => dense(quote!(#rt::scale(#o, #d))),
                (false, false) => dense(quote!(#rt::mul(#d, #o))),
            }
        }
        Op::Neg(..) => dense(negated()),
        Op::Concat(..) => {
            let offset = if k == 0 {
                quote!(0usize)
            } else {
                let before = &row_counts[..k];
                quote!((#(#before)+*))
            };
            let rows = &row_counts[k];
            dense(quote!(#rt::rows(#d, #offset, #rows)))
        }
        Op::Block { index, parts, .. } => Contribution::Block {
            index: *index,
            parts: *parts,
            value: identity(),
        },
        Op::Apply(func, _) => {
            let back = scalar_back(*func, funcs);
            let z = match activation_need(*func) {
                Some(Need::Output) => out.map(Val::arg),
                Some(Need::Operand(_)) => Some(args[0].arg()),
                None => None,
            };
            match (z, dy_scalar) {
                (None, _) => Contribution::Dense(identity()),
                (Some(z), true) => Contribution::Dense(quote!(#back(#d, #z))),
                (Some(z), false) => Contribution::Dense(quote!(#rt::map2(#d, #z, #back))),
            }
        }
        Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => {
            Contribution::Dense(unreachable_tokens())
        }
    }
}
