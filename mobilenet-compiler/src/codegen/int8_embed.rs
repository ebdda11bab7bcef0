//! int8 weights compiled in: the quantized-model file is read and packed at
//! build time, with the same code `load` runs (`q8model::Packed`), once per
//! int8 weight layout (portable, AVX2, AVX-512 VNNI: a build packs for
//! every instruction set its binary may meet, whatever the build machine
//! runs). Each layout's weights, biases and multipliers go to one blob
//! (every array 64-byte aligned), embedded with `include_bytes!`; the
//! scalars (zero points, clamp bounds, the input's and pools' scales)
//! become literals of `static` [`Tables`](mobilenet_runtime::q8layers::Tables)
//! whose slices view the blob. The generated type is then a `const`
//! value: no load step, no heap, no `std`.

use std::path::Path;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use mobilenet_layout::q8file::QFile;
use mobilenet_runtime::kernels::q8::QLayout;
use mobilenet_runtime::q8model::{Packed, QStep};

use super::Int8Error;
use super::embed::write_blob;
use super::layout::lit;

/// A blob being written: arrays appended at 64-byte boundaries.
#[derive(Default)]
struct Blob {
    bytes: Vec<u8>,
}

impl Blob {
    /// Appends `values`' little-endian bytes; returns their byte offset.
    fn push<const N: usize>(&mut self, values: impl IntoIterator<Item = [u8; N]>) -> usize {
        self.bytes.resize(self.bytes.len().next_multiple_of(64), 0);
        let at = self.bytes.len();
        self.bytes.extend(values.into_iter().flatten());
        at
    }
}

