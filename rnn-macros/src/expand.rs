//! Stage 5: emitting the Rust items of each cell (see the `rnn_core` crate docs for what a user
//! gets). Errors of any stage become `compile_error!`s plus [`crate::fallback`] stubs.

use crate::adjoint::{self, Leaf, Plan, adjoint_var, leaf_place, proj_field, rows_of, value_var};
use crate::ast::{CellDef, Cells};
use crate::ctxt::Ctxt;
use crate::dims::Dim;
use crate::ir::{CellIr, Kind, NodeId, Op};
use crate::ops::Products;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeSet;

pub fn expand(input: TokenStream) -> TokenStream {
    let cells: Cells = match syn::parse2(input) {
        Ok(cells) => cells,
        Err(error) => return error.to_compile_error(),
    };
    let mut out = TokenStream::new();
    // Every type name each cell defines, with the cell that defines it.
    let mut taken: Vec<(String, String)> = Vec::new();
    for cell in &cells.cells {
        let defines = defined_names(&cell.name.to_string());
        let clash = defines
            .iter()
            .find_map(|name| taken.iter().find(|(other, _)| other == name));
        if let Some((type_name, other_cell)) = clash {
            let message = if cell.name == type_name && other_cell == type_name {
                format!(
                    "a cell `{type_name}` is already declared in this `recurrent!`; give this cell another name"
                )
            } else {
                format!(
                    "cell `{}` would define the type `{type_name}`, which cell `{other_cell}` of this `recurrent!` \
                     already defines; give this cell another name",
                    cell.name
                )
            };
            out.extend(syn::Error::new(cell.name.span(), message).to_compile_error());
            continue;
        }
        taken.extend(defines.into_iter().map(|name| (name, cell.name.to_string())));
        out.extend(expand_cell(cell));
    }
    out
}

/// The names of the types `recurrent!` defines for a cell `name`.
fn defined_names(name: &str) -> Vec<String> {
    [
        "",
        "Dims",
        "Grad",
        "State",
        "Input",
        "Projection",
        "Cache",
        "Workspace",
    ]
    .iter()
    .map(|suffix| format!("{name}{suffix}"))
    .collect()
}

fn expand_cell(cell: &CellDef) -> TokenStream {
    let mut cx = Ctxt::default();
    crate::valid::check(cell, &mut cx);
    let ir = crate::lower::lower(cell, &mut cx);
    match (cx.finish(), ir) {
        (Ok(()), Some(ir)) => emit(&ir),
        (Err(error), _) => {
            let mut out = error.to_compile_error();
            out.extend(crate::fallback::stubs(cell));
            out
        }
        (Ok(()), None) => {
            let mut out = syn::Error::new(cell.name.span(), "rnn-macros: this cell could not be lowered")
                .to_compile_error();
            out.extend(crate::fallback::stubs(cell));
            out
        }
    }
}

/// Gives the head of every generated item (its attributes, `pub struct Name<T>`,
/// `impl<T> Trait for Name<T>`) the span of the cell's name, leaving the bodies' contents as
/// they are. Errors about the items themselves, above all those of a cell declared twice in a
/// module ("the name `X` is defined multiple times", "conflicting implementations"), then point
/// at the user's name token rather than at the whole `recurrent!` invocation, while the code in
/// the bodies keeps the macro's spans (so lints treat it as generated).
fn on_the_name(items: TokenStream, span: proc_macro2::Span) -> TokenStream {
    use proc_macro2::{Delimiter, Group, TokenTree};
    fn respan_all(stream: TokenStream, span: proc_macro2::Span) -> TokenStream {
        stream
            .into_iter()
            .map(|mut token| {
                if let TokenTree::Group(group) = &token {
                    let mut inner = Group::new(group.delimiter(), respan_all(group.stream(), span));
                    inner.set_span(span);
                    token = TokenTree::Group(inner);
                } else {
                    token.set_span(span);
                }
                token
            })
            .collect()
    }
    items
        .into_iter()
        .map(|mut token| {
            match &token {
                TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                    let mut body = Group::new(Delimiter::Brace, group.stream());
                    body.set_span(span);
                    token = TokenTree::Group(body);
                }
                TokenTree::Group(group) => {
                    let mut inner = Group::new(group.delimiter(), respan_all(group.stream(), span));
                    inner.set_span(span);
                    token = TokenTree::Group(inner);
                }
                _ => token.set_span(span),
            }
            token
        })
        .collect()
}

