//! What is emitted next to the `compile_error!`s when a cell is rejected: the cell's types,
//! without a body, so code that names them reports nothing more than the real mistake.

use crate::ast::CellDef;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn stubs(cell: &CellDef) -> TokenStream {
    let vis = &cell.vis;
    let name = &cell.name;
    let typed = [
        name.clone(),
        format_ident!("{}Grad", name),
        format_ident!("{}State", name),
        format_ident!("{}Input", name),
    ];
    let dims = format_ident!("{}Dims", name);
    quote! {
        #(
            #[allow(dead_code)]
            #vis struct #typed<T>(::core::marker::PhantomData<T>);
        )*
        #[allow(dead_code)]
        #vis struct #dims;
    }
}
