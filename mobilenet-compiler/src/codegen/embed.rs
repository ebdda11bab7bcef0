//! Weights compiled into the network: folded, packed and written at build
//! time, embedded with `include_bytes!`.
//!
//! For each weight layout the kernels read ([`Packing`]: 8-float vectors
//! for the portable and AVX2 kernels, 16 for AVX-512) the build runs the
//! same preparation `load` runs at run time (`prepare::run`: BatchNorm
//! folded, kernels packed) and writes the prepared floats, little-endian, to
//! `<blob_dir>/<content hash>-<packing>.bin`. The generated type embeds each
//! file in a 64-byte aligned static and picks the one of the instruction
//! set it runs with. The wide blob is only compiled in on x86-64, where the
//! AVX-512 kernels exist.

use std::path::{Path, PathBuf};

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use mobilenet_layout::pack::Packing;
use mobilenet_layout::weights::WeightError;

use super::layout::{Layout, lit};
use super::{Generated, Options, Storage, emit_with, graph_of};
use crate::spec::{Spec, SpecError};

/// One embedded weight buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub packing: Packing,
    /// The file `include_bytes!` reads.
    pub path: PathBuf,
    pub bytes: usize,
}

/// Why a network with embedded weights could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error("cannot write the packed weights to {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where packed weights are written: the calling crate's `OUT_DIR` when it
/// has a build script, else `mobilenet-rs` in the system's temporary
/// directory. Files are named by a hash of their content, so builds share
/// them and never see a stale one; if one is deleted, the `include_bytes!`
/// that reads it makes cargo rebuild the crate, which writes it again.
pub fn blob_dir() -> PathBuf {
    match std::env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir).join("mobilenet-rs"),
        None => std::env::temp_dir().join("mobilenet-rs"),
    }
}

/// Like [`super::generate`], with the weights of the safetensors file
/// `weights` (called `shown` in errors) prepared, packed and written to
/// `dir` now, and compiled into the generated type, which then has no load
/// step (`const fn new`).
pub fn generate_embedded(
    spec: &Spec,
    options: &Options,
    weights: &Path,
    shown: &str,
    dir: &Path,
) -> Result<Generated, EmbedError> {
    let graph = graph_of(spec, options)?;
    let layout = Layout::of(&graph);
    let params = graph.params();
    let bytes = std::fs::read(weights).map_err(|source| WeightError::Io { path: shown.to_string(), source })?;
    let tensors = mobilenet_layout::weights::load_bytes(shown, &bytes, &crate::weights::specs(&params))?;
    let steps = layout.steps(&graph);
    let mut blobs = Vec::new();
    for packing in Packing::ALL {
        let mut w = vec![0.0f32; layout.len];
        mobilenet_layout::prepare::run(&steps, &tensors, &mut w, packing);
        let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let path = write_blob(dir, packing.name(), &bytes)?;
        blobs.push(Blob { packing, path, bytes: bytes.len() });
    }
    Ok(emit_with(graph, options, &Storage::Embedded(blobs)))
}

/// Writes `bytes` to `dir/<content hash>-<tag>.bin` (unless that file
/// already holds them) and returns its path.
pub(super) fn write_blob(dir: &Path, tag: &str, bytes: &[u8]) -> Result<PathBuf, EmbedError> {
    let io = |path: &Path, source| EmbedError::Io { path: path.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(format!("{:016x}-{tag}.bin", fnv1a(bytes)));
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        // Write and rename, so that a concurrent build never reads half a file.
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    }
    Ok(path)
}

/// 64-bit FNV-1a: names blob files by content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The type and its weights for [`Storage::Embedded`].
pub(super) fn storage(name: &Ident, doc: &str, blobs: &[Blob], rt: &TokenStream) -> TokenStream {
    let doc = format!("{doc} Weights compiled in.");
    let blob = |packing: Packing| {
        let b = blobs.iter().find(|b| b.packing == packing).expect("a blob per packing");
        let (path, len) = (b.path.display().to_string(), lit(b.bytes));
        quote! {{
            static W: #rt::embed::Aligned<#len> = #rt::embed::Aligned(*include_bytes!(#path));
            W.floats()
        }}
    };
    let (narrow, wide) = (blob(Packing::Narrow), blob(Packing::Wide));
    quote! {
        #[doc = #doc]
        ///
        /// A `const` value: `static NET: T = T::new();` needs no load step,
        /// no heap and no `std`.
        #[derive(Debug, Clone, Copy)]
        pub struct #name {
            isa: ::core::option::Option<#rt::kernels::Isa>,
        }

        #[allow(unused_doc_comments, clippy::all)]
        impl #name {
            /// Prepared weights for the portable and AVX2 kernels.
            pub const WEIGHTS_NARROW: &'static [f32] = #narrow;
            /// Prepared weights for the AVX-512 kernels.
            #[cfg(target_arch = "x86_64")]
            pub const WEIGHTS_WIDE: &'static [f32] = #wide;

            /// The network, on the fastest kernels the CPU runs
            /// (`Isa::best`, checked at each call).
            pub const fn new() -> Self {
                Self { isa: ::core::option::Option::None }
            }

            /// The network on the kernels of `isa`.
            pub const fn with_isa(isa: #rt::kernels::Isa) -> Self {
                Self { isa: ::core::option::Option::Some(isa) }
            }

            /// The instruction set the kernels run with.
            pub fn isa(&self) -> #rt::kernels::Isa {
                match self.isa {
                    ::core::option::Option::Some(isa) => isa,
                    ::core::option::Option::None => #rt::kernels::Isa::best(),
                }
            }

            /// The prepared weights and the kernels that read them.
            #[inline]
            fn parts(&self) -> (&'static [f32], #rt::kernels::Isa) {
                let isa = self.isa();
                let w = match isa.packing() {
                    #rt::kernels::Packing::Narrow => Self::WEIGHTS_NARROW,
                    #[cfg(target_arch = "x86_64")]
                    #rt::kernels::Packing::Wide => Self::WEIGHTS_WIDE,
                    #[cfg(not(target_arch = "x86_64"))]
                    #rt::kernels::Packing::Wide => unreachable!("no wide kernels on this target"),
                };
                (w, isa)
            }
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }
    }
}