/// An `f32` as an exact `const` expression.
fn float(v: f32) -> TokenStream {
    let bits = v.to_bits();
    quote!(f32::from_bits(#bits))
}

/// The type of an int8 network whose weights `bytes` (the quantized-model
/// file `shown`) are packed now, written to `dir` and compiled in.
#[allow(clippy::too_many_arguments)]
pub(super) fn storage(
    name: &Ident,
    doc: &str,
    steps: &[QStep<'_>],
    bytes: &[u8],
    shown: &str,
    dir: &Path,
    rt: &TokenStream,
) -> Result<TokenStream, Int8Error> {
    let file = QFile::from_bytes(shown, bytes)?;
    let mut statics = Vec::new();
    for layout in QLayout::ALL {
        let p = Packed::of(shown, &file, steps, layout)?;
        let mut blob = Blob::default();
        let blob_name = format_ident!("BLOB_{}", layout.name().to_uppercase());
        let slices = |blob: &mut Blob, w: TokenStream, bias: &[i32], mult: &[f32]| {
            let (b, m) =
                (blob.push(bias.iter().map(|v| v.to_le_bytes())), blob.push(mult.iter().map(|v| v.to_le_bytes())));
            let (bl, ml, b, m) = (lit(bias.len()), lit(mult.len()), lit(b), lit(m));
            quote!(w: #w, bias: #blob_name.i32s(#b, #bl), mult: #blob_name.f32s(#m, #ml))
        };
        let gemm: Vec<TokenStream> = p
            .gemm
            .iter()
            .map(|g| {
                let (at, len) = (lit(blob.push(g.w.iter().map(|v| v.to_le_bytes()))), lit(g.w.len()));
                let parts = slices(&mut blob, quote!(#blob_name.i8s(#at, #len)), &g.bias, &g.mult);
                let (kpad, x_zp, zp, lo, hi) = (lit(g.kpad), g.x_zp, g.zp, g.lo, g.hi);
                let residual = match g.residual {
                    Some((zp, mult)) => {
                        let mult = float(mult);
                        quote!(Some((#zp, #mult)))
                    }
                    None => quote!(None),
                };
                quote!(q::GemmLayer { kpad: #kpad, #parts, x_zp: #x_zp, zp: #zp, lo: #lo, hi: #hi, residual: #residual })
            })
            .collect();
        let dw: Vec<TokenStream> =
            p.dw.iter()
                .map(|d| {
                    let (at, len) = (lit(blob.push(d.w.iter().map(|v| v.to_le_bytes()))), lit(d.w.len()));
                    let parts = slices(&mut blob, quote!(#blob_name.i32s(#at, #len)), &d.bias, &d.mult);
                    let (x_zp, zp, lo, hi) = (d.x_zp, d.zp, d.lo, d.hi);
                    quote!(q::DepthwiseLayer { #parts, x_zp: #x_zp, zp: #zp, lo: #lo, hi: #hi })
                })
                .collect();
        let pool = p.pool.iter().map(|l| {
            let (x_zp, mult, zp) = (l.x_zp, float(l.mult), l.zp);
            quote!(q::PoolLayer { x_zp: #x_zp, mult: #mult, zp: #zp })
        });
        // At least one byte: `include_bytes!` of an empty file is fine, but a
        // zero-sized blob static is not worth a special case.
        blob.bytes.resize(blob.bytes.len().max(64).next_multiple_of(64), 0);
        let path = write_blob(dir, &format!("int8-{}", layout.name()), &blob.bytes)?;
        let (path, len) = (path.display().to_string(), lit(blob.bytes.len()));
        let tables = format_ident!("TABLES_{}", layout.name().to_uppercase());
        let layout_const = format_ident!("{}", layout.name().to_uppercase());
        let (a, b) = (float(p.input.0), float(p.input.1));
        // The x86 layouts only where their kernels exist.
        let cfg = (layout != QLayout::PORTABLE).then(|| quote!(#[cfg(target_arch = "x86_64")]));
        statics.push((
            cfg.clone(),
            tables.clone(),
            quote! {
                #cfg
                static #blob_name: #rt::embed::Aligned<#len> = #rt::embed::Aligned(*include_bytes!(#path));
                #cfg
                static #tables: #rt::q8layers::Tables = {
                    use #rt::q8layers as q;
                    q::Tables {
                        layout: #rt::kernels::q8::QLayout::#layout_const,
                        input: (#a, #b),
                        gemm: &[#(#gemm),*],
                        depthwise: &[#(#dw),*],
                        pool: &[#(#pool),*],
                    }
                };
            },
        ));
    }
    let items = statics.iter().map(|(_, _, t)| t);
    let all_x86 = statics.iter().map(|(_, t, _)| quote!(&#t));
    let count = lit(statics.len());
    let doc = format!("{doc} Weights compiled in.");
    Ok(quote! {
        #(#items)*

        /// The tables of every layout this target's kernels read.
        #[cfg(target_arch = "x86_64")]
        const ALL_TABLES: [&'static #rt::q8layers::Tables; #count] = [#(#all_x86),*];
        #[cfg(not(target_arch = "x86_64"))]
        const ALL_TABLES: [&'static #rt::q8layers::Tables; 1] = [&TABLES_PORTABLE];

        #[doc = #doc]
        ///
        /// A `const` value: `static NET: T = T::new();` needs no load step,
        /// no heap and no `std`.
        #[derive(Debug, Clone, Copy)]
        pub struct #name {
            isa: ::core::option::Option<#rt::kernels::q8::QIsa>,
        }

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            /// The network, on the fastest int8 kernels the CPU runs
            /// (`QIsa::best`, checked at each call).
            pub const fn new() -> Self {
                Self { isa: ::core::option::Option::None }
            }

            /// The network on the int8 kernels of `isa`.
            pub const fn with_isa(isa: #rt::kernels::q8::QIsa) -> Self {
                Self { isa: ::core::option::Option::Some(isa) }
            }

            /// The instruction set the int8 kernels run with.
            pub fn isa(&self) -> #rt::kernels::q8::QIsa {
                match self.isa {
                    ::core::option::Option::Some(isa) => isa,
                    ::core::option::Option::None => #rt::kernels::q8::QIsa::best(),
                }
            }

            /// The compiled-in layers for [`Self::isa`].
            #[inline]
            fn layers(&self) -> #rt::q8layers::Embedded {
                #rt::q8layers::Embedded::new(self.isa(), &ALL_TABLES)
            }
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }
    })
}
