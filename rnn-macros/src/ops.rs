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
use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

/// A value in generated code: a place expression (`ws.v3`, `self.w`, `cache.v3`, `next.h`)
/// and its kind.
#[derive(Clone)]
pub struct Val {
    pub place: TokenStream,
    pub kind: Kind,
}

/// What a rule needs from the forward pass to compute its adjoints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Operand(usize),
    Output,
}

/// A computation whose result the generated code writes into a place (a workspace buffer, a
/// state, a gradient): the value of a node, or one adjoint contribution to an operand. How it
/// becomes code, overwriting or adding, broadcasting or summing over the batch, is
/// [`emit`]'s business; the rules below only say what to compute.
pub enum Kernel {
    /// `f(a)` entry by entry; `f` is an expression of type `impl Fn(T) -> T`.
    Map { a: Val, f: TokenStream },
    /// `f(a, b)` entry by entry; `f` is an expression of type `impl Fn(T, T) -> T`.
    Zip { a: Val, b: Val, f: TokenStream },
    /// An expression of type `T`: every operand is a scalar.
    Scalar(TokenStream),
    /// `W x`.
    MatVec { w: Val, x: Val },
    /// `Wᵀ dy`.
    MatVecT { w: Val, dy: Val },
    /// `dy xᵀ`, the weight gradient of `W x`; the sweep may defer it (see `crate::adjoint`).
    Outer { dy: Val, x: Val },
    /// `[a; b; ...]`.
    Concat(Vec<Val>),
    /// Block `index` of the rows of `source` cut into equal blocks (a `split`).
    Split { source: Val, index: usize },
    /// Rows `offset ..` of `source`, as many as the target has (the adjoint of one part of a
    /// concatenation).
    Rows { source: Val, offset: TokenStream },
    /// `d` into rows block `index` of `parts` (the adjoint of a `split`).
    Block { d: Val, index: usize, parts: usize },
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
            // A closure rather than the method itself: passing the method where `impl Fn` is
            // expected would check `Path: Activation` again at the generated call.
            let value = user_method(&funcs[k], "value");
            let call = quote_spanned!(last_span(&funcs[k])=> (x));
            quote!((|x: T| #value #call))
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
            let derivative = user_method(&funcs[k], "derivative");
            let last = last_span(&funcs[k]);
            let call = quote_spanned!(last=> (x));
            quote!((|dy: T, x: T| dy * #derivative #call))
        }
    }
}

/// `<Path as Activation>::method::<T>` for the type of `fn name = Path;`, spanned on the user's
/// path: if the type does not implement `Activation`, every use is the same error on the user's
/// tokens (which the compiler reports once), with the trait's `on_unimplemented` message, and
/// no note points into the runtime (no bound of a helper function is involved).
fn user_method(path: &syn::Path, method: &str) -> TokenStream {
    let first = path
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    let last = last_span(path);
    let method = Ident::new(method, last);
    let open = quote_spanned!(first=> <);
    let rest = quote_spanned!(last=> as ::rnn_core::__private::Activation>::#method::<T>);
    quote!(#open #path #rest)
}

/// The span of the last token of a path (the type name of `a::b::Type`).
fn last_span(path: &syn::Path) -> Span {
    path.to_token_stream()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |t| t.span())
}

fn activation_need(func: Func) -> Option<Need> {
    match func {
        Func::Builtin(Builtin::Tanh | Builtin::Sigmoid | Builtin::Exp) => Some(Need::Output),
        Func::Builtin(Builtin::Relu | Builtin::Softplus) | Func::User(_) => Some(Need::Operand(0)),
        Func::Builtin(Builtin::Identity) => None,
    }
}

/// A closure expression `impl Fn(T) -> T` applying `op` with the scalar at `scalar` on the
/// given side (`s + v`, `v - s`, `s * v`, ...).
fn with_scalar(scalar: &Val, scalar_left: bool, op: TokenStream) -> TokenStream {
    let s = &scalar.place;
    if scalar_left {
        quote!({ let s: T = #s; move |v: T| s #op v })
    } else {
        quote!({ let s: T = #s; move |v: T| v #op s })
    }
}

/// The value of a node.
pub fn forward(op: &Op, args: &[Val], funcs: &[syn::Path]) -> Kernel {
    let scalar = |k: usize| args[k].kind == Kind::Scalar;
    match op {
        Op::MatVec(..) => Kernel::MatVec {
            w: args[0].clone(),
            x: args[1].clone(),
        },
        Op::Add(..) | Op::Sub(..) | Op::Mul(..) => {
            let rt = rt();
            let (symbol, function) = match op {
                Op::Add(..) => (quote!(+), quote!(#rt::add::<T>)),
                Op::Sub(..) => (quote!(-), quote!(#rt::sub::<T>)),
                _ => (quote!(*), quote!(#rt::mul::<T>)),
            };
            let (a, b) = (&args[0], &args[1]);
            match (scalar(0), scalar(1)) {
                (true, true) => {
                    let (a, b) = (&a.place, &b.place);
                    Kernel::Scalar(quote!(#a #symbol #b))
                }
                (false, false) => Kernel::Zip {
                    a: a.clone(),
                    b: b.clone(),
                    f: function,
                },
                (true, false) => Kernel::Map {
                    a: b.clone(),
                    f: with_scalar(a, true, symbol),
                },
                (false, true) => Kernel::Map {
                    a: a.clone(),
                    f: with_scalar(b, false, symbol),
                },
            }
        }
        Op::Neg(..) => negated(&args[0]),
        Op::Concat(..) => Kernel::Concat(args.to_vec()),
        Op::Block { index, .. } => Kernel::Split {
            source: args[0].clone(),
            index: *index,
        },
        Op::Apply(func, _) => {
            let f = scalar_fn(*func, funcs);
            if scalar(0) {
                let a = &args[0].place;
                Kernel::Scalar(quote!(#f(#a)))
            } else {
                Kernel::Map {
                    a: args[0].clone(),
                    f,
                }
            }
        }
        Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => {
            Kernel::Scalar(unreachable_tokens())
        }
    }
}

/// `v`, as a kernel (a copy, a broadcast or a sum, depending on the target).
pub fn identity(v: &Val) -> Kernel {
    if v.kind == Kind::Scalar {
        Kernel::Scalar(v.place.clone())
    } else {
        Kernel::Map {
            a: v.clone(),
            f: quote!(::rnn_core::__private::identity::<T>),
        }
    }
}

fn negated(v: &Val) -> Kernel {
    if v.kind == Kind::Scalar {
        let place = &v.place;
        Kernel::Scalar(quote!(-#place))
    } else {
        Kernel::Map {
            a: v.clone(),
            f: quote!(::rnn_core::__private::neg::<T>),
        }
    }
}

/// Where a piece of code runs, which decides the matrix-product path it calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Products {
    /// Inside the time loop (the step and its backward): `rnn_core::gemm`, which never
    /// allocates.
    Step,
    /// Once per sequence (the input projection and its backward): nalgebra's blocked GEMM,
    /// fastest for the wide products of a whole sequence.
    Sequence,
}

/// The code writing `kernel` into `out`: adding to it when `add`, overwriting it otherwise.
/// A vector kernel into a scalar target sums over every entry; into a one-column target, over
/// the batch (the adjoints of broadcasting).
pub fn emit(kernel: &Kernel, out: &Val, add: bool, products: Products) -> TokenStream {
    let rt = rt();
    let o = &out.place;
    let acc = if add { quote!(true) } else { quote!(false) };
    let assign = |value: TokenStream| {
        if add {
            quote!(#o += #value;)
        } else {
            quote!(#o = #value;)
        }
    };
    let to_scalar = out.kind == Kind::Scalar;
    match kernel {
        Kernel::Scalar(value) => assign(value.clone()),
        Kernel::Map { a, f } => {
            let a = &a.place;
            if to_scalar {
                assign(quote!(#rt::sum_map(&#a, #f)))
            } else {
                quote!(#rt::map_to::<T, #acc>(&mut #o, &#a, #f);)
            }
        }
        Kernel::Zip { a, b, f } => {
            let (a, b) = (&a.place, &b.place);
            if to_scalar {
                assign(quote!(#rt::sum_zip(&#a, &#b, #f)))
            } else {
                quote!(#rt::zip_to::<T, #acc>(&mut #o, &#a, &#b, #f);)
            }
        }
        Kernel::MatVec { w, x } => {
            let (w, x) = (&w.place, &x.place);
            match products {
                Products::Step => quote!(#rt::matvec_to::<T, #acc>(&mut #o, &#w, &#x);),
                Products::Sequence => quote!(#rt::seq_matvec_to::<T, #acc>(&mut #o, &#w, &#x);),
            }
        }
        Kernel::MatVecT { w, dy } => {
            let (w, dy) = (&w.place, &dy.place);
            match products {
                Products::Step => quote!(#rt::matvec_t_to::<T, #acc>(&mut #o, &#w, &#dy);),
                Products::Sequence => quote!(#rt::seq_matvec_t_to::<T, #acc>(&mut #o, &#w, &#dy);),
            }
        }
        Kernel::Outer { dy, x } => {
            let (dy, x) = (&dy.place, &x.place);
            match products {
                Products::Step => quote!(#rt::outer_to(&mut #o, &#dy, &#x);),
                Products::Sequence => quote!(#rt::seq_outer_to(&mut #o, &#dy, &#x);),
            }
        }
        Kernel::Concat(parts) => {
            let parts = parts.iter().map(|p| &p.place);
            quote!(#rt::concat_to(&mut #o, &[#(#rt::view(&#parts)),*]);)
        }
        Kernel::Split { source, index } => {
            let source = &source.place;
            quote!(#rt::split_to::<T, #acc>(&mut #o, &#source, #index);)
        }
        Kernel::Rows { source, offset } => {
            let source = &source.place;
            quote!(#rt::rows_to::<T, #acc>(&mut #o, &#source, #offset);)
        }
        Kernel::Block { d, index, parts } => {
            let d = &d.place;
            quote!(#rt::block_to::<T, #acc>(&mut #o, &#d, #index, #parts);)
        }
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

/// The adjoint contribution of a node to its operand `k`. `dy` is the node's adjoint (same
/// kind as the node), `out` its value when [`needs`] asked for it, `row_counts` the runtime
/// number of rows of each operand (for concatenation offsets). Sums over broadcast operands
/// are left to [`emit`], which sees the target's shape.
pub fn vjp(
    op: &Op,
    k: usize,
    dy: &Val,
    args: &[Val],
    out: Option<&Val>,
    row_counts: &[TokenStream],
    funcs: &[syn::Path],
) -> Kernel {
    let operand = &args[k].kind;
    let dy_scalar = dy.kind == Kind::Scalar;
    match op {
        Op::MatVec(..) => {
            if k == 0 {
                Kernel::Outer {
                    dy: dy.clone(),
                    x: args[1].clone(),
                }
            } else {
                Kernel::MatVecT {
                    w: args[0].clone(),
                    dy: dy.clone(),
                }
            }
        }
        Op::Add(..) => identity(dy),
        Op::Sub(..) => {
            if k == 0 {
                identity(dy)
            } else {
                negated(dy)
            }
        }
        Op::Mul(..) => {
            let other = &args[1 - k];
            match (operand == &Kind::Scalar, other.kind == Kind::Scalar) {
                (true, true) => {
                    let (d, o) = (&dy.place, &other.place);
                    Kernel::Scalar(quote!(#d * #o))
                }
                // The scalar of a scaling: Σ dy ⊙ v (emitted as a sum into the scalar).
                (true, false) | (false, false) => Kernel::Zip {
                    a: dy.clone(),
                    b: other.clone(),
                    f: quote!(::rnn_core::__private::mul::<T>),
                },
                (false, true) => Kernel::Map {
                    a: dy.clone(),
                    f: with_scalar(other, true, quote!(*)),
                },
            }
        }
        Op::Neg(..) => negated(dy),
        Op::Concat(..) => {
            let offset = if k == 0 {
                quote!(0usize)
            } else {
                let before = &row_counts[..k];
                quote!((#(#before)+*))
            };
            Kernel::Rows {
                source: dy.clone(),
                offset,
            }
        }
        Op::Block { index, parts, .. } => Kernel::Block {
            d: dy.clone(),
            index: *index,
            parts: *parts,
        },
        Op::Apply(func, _) => {
            let back = scalar_back(*func, funcs);
            let z = match activation_need(*func) {
                Some(Need::Output) => out.cloned(),
                Some(Need::Operand(_)) => Some(args[0].clone()),
                None => None,
            };
            match z {
                None => identity(dy),
                Some(z) if dy_scalar => {
                    let (d, z) = (&dy.place, &z.place);
                    Kernel::Scalar(quote!(#back(#d, #z)))
                }
                Some(z) => Kernel::Zip {
                    a: dy.clone(),
                    b: z,
                    f: back,
                },
            }
        }
        Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Hyper(_) | Op::Lit(_) => {
            Kernel::Scalar(unreachable_tokens())
        }
    }
}