fn doc(text: String) -> TokenStream {
    quote!(#[doc = #text])
}

fn shape_text(kind: &Kind) -> String {
    match kind {
        Kind::Scalar => "scalar".to_owned(),
        Kind::Vector { len, .. } => format!("[{len}]"),
        Kind::Matrix { rows, cols } => format!("[{rows}, {cols}]"),
        Kind::Error => "?".to_owned(),
    }
}

/// Rust type of a parameter or hyper-parameter.
fn param_type(kind: &Kind) -> TokenStream {
    let na = quote!(::rnn_core::__private::nalgebra);
    match kind {
        Kind::Scalar | Kind::Error => quote!(T),
        Kind::Vector { .. } => quote!(#na::DVector<T>),
        Kind::Matrix { .. } => quote!(#na::DMatrix<T>),
    }
}

/// `(rows, cols)` expected at run time for a parameter of this kind.
fn param_shape(kind: &Kind, dims: &TokenStream) -> TokenStream {
    match kind {
        Kind::Matrix { rows, cols } => {
            let (r, c) = (rows.runtime(dims), cols.runtime(dims));
            quote!((#r, #c))
        }
        Kind::Vector { len, .. } => {
            let n = len.runtime(dims);
            quote!((#n, 1usize))
        }
        Kind::Scalar | Kind::Error => quote!((1usize, 1usize)),
    }
}

fn zeros_of(kind: &Kind, dims: &TokenStream) -> TokenStream {
    let na = quote!(::rnn_core::__private::nalgebra);
    match kind {
        Kind::Matrix { rows, cols } => {
            let (r, c) = (rows.runtime(dims), cols.runtime(dims));
            quote!(#na::DMatrix::<T>::zeros(#r, #c))
        }
        Kind::Vector { len, .. } => {
            let n = len.runtime(dims);
            quote!(#na::DVector::<T>::zeros(#n))
        }
        Kind::Scalar | Kind::Error => quote!(::rnn_core::__private::lit::<T>(0.0)),
    }
}

/// A parameter or hyper-parameter filled with `value`, allocated fallibly (`?`: only inside the
/// constructors, whose sizes come from the caller's dimensions). `what` names it in the error.
fn filled_of(kind: &Kind, dims: &TokenStream, value: f64, what: &str) -> TokenStream {
    let rt = quote!(::rnn_core::__private);
    let v = quote!(#rt::lit::<T>(#value));
    match kind {
        Kind::Matrix { rows, cols } => {
            let (r, c) = (rows.runtime(dims), cols.runtime(dims));
            quote!(#rt::filled_matrix::<T>(#what, #r, #c, #v)?)
        }
        Kind::Vector { len, .. } => {
            let n = len.runtime(dims);
            quote!(#rt::filled_vector::<T>(#what, #n, #v)?)
        }
        Kind::Scalar | Kind::Error => v,
    }
}

/// Shape of a parameter as reported by `visit`: `&[]`, `&[n]` or `&[r, c]`.
fn visit_shape(kind: &Kind, place: &TokenStream) -> TokenStream {
    match kind {
        Kind::Matrix { .. } => quote!(&[#place.nrows(), #place.ncols()]),
        Kind::Vector { .. } => quote!(&[#place.nrows()]),
        Kind::Scalar | Kind::Error => quote!(&[]),
    }
}

fn visit_slice(kind: &Kind, place: &TokenStream, mutable: bool) -> TokenStream {
    match (kind, mutable) {
        (Kind::Scalar | Kind::Error, false) => quote!(::core::slice::from_ref(&#place)),
        (Kind::Scalar | Kind::Error, true) => quote!(::core::slice::from_mut(&mut #place)),
        (_, false) => quote!(#place.as_slice()),
        (_, true) => quote!(#place.as_mut_slice()),
    }
}

fn found_shape(kind: &Kind, place: &TokenStream) -> TokenStream {
    match kind {
        Kind::Scalar | Kind::Error => quote!((1usize, 1usize)),
        _ => quote!((#place.nrows(), #place.ncols())),
    }
}

fn emit(ir: &CellIr) -> TokenStream {
    let rt = quote!(::rnn_core::__private);
    let na = quote!(#rt::nalgebra);
    let vis = &ir.vis;
    let name = &ir.name;
    let name_text = name.to_string();
    let attrs = &ir.attrs;
    let dims_ty = format_ident!("{}Dims", name);
    let grad_ty = format_ident!("{}Grad", name);
    let state_ty = format_ident!("{}State", name);
    let input_ty = format_ident!("{}Input", name);
    let proj_ty = format_ident!("{}Projection", name);
    let cache_ty = format_ident!("{}Cache", name);
    let dims = quote!(dims);
    let plan: Plan = adjoint::plan(ir);
    let allow = quote!(#[allow(unused_variables, unused_mut, unused_parens, clippy::all)]);

    // ---- dimensions ----
    let dim_fields: Vec<_> = ir.dims.iter().map(|d| format_ident!("{}", d)).collect();
    let dim_texts: Vec<String> = ir.dims.clone();
    let dim_docs: Vec<TokenStream> = ir
        .dims
        .iter()
        .map(|d| doc(format!("The dimension `{d}` of the DSL.")))
        .collect();
    let dims_doc = doc(format!(
        "The dimensions of [`{name}`]; every one must be at least 1."
    ));
    // The checks of the dimensions, inlined into each constructor (not a method of its own: a
    // cell declared twice in a module would then be one more "duplicate definition" error).
    let size_checks = size_checks(ir, &dims);
    let check_dims = quote! {
        #(
            if dims.#dim_fields == 0 {
                return ::core::result::Result::Err(#rt::Error::ZeroDimension { cell: #name_text, dim: #dim_texts });
            }
        )*
        #size_checks
    };

    // ---- parameters ----
    let param_names: Vec<_> = ir.params.iter().map(|p| &p.name).collect();
    let param_texts: Vec<String> = param_names.iter().map(|p| p.to_string()).collect();
    let param_types: Vec<_> = ir.params.iter().map(|p| param_type(&p.kind)).collect();
    let param_docs: Vec<TokenStream> = ir
        .params
        .iter()
        .map(|p| {
            let docs = &p.docs;
            let shape = doc(format!("Trainable, shape `{}`.", shape_text(&p.kind)));
            quote!(#(#docs)* #shape)
        })
        .collect();
    let grad_docs: Vec<TokenStream> = ir
        .params
        .iter()
        .map(|p| doc(format!("∂L/∂`{}`, shape `{}`.", p.name, shape_text(&p.kind))))
        .collect();
    let hyper_names: Vec<_> = ir.hypers.iter().map(|h| &h.name).collect();
    let hyper_types: Vec<_> = ir.hypers.iter().map(|h| param_type(&h.kind)).collect();
    let hyper_docs: Vec<TokenStream> = ir
        .hypers
        .iter()
        .map(|h| {
            let docs = &h.docs;
            let text = doc(format!(
                "Hyper-parameter (not trained), shape `{}`, default {}.",
                shape_text(&h.kind),
                h.default
            ));
            quote!(#(#docs)* #text)
        })
        .collect();
    let hyper_defaults: Vec<_> = ir
        .hypers
        .iter()
        .map(|h| {
            filled_of(
                &h.kind,
                &dims,
                h.default,
                &format!("hyper `{}` of {name}", h.name),
            )
        })
        .collect();
    let param_zeros: Vec<_> = ir.params.iter().map(|p| zeros_of(&p.kind, &dims)).collect();
    let param_allocations: Vec<_> = ir
        .params
        .iter()
        .map(|p| filled_of(&p.kind, &dims, 0.0, &format!("param `{}` of {name}", p.name)))
        .collect();
    let param_dims_text: Vec<String> = ir
        .params
        .iter()
        .map(|p| match &p.kind {
            Kind::Matrix { rows, cols } => format!("{rows} × {cols}"),
            Kind::Vector { len, .. } => format!("{len}"),
            _ => "scalar".to_owned(),
        })
        .collect();
    let param_expected: Vec<_> = ir.params.iter().map(|p| param_shape(&p.kind, &dims)).collect();
    let self_places: Vec<TokenStream> = param_names.iter().map(|n| quote!(self.#n)).collect();
    let grad_places: Vec<TokenStream> = param_names.iter().map(|n| quote!(grad.#n)).collect();
    let arg_places: Vec<TokenStream> = param_names.iter().map(|n| quote!(#n)).collect();
    let found = |places: &[TokenStream]| -> Vec<TokenStream> {
        ir.params
            .iter()
            .zip(places)
            .map(|(p, place)| found_shape(&p.kind, place))
            .collect()
    };
    let self_found = found(&self_places);
    let grad_found = found(&grad_places);
    let arg_found = found(&arg_places);
    let visit_shapes: Vec<_> = ir
        .params
        .iter()
        .zip(&self_places)
        .map(|(p, pl)| visit_shape(&p.kind, pl))
        .collect();
    let visit_slices: Vec<_> = ir
        .params
        .iter()
        .zip(&self_places)
        .map(|(p, pl)| visit_slice(&p.kind, pl, false))
        .collect();
    let visit_slices_mut: Vec<_> = ir
        .params
        .iter()
        .zip(&self_places)
        .map(|(p, pl)| visit_slice(&p.kind, pl, true))
        .collect();
    let hyper_expected: Vec<_> = ir.hypers.iter().map(|h| param_shape(&h.kind, &dims)).collect();
    let hyper_found: Vec<_> = ir
        .hypers
        .iter()
        .map(|h| {
            let n = &h.name;
            found_shape(&h.kind, &quote!(self.#n))
        })
        .collect();
    let hyper_texts: Vec<String> = ir
        .hypers
        .iter()
        .map(|h| format!("hyper-parameter {}", h.name))
        .collect();
    let hyper_dims_text: Vec<String> = ir.hypers.iter().map(|h| shape_text(&h.kind)).collect();
    let init_bound_exprs: Vec<TokenStream> = ir
        .params
        .iter()
        .map(|p| match &p.kind {
            Kind::Matrix { cols, .. } => {
                let c = cols.runtime(&dims);
                quote!(1.0 / (#c as f64).sqrt())
            }
            Kind::Vector { len, .. } => {
                let n = len.runtime(&dims);
                quote!(1.0 / (#n as f64).sqrt())
            }
            Kind::Scalar | Kind::Error => quote!(1.0),
        })
        .collect();
    let init_fill: Vec<TokenStream> = ir
        .params
        .iter()
        .zip(&init_bound_exprs)
        .map(|(p, bound)| {
            let n = &p.name;
            match &p.kind {
                Kind::Scalar | Kind::Error => quote!(cell.#n = #rt::uniform(&mut rng, #bound);),
                _ => quote! {
                    let bound = #bound;
                    cell.#n.iter_mut().for_each(|x| *x = #rt::uniform(&mut rng, bound));
                },
            }
        })
        .collect();
    let retype_of = |kind: &Kind, place: TokenStream| match kind {
        Kind::Scalar | Kind::Error => quote!(f(#place)),
        _ => quote!(#place.map(&f)),
    };
    let retype_params: Vec<TokenStream> = ir
        .params
        .iter()
        .map(|p| {
            let n = &p.name;
            retype_of(&p.kind, quote!(self.#n))
        })
        .collect();
    let retype_hypers: Vec<TokenStream> = ir
        .hypers
        .iter()
        .map(|h| {
            let n = &h.name;
            retype_of(&h.kind, quote!(self.#n))
        })
        .collect();

    // ---- states, inputs, projection ----
    let state_names: Vec<_> = ir.states.iter().map(|s| &s.name).collect();
    let state_texts: Vec<String> = state_names.iter().map(|s| s.to_string()).collect();
    let state_rows: Vec<_> = ir.states.iter().map(|s| rows_of(&s.kind, &dims)).collect();
    let state_docs: Vec<TokenStream> = ir
        .states
        .iter()
        .map(|s| {
            let docs = &s.docs;
            let d = doc(format!(
                "Shape `{} × B`.",
                shape_text(&s.kind).trim_matches(['[', ']'])
            ));
            quote!(#(#docs)* #d)
        })
        .collect();
    let state_idx: Vec<usize> = (0..ir.states.len()).collect();
    let input_names: Vec<_> = ir.inputs.iter().map(|s| &s.name).collect();
    let input_texts: Vec<String> = input_names.iter().map(|s| s.to_string()).collect();
    let input_rows: Vec<_> = ir.inputs.iter().map(|s| rows_of(&s.kind, &dims)).collect();
    let input_docs: Vec<TokenStream> = ir
        .inputs
        .iter()
        .map(|s| {
            let docs = &s.docs;
            let d = doc(format!(
                "Shape `{} × B`.",
                shape_text(&s.kind).trim_matches(['[', ']'])
            ));
            quote!(#(#docs)* #d)
        })
        .collect();
    let input_idx: Vec<usize> = (0..ir.inputs.len()).collect();
    let proj_fields: Vec<_> = (0..plan.frontier.len()).map(proj_field).collect();
    // The projection's `Tensors::NAMES`, which run-time errors quote: the values in the
    // user's terms (`r_x`, `w_hx * x + b`), not the generated field names.
    let proj_texts: Vec<String> = plan.frontier.iter().map(|&n| ir.describe(n)).collect();
    let proj_rows: Vec<_> = plan
        .frontier
        .iter()
        .map(|&n| rows_of(&ir.nodes[n].kind, &dims))
        .collect();
    let proj_idx: Vec<usize> = (0..plan.frontier.len()).collect();
    let proj_docs: Vec<TokenStream> = plan
        .frontier
        .iter()
        .map(|&n| {
            doc(format!(
                "The state-independent value `{}` of the step, shape `{} × B`.",
                ir.describe(n),
                shape_text(&ir.nodes[n].kind).trim_matches(['[', ']'])
            ))
        })
        .collect();

    // ---- buffers ----
    // Every value and adjoint has a place sized once: locals of the projection's methods
    // (once per sequence), fields of the workspace, the cache or the states (per step).
    let batched = |n: NodeId| matches!(ir.nodes[n].kind, Kind::Vector { batched: true, .. });
    let buffer = |n: NodeId, batch: &TokenStream| -> TokenStream {
        let kind = &ir.nodes[n].kind;
        match kind {
            Kind::Scalar | Kind::Error => quote!(#rt::lit::<T>(0.0)),
            _ => {
                let rows = rows_of(kind, &dims);
                let cols = if batched(n) {
                    quote!(#batch)
                } else {
                    quote!(1usize)
                };
                quote!(#rt::zeros(#rows, #cols))
            }
        }
    };
    let buffer_type = |n: NodeId| -> TokenStream {
        match ir.nodes[n].kind {
            Kind::Scalar | Kind::Error => quote!(T),
            _ => quote!(#na::DMatrix<T>),
        }
    };
    let batch_var = quote!(batch);

    // ---- cache ----
    let cached_set: BTreeSet<NodeId> = plan.cached.iter().copied().collect();
    let cache_fields: Vec<_> = plan.cached.iter().map(|&n| value_var(n)).collect();
    let cache_rows: Vec<_> = plan
        .cached
        .iter()
        .map(|&n| rows_of(&ir.nodes[n].kind, &dims))
        .collect();
    let cache_texts: Vec<String> = plan
        .cached
        .iter()
        .map(|&n| format!("`{}`", ir.describe(n)))
        .collect();
    let cache_inits: Vec<TokenStream> = plan.cached.iter().map(|&n| buffer(n, &batch_var)).collect();

    // ---- projection: locals ----
    let proj_value = |n: NodeId| -> TokenStream {
        match plan.proj.leaves.get(&n) {
            Some(&leaf) => leaf_place(ir, leaf, &quote!(state), &quote!(proj), &quote!(input)),
            None => {
                let v = value_var(n);
                quote!(#v)
            }
        }
    };
    let locals = |nodes: &mut dyn Iterator<Item = (NodeId, proc_macro2::Ident)>| -> TokenStream {
        let mut code = TokenStream::new();
        for (n, var) in nodes {
            let init = buffer(n, &batch_var);
            code.extend(quote!(let mut #var = #init;));
        }
        code
    };
    let proj_locals = locals(&mut plan.proj.members.iter().map(|&n| (n, value_var(n))));
    let proj_forward = adjoint::forward_code(ir, &plan.proj.members, &proj_value, Products::Sequence);
    let proj_outputs: Vec<TokenStream> = plan
        .frontier
        .iter()
        .map(|&n| {
            let place = proj_value(n);
            if plan.proj.leaves.contains_key(&n) {
                quote!(#place.clone())
            } else {
                place
            }
        })
        .collect();
    let proj_recompute_locals = locals(&mut plan.proj_recompute.iter().map(|&n| (n, value_var(n))));
    let proj_recompute = adjoint::forward_code(ir, &plan.proj_recompute, &proj_value, Products::Sequence);
    let proj_seeds: Vec<(NodeId, TokenStream)> = plan
        .frontier
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let f = proj_field(k);
            (n, quote!(d_proj.#f))
        })
        .collect();
    let proj_target = |n: NodeId| -> adjoint::Target {
        match plan.proj.leaves.get(&n) {
            Some(&Leaf::Param(k)) => {
                let name = &ir.params[k].name;
                adjoint::Target {
                    place: quote!(grad.#name),
                    always_add: true,
                }
            }
            _ => {
                let var = adjoint_var(n);
                adjoint::Target {
                    place: quote!(#var),
                    always_add: false,
                }
            }
        }
    };
    let (proj_sweep, proj_written) = adjoint::backward_code(
        ir,
        &plan.proj,
        &proj_seeds,
        &proj_value,
        &proj_target,
        &|_, _, _| None,
        &dims,
        Products::Sequence,
    );
    let proj_adjoint_locals = locals(
        &mut plan
            .proj
            .members
            .iter()
            .copied()
            .chain(
                plan.proj
                    .leaves
                    .iter()
                    .filter_map(|(&n, leaf)| matches!(leaf, Leaf::InputIn(_)).then_some(n)),
            )
            .filter(|&n| ir.nodes[n].active && proj_written.contains(&n))
            .map(|n| (n, adjoint_var(n))),
    );
    let d_inputs: Vec<TokenStream> = ir
        .inputs
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let leaf = plan
                .proj
                .leaves
                .iter()
                .find(|(_, leaf)| **leaf == Leaf::InputIn(k))
                .map(|(&n, _)| n);
            match leaf {
                Some(n) if proj_written.contains(&n) => {
                    let var = adjoint_var(n);
                    quote!(#var)
                }
                _ => {
                    let rows = rows_of(&t.kind, &dims);
                    quote!(#rt::zeros(#rows, batch))
                }
            }
        })
        .collect();

    // ---- step: places ----
    let proj_view = |k: usize| format_ident!("proj_{}", k);
    let d_proj_view = |k: usize| format_ident!("d_proj_{}", k);
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Infer,
        Cached,
        Backward,
    }
    let step_value = |n: NodeId, mode: Mode| -> TokenStream {
        let v = value_var(n);
        match plan.step.leaves.get(&n) {
            Some(&Leaf::ProjIn(_)) if mode == Mode::Backward && cached_set.contains(&n) => quote!(cache.#v),
            Some(&Leaf::ProjIn(k)) => {
                let view = proj_view(k);
                quote!(#view)
            }
            Some(&leaf) => leaf_place(ir, leaf, &quote!(state), &quote!(proj), &quote!(input)),
            None => {
                if let Some(&k) = plan.from_next.get(&n) {
                    let name = &ir.states[k].name;
                    quote!(next.#name)
                } else if mode != Mode::Infer && cached_set.contains(&n) {
                    quote!(cache.#v)
                } else {
                    quote!(ws.#v)
                }
            }
        }
    };
    let proj_views: Vec<_> = (0..plan.frontier.len()).map(proj_view).collect();
    let d_proj_views: Vec<_> = (0..plan.frontier.len()).map(d_proj_view).collect();

    // ---- step: forward ----
    let step_forward_in = |mode: Mode| -> TokenStream {
        let mut code =
            adjoint::forward_code(ir, &plan.step.members, &|n| step_value(n, mode), Products::Step);
        // States not computed in place (a state assigned another state's value, an input, or
        // a value shared with an earlier state) are copied.
        for (k, &n) in ir.assigns.iter().enumerate() {
            if plan.from_next.get(&n) != Some(&k) {
                let name = &ir.states[k].name;
                let place = step_value(n, mode);
                code.extend(quote!(#rt::map_to::<T, false>(&mut next.#name, &#place, #rt::identity::<T>);));
            }
        }
        if mode == Mode::Cached {
            for &n in &plan.cached {
                if let Some(&Leaf::ProjIn(k)) = plan.step.leaves.get(&n) {
                    let (v, view) = (value_var(n), proj_view(k));
                    code.extend(quote!(#rt::map_to::<T, false>(&mut cache.#v, &#view, #rt::identity::<T>);));
                }
            }
        }
        code
    };
    let step_infer = step_forward_in(Mode::Infer);
    let step_cached = step_forward_in(Mode::Cached);

    // ---- step: backward ----
    let step_recompute = adjoint::forward_code(
        ir,
        &plan.step_recompute,
        &|n| step_value(n, Mode::Backward),
        Products::Step,
    );
    let step_seeds: Vec<(NodeId, TokenStream)> = ir
        .assigns
        .iter()
        .zip(&ir.states)
        .map(|(&n, s)| {
            let f = &s.name;
            (n, quote!(d_next.#f))
        })
        .collect();
    let step_target = |n: NodeId| -> adjoint::Target {
        let (place, always_add) = match plan.step.leaves.get(&n) {
            Some(&Leaf::Param(k)) => {
                let name = &ir.params[k].name;
                (quote!(grad.#name), true)
            }
            Some(&Leaf::StateIn(k)) => {
                let name = &ir.states[k].name;
                (quote!(d_prev.#name), false)
            }
            Some(&Leaf::ProjIn(k)) => {
                let view = d_proj_view(k);
                (quote!(#view), true)
            }
            _ => {
                let var = adjoint_var(n);
                (quote!(ws.#var), false)
            }
        };
        adjoint::Target { place, always_add }
    };
    // Weight products `W x` with a batched `x`: their gradient `Σ_t dy_t x_tᵀ` is deferred.
    let deferred: Vec<(NodeId, usize)> = plan
        .step
        .members
        .iter()
        .filter_map(|&m| match ir.nodes[m].op {
            Op::MatVec(w, x) if ir.nodes[m].active && batched(x) => match plan.step.leaves.get(&w) {
                Some(&Leaf::Param(k)) => Some((m, k)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let defer_fields = |m: NodeId| (format_ident!("g{}_dy", m), format_ident!("g{}_xt", m));
    let (step_sweep, step_written) = adjoint::backward_code(
        ir,
        &plan.step,
        &step_seeds,
        &|n| step_value(n, Mode::Backward),
        &step_target,
        &|m, dy, x| {
            deferred.iter().any(|&(d, _)| d == m).then(|| {
                let (g_dy, g_xt) = defer_fields(m);
                let (dy, x) = (&dy.place, &x.place);
                quote!(#rt::defer_outer(&mut ws.#g_dy, &mut ws.#g_xt, slot, &#dy, &#x);)
            })
        },
        &dims,
        Products::Step,
    );
    // The adjoint of a state the step does not read is zero.
    let mut zero_d_prev = TokenStream::new();
    for (k, s) in ir.states.iter().enumerate() {
        let reached = plan
            .step
            .leaves
            .iter()
            .any(|(n, leaf)| *leaf == Leaf::StateIn(k) && step_written.contains(n));
        if !reached {
            let name = &s.name;
            zero_d_prev.extend(quote!(#rt::fill_zero(&mut d_prev.#name);));
        }
    }
    let flush: Vec<TokenStream> = deferred
        .iter()
        .map(|&(m, k)| {
            let (g_dy, g_xt) = defer_fields(m);
            let w = &ir.params[k].name;
            quote!(#rt::flush_outer(&mut grad.#w, &ws.#g_dy, &ws.#g_xt, ws.filled * ws.batch);)
        })
        .collect();

    // ---- workspace ----
    let mut ws_fields: Vec<proc_macro2::Ident> = Vec::new();
    let mut ws_types: Vec<TokenStream> = Vec::new();
    let mut ws_inits: Vec<TokenStream> = Vec::new();
    for &n in &plan.step.members {
        ws_fields.push(value_var(n));
        ws_types.push(buffer_type(n));
        ws_inits.push(buffer(n, &batch_var));
        if ir.nodes[n].active {
            ws_fields.push(adjoint_var(n));
            ws_types.push(buffer_type(n));
            ws_inits.push(buffer(n, &batch_var));
        }
    }
    for &(m, k) in &deferred {
        let (g_dy, g_xt) = defer_fields(m);
        let Kind::Matrix { rows, cols } = &ir.params[k].kind else {
            continue;
        };
        let (rows, cols) = (rows.runtime(&dims), cols.runtime(&dims));
        ws_fields.push(g_dy);
        ws_types.push(quote!(#na::DMatrix<T>));
        ws_inits.push(quote!(#rt::zeros(#rows, capacity * batch)));
        ws_fields.push(g_xt);
        ws_types.push(quote!(#na::DMatrix<T>));
        ws_inits.push(quote!(#rt::zeros(capacity * batch, #cols)));
    }
    let workspace_ty = format_ident!("{}Workspace", name);
    let workspace_doc = doc(format!(
        "Scratch buffers of the in-place steps of [`{name}`], sized once for a batch (see `Cell::workspace`)."
    ));

    let output = ir.output;
    let cell_docs_default = if attrs.iter().any(|a| a.path().is_ident("doc")) {
        TokenStream::new()
    } else {
        doc(format!(
            "The recurrent cell `{name}`, declared with `recurrent!`."
        ))
    };
    let grad_doc = doc(format!(
        "Gradients of the parameters of [`{name}`], laid out as the parameters."
    ));
    let state_doc = doc(format!(
        "The recurrent state of [`{name}`]; column `j` belongs to sequence `j`."
    ));
    let input_doc = doc(format!(
        "One time step of input to [`{name}`]; column `j` belongs to sequence `j`."
    ));
    let proj_doc = doc(format!(
        "The state-independent part of a step of [`{name}`] (computed for all time steps at once by the drivers)."
    ));
    let cache_doc = doc(format!(
        "What the backward step of [`{name}`] reads from its forward step besides the old and new states: {} matrices of `rows × B` ({}).",
        plan.cached.len(),
        if cache_texts.is_empty() {
            "none".to_owned()
        } else {
            cache_texts.join(", ")
        }
    ));
    let marker = quote!(#[doc(hidden)] pub __marker: ::core::marker::PhantomData<T>);
    let state_tensors = tensors_impl(&state_ty, &state_names, &state_texts, false);
    let input_tensors = tensors_impl(&input_ty, &input_names, &input_texts, false);
    let proj_field_refs: Vec<&proc_macro2::Ident> = proj_fields.iter().collect();
    let proj_tensors = tensors_impl(&proj_ty, &proj_field_refs, &proj_texts, true);
    let proj_eq = partial_eq_impl(&proj_ty, &proj_field_refs);
    let bookkeeping = ["dims", "batch", "capacity", "filled"].map(|f| format_ident!("{}", f));
    let cache_eq_fields: Vec<&proc_macro2::Ident> = cache_fields.iter().chain(&bookkeeping[..2]).collect();
    let cache_eq = partial_eq_impl(&cache_ty, &cache_eq_fields);
    let ws_eq_fields: Vec<&proc_macro2::Ident> = ws_fields.iter().chain(&bookkeeping).collect();
    let workspace_eq = partial_eq_impl(&workspace_ty, &ws_eq_fields);

    // The cell's own struct first (so that a cell declared twice is first reported as
    // "the name `X` is defined multiple times"), the user's attributes with their own spans.
    let cell_struct = on_the_name(
        quote! {
            #cell_docs_default
            #[derive(Clone, Debug, PartialEq)]
            #vis struct #name<T: #rt::Scalar> {
                #( #param_docs pub #param_names: #param_types, )*
                #( #hyper_docs pub #hyper_names: #hyper_types, )*
                dims: #dims_ty,
                __marker: ::core::marker::PhantomData<T>,
            }
        },
        name.span(),
    );
    let rest = quote! {
        #dims_doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_snake_case)]
        #vis struct #dims_ty {
            #( #dim_docs pub #dim_fields: usize, )*
        }

        #grad_doc
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #grad_ty<T: #rt::Scalar> {
            #( #grad_docs pub #param_names: #param_types, )*
            dims: #dims_ty,
            __marker: ::core::marker::PhantomData<T>,
        }

        #state_doc
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #state_ty<T: #rt::Scalar> {
            #( #state_docs pub #state_names: #na::DMatrix<T>, )*
        }

        #input_doc
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #input_ty<T: #rt::Scalar> {
            #( #input_docs pub #input_names: #na::DMatrix<T>, )*
        }

        #proj_doc
        #[derive(Clone, Debug)]
        #vis struct #proj_ty<T: #rt::Scalar> {
            #( #proj_docs pub #proj_fields: #na::DMatrix<T>, )*
            #marker,
        }

        #cache_doc
        #[derive(Clone, Debug)]
        #vis struct #cache_ty<T: #rt::Scalar> {
            #( #cache_fields: #na::DMatrix<T>, )*
            dims: #dims_ty,
            batch: usize,
            #marker,
        }

        #workspace_doc
        #[derive(Clone, Debug)]
        #vis struct #workspace_ty<T: #rt::Scalar> {
            #( #ws_fields: #ws_types, )*
            dims: #dims_ty,
            batch: usize,
            /// Backward steps whose weight products the buffers can hold.
            capacity: usize,
            /// Backward steps held.
            filled: usize,
            #marker,
        }

        #allow
        impl<T: #rt::Scalar> #name<T> {
            /// A cell with every parameter zero and every hyper-parameter at its default.
            pub fn new(dims: #dims_ty) -> ::core::result::Result<Self, #rt::Error> {
                #check_dims
                ::core::result::Result::Ok(Self {
                    #( #param_names: #param_allocations, )*
                    #( #hyper_names: #hyper_defaults, )*
                    dims,
                    __marker: ::core::marker::PhantomData,
                })
            }

            /// A cell with seeded random parameters: a matrix `[R, C]` uniform in
            /// `±1/√C`, a vector `[N]` uniform in `±1/√N`, a scalar uniform in `±1`.
            /// The same seed gives the same bits.
            pub fn init(dims: #dims_ty, seed: u64) -> ::core::result::Result<Self, #rt::Error> {
                #check_dims
                let mut cell = Self {
                    #( #param_names: #param_allocations, )*
                    #( #hyper_names: #hyper_defaults, )*
                    dims,
                    __marker: ::core::marker::PhantomData,
                };
                let mut rng = #rt::SplitMix64::new(seed);
                #( #init_fill )*
                ::core::result::Result::Ok(cell)
            }

            /// A cell from given parameters (in declaration order), each checked against `dims`.
            pub fn from_params(dims: #dims_ty, #( #param_names: #param_types ),*) -> ::core::result::Result<Self, #rt::Error> {
                #check_dims
                #( #rt::check_param(#name_text, #param_texts, #param_dims_text, #arg_found, #param_expected)?; )*
                ::core::result::Result::Ok(Self {
                    #( #param_names, )*
                    #( #hyper_names: #hyper_defaults, )*
                    dims,
                    __marker: ::core::marker::PhantomData,
                })
            }

            /// The dimensions.
            pub fn dims(&self) -> #dims_ty {
                self.dims
            }
        }

        #allow
        impl<T: #rt::Scalar> #rt::ParamSet<T> for #name<T> {
            fn visit(&self, mut f: impl FnMut(&'static str, &[usize], &[T])) {
                #( f(#param_texts, #visit_shapes, #visit_slices); )*
            }
            fn visit_mut(&mut self, mut f: impl FnMut(&'static str, &[usize], &mut [T])) {
                #( f(#param_texts, #visit_shapes, #visit_slices_mut); )*
            }
        }

        #allow
        impl<T: #rt::Scalar> #rt::ParamSet<T> for #grad_ty<T> {
            fn visit(&self, mut f: impl FnMut(&'static str, &[usize], &[T])) {
                #( f(#param_texts, #visit_shapes, #visit_slices); )*
            }
            fn visit_mut(&mut self, mut f: impl FnMut(&'static str, &[usize], &mut [T])) {
                #( f(#param_texts, #visit_shapes, #visit_slices_mut); )*
            }
        }

        #allow
        impl<T: #rt::Scalar> #grad_ty<T> {
            /// The dimensions of the cell these gradients belong to.
            pub fn dims(&self) -> #dims_ty {
                self.dims
            }
        }

        #state_tensors
        #input_tensors
        #proj_tensors
        #proj_eq
        #cache_eq
        #workspace_eq

        #allow
        impl<T: #rt::Scalar> #rt::Cell<T> for #name<T> {
            type Dims = #dims_ty;
            type State = #state_ty<T>;
            type Input = #input_ty<T>;
            type Projection = #proj_ty<T>;
            type Cache = #cache_ty<T>;
            type Workspace = #workspace_ty<T>;
            type Grad = #grad_ty<T>;
            type Retyped<U: #rt::Scalar> = #name<U>;

            const NAME: &'static str = #name_text;
            const OUTPUT: usize = #output;

            fn dims(&self) -> #dims_ty {
                self.dims
            }

            fn retype<U: #rt::Scalar>(&self, f: impl Fn(T) -> U) -> #name<U> {
                #name {
                    #( #param_names: #retype_params, )*
                    #( #hyper_names: #retype_hypers, )*
                    dims: self.dims,
                    __marker: ::core::marker::PhantomData,
                }
            }

            fn state_rows(&self, k: usize) -> usize {
                let dims = self.dims;
                match k { #( #state_idx => #state_rows, )* _ => 0 }
            }

            fn input_rows(&self, k: usize) -> usize {
                let dims = self.dims;
                match k { #( #input_idx => #input_rows, )* _ => 0 }
            }

            fn projection_rows(&self, k: usize) -> usize {
                let dims = self.dims;
                match k { #( #proj_idx => #proj_rows, )* _ => 0 }
            }

            fn check_params(&self) -> ::core::result::Result<(), #rt::Error> {
                let dims = self.dims;
                #( #rt::check_param(#name_text, #param_texts, #param_dims_text, #self_found, #param_expected)?; )*
                #( #rt::check_param(#name_text, #hyper_texts, #hyper_dims_text, #hyper_found, #hyper_expected)?; )*
                ::core::result::Result::Ok(())
            }

            fn zero_state(&self, batch: usize) -> #state_ty<T> {
                let dims = self.dims;
                #state_ty { #( #state_names: #rt::zeros(#state_rows, batch), )* }
            }

            fn zero_grad(&self) -> #grad_ty<T> {
                let dims = self.dims;
                #grad_ty { #( #param_names: #param_zeros, )* dims, __marker: ::core::marker::PhantomData }
            }

            fn check_grad(&self, grad: &#grad_ty<T>) -> ::core::result::Result<(), #rt::Error> {
                let dims = self.dims;
                #( #rt::check_param(#name_text, concat!("gradient of ", #param_texts), #param_dims_text, #grad_found, #param_expected)?; )*
                ::core::result::Result::Ok(())
            }

            fn cache_len(&self, batch: usize) -> usize {
                let dims = self.dims;
                // Statements, not one `+` chain (a cell may cache thousands of values); saturating
                // for a batch too large to exist.
                let mut len = 0usize;
                #( len = len.saturating_add((#cache_rows).saturating_mul(batch)); )*
                len
            }

            fn project(&self, input: &#input_ty<T>) -> ::core::result::Result<#proj_ty<T>, #rt::Error> {
                <Self as #rt::Cell<T>>::check_params(self)?;
                let batch = #rt::check_tensors(concat!("input of ", #name_text), input, |k| <Self as #rt::Cell<T>>::input_rows(self, k), ::core::option::Option::None)?;
                let dims = self.dims;
                #proj_locals
                #proj_forward
                ::core::result::Result::Ok(#proj_ty { #( #proj_fields: #proj_outputs, )* __marker: ::core::marker::PhantomData })
            }

            fn project_backward(
                &self,
                input: &#input_ty<T>,
                d_proj: &#proj_ty<T>,
                grad: &mut #grad_ty<T>,
            ) -> ::core::result::Result<#input_ty<T>, #rt::Error> {
                <Self as #rt::Cell<T>>::check_params(self)?;
                <Self as #rt::Cell<T>>::check_grad(self, grad)?;
                let batch = #rt::check_tensors(concat!("input of ", #name_text), input, |k| <Self as #rt::Cell<T>>::input_rows(self, k), ::core::option::Option::None)?;
                #rt::check_tensors(concat!("projection adjoint of ", #name_text), d_proj, |k| <Self as #rt::Cell<T>>::projection_rows(self, k), ::core::option::Option::Some(batch))?;
                let dims = self.dims;
                #proj_recompute_locals
                #proj_recompute
                #proj_adjoint_locals
                #proj_sweep
                ::core::result::Result::Ok(#input_ty { #( #input_names: #d_inputs, )* })
            }

            fn workspace(&self, batch: usize, steps: usize) -> #workspace_ty<T> {
                let dims = self.dims;
                let capacity = #rt::deferred_capacity(batch, steps);
                #workspace_ty {
                    #( #ws_fields: #ws_inits, )*
                    dims,
                    batch,
                    capacity,
                    filled: 0,
                    __marker: ::core::marker::PhantomData,
                }
            }

            fn new_cache(&self, batch: usize) -> #cache_ty<T> {
                let dims = self.dims;
                #cache_ty { #( #cache_fields: #cache_inits, )* dims, batch, __marker: ::core::marker::PhantomData }
            }

            fn step_into(
                &self,
                proj: &#proj_ty<T>,
                column: usize,
                state: &#state_ty<T>,
                next: &mut #state_ty<T>,
                cache: ::core::option::Option<&mut #cache_ty<T>>,
                ws: &mut #workspace_ty<T>,
            ) -> ::core::result::Result<(), #rt::Error> {
                <Self as #rt::Cell<T>>::check_params(self)?;
                let batch = #rt::check_tensors(concat!("state of ", #name_text), state, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::None)?;
                #rt::check_tensors(concat!("new state of ", #name_text), next, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::Some(batch))?;
                #rt::check_projection_columns(concat!("projection of ", #name_text), proj, |k| <Self as #rt::Cell<T>>::projection_rows(self, k), column, batch)?;
                #rt::check_made_for("workspace", #name_text, (ws.dims, ws.batch), (self.dims, batch))?;
                let dims = self.dims;
                #( let #proj_views = #rt::columns(&proj.#proj_fields, column, batch); )*
                match cache {
                    ::core::option::Option::None => {
                        #step_infer
                    }
                    ::core::option::Option::Some(cache) => {
                        #rt::check_made_for("cache", #name_text, (cache.dims, cache.batch), (self.dims, batch))?;
                        #step_cached
                    }
                }
                ::core::result::Result::Ok(())
            }

            fn step_backward_into(
                &self,
                saved: #rt::Saved<'_, #state_ty<T>, #cache_ty<T>>,
                d_next: &#state_ty<T>,
                d_prev: &mut #state_ty<T>,
                d_proj: &mut #proj_ty<T>,
                grad: &mut #grad_ty<T>,
                ws: &mut #workspace_ty<T>,
            ) -> ::core::result::Result<(), #rt::Error> {
                <Self as #rt::Cell<T>>::check_params(self)?;
                <Self as #rt::Cell<T>>::check_grad(self, grad)?;
                let #rt::Saved { state, next, cache, column } = saved;
                let batch = #rt::check_tensors(concat!("state of ", #name_text), state, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::None)?;
                #rt::check_tensors(concat!("new state of ", #name_text), next, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::Some(batch))?;
                #rt::check_tensors(concat!("state adjoint of ", #name_text), d_next, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::Some(batch))?;
                #rt::check_tensors(concat!("old state adjoint of ", #name_text), d_prev, |k| <Self as #rt::Cell<T>>::state_rows(self, k), ::core::option::Option::Some(batch))?;
                #rt::check_projection_columns(concat!("projection adjoint of ", #name_text), d_proj, |k| <Self as #rt::Cell<T>>::projection_rows(self, k), column, batch)?;
                #rt::check_made_for("cache", #name_text, (cache.dims, cache.batch), (self.dims, batch))?;
                #rt::check_made_for("workspace", #name_text, (ws.dims, ws.batch), (self.dims, batch))?;
                if ws.filled == ws.capacity {
                    #( #flush )*
                    ws.filled = 0;
                }
                let slot = ws.filled;
                let dims = self.dims;
                #( let mut #d_proj_views = #rt::columns_mut(&mut d_proj.#proj_fields, column, batch); )*
                #step_recompute
                #step_sweep
                #zero_d_prev
                ws.filled += 1;
                ::core::result::Result::Ok(())
            }

            fn flush_grad(&self, ws: &mut #workspace_ty<T>, grad: &mut #grad_ty<T>) -> ::core::result::Result<(), #rt::Error> {
                <Self as #rt::Cell<T>>::check_grad(self, grad)?;
                #rt::check_made_for("workspace", #name_text, (ws.dims, ws.batch), (self.dims, ws.batch))?;
                #( #flush )*
                ws.filled = 0;
                ::core::result::Result::Ok(())
            }
        }
    };
    let rest = on_the_name(rest, name.span());
    quote! {
        #(#attrs)*
        #cell_struct
        #rest
    }
}

/// The checks of `check_dims` that every size computed from the dimensions exists, in three
/// passes (so the first error is the most basic one): every dimension expression of the cell
/// (declarations and intermediate values such as `[x; h]`) fits in `usize`, one column of each
/// takes at most `isize::MAX` bytes, and so does every matrix parameter and hyper-parameter.
/// The other sizes the generated code computes from the dimensions are these or smaller; the
/// ones that also depend on the batch (states, caches, workspaces) are not checked here.
fn size_checks(ir: &CellIr, dims: &TokenStream) -> TokenStream {
    let rt = quote!(::rnn_core::__private);
    let name_text = ir.name.to_string();
    let mut expressions: Vec<&Dim> = Vec::new();
    let kinds = (ir
        .inputs
        .iter()
        .chain(&ir.states)
        .chain(&ir.params)
        .map(|t| &t.kind))
    .chain(ir.hypers.iter().map(|h| &h.kind))
    .chain(ir.nodes.iter().map(|n| &n.kind));
    for kind in kinds {
        let found: &[&Dim] = match kind {
            Kind::Vector { len, .. } => &[len],
            Kind::Matrix { rows, cols } => &[rows, cols],
            Kind::Scalar | Kind::Error => &[],
        };
        for &dim in found {
            if dim.as_constant().is_none() && !expressions.contains(&dim) {
                expressions.push(dim);
            }
        }
    }
    let describe_format = if ir.dims.is_empty() {
        "no dimensions".to_owned()
    } else {
        ir.dims
            .iter()
            .map(|d| format!("{d} = {{}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dim_fields = ir.dims.iter().map(|d| format_ident!("{}", d));
    let mut code = quote! {
        let __dims_text = || ::std::format!(#describe_format, #( #dims.#dim_fields ),*);
    };
    for dim in &expressions {
        let text = dim.to_string();
        let terms = dim.terms.iter().map(|(field, coefficient)| {
            let field = format_ident!("{}", field);
            let coefficient = *coefficient as usize;
            quote!((#coefficient, #dims.#field))
        });
        let constant = dim.constant as usize;
        code.extend(quote! {
            #rt::dimension(#name_text, #text, &[#(#terms),*], #constant, &__dims_text)?;
        });
    }
    for dim in &expressions {
        let what = format!("a vector of dimension `{dim}`");
        let len = dim.runtime(dims);
        code.extend(quote! {
            #rt::check_entries::<T>(#name_text, #what, #len, 1usize, &__dims_text)?;
        });
    }
    let matrices = (ir.params.iter().map(|p| ("param", &p.name, &p.kind)))
        .chain(ir.hypers.iter().map(|h| ("hyper-parameter", &h.name, &h.kind)));
    for (role, name, kind) in matrices {
        if let Kind::Matrix { rows, cols } = kind {
            let what = format!("{role} `{name}` {}", shape_text(kind));
            let (rows, cols) = (rows.runtime(dims), cols.runtime(dims));
            code.extend(quote! {
                #rt::check_entries::<T>(#name_text, #what, #rows, #cols, &__dims_text)?;
            });
        }
    }
    code
}

/// `impl PartialEq` comparing the given fields, one statement each. Not derived: the derive is
/// one `&&` chain over every field, and a step with thousands of values (so a workspace with
/// thousands of buffers) overflowed the compiler's stack on it.
fn partial_eq_impl(ty: &proc_macro2::Ident, fields: &[&proc_macro2::Ident]) -> TokenStream {
    let rt = quote!(::rnn_core::__private);
    quote! {
        #[allow(clippy::all)]
        impl<T: #rt::Scalar> ::core::cmp::PartialEq for #ty<T> {
            fn eq(&self, other: &Self) -> bool {
                #(
                    if self.#fields != other.#fields {
                        return false;
                    }
                )*
                true
            }
        }
    }
}

/// `impl Tensors` for a generated struct of `rows × B` matrices (`marker`: it also has the
/// hidden `__marker` field).
fn tensors_impl(
    ty: &proc_macro2::Ident,
    fields: &[&proc_macro2::Ident],
    names: &[String],
    marker: bool,
) -> TokenStream {
    let rt = quote!(::rnn_core::__private);
    let na = quote!(#rt::nalgebra);
    let idx: Vec<usize> = (0..fields.len()).collect();
    let marker = marker.then(|| quote!(__marker: ::core::marker::PhantomData,));
    quote! {
        #[allow(unused_variables, unused_mut, clippy::all)]
        impl<T: #rt::Scalar> #rt::Tensors<T> for #ty<T> {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            fn get(&self, k: usize) -> ::core::option::Option<&#na::DMatrix<T>> {
                match k { #( #idx => ::core::option::Option::Some(&self.#fields), )* _ => ::core::option::Option::None }
            }
            fn get_mut(&mut self, k: usize) -> ::core::option::Option<&mut #na::DMatrix<T>> {
                match k { #( #idx => ::core::option::Option::Some(&mut self.#fields), )* _ => ::core::option::Option::None }
            }
            fn from_fn(mut f: impl FnMut(usize) -> #na::DMatrix<T>) -> Self {
                Self { #( #fields: f(#idx), )* #marker }
            }
        }
    }
}
