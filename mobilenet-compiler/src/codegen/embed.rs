//! Weights compiled into the network: prepared at build time as `load`
//! prepares them (f32: BatchNorm folded, kernels packed; int8: the blob of
//! layer records), once per weight layout the target's kernels may read,
//! written to files named by their content and embedded with
//! `include_bytes!` (`network.rs` emits the statics).

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

use mobilenet_layout::pack::{Packing, Targets};
use mobilenet_layout::q8pack::QLayout;

/// A weight layout of either precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobLayout {
    F32(Packing),
    Int8(QLayout),
}

impl BlobLayout {
    /// The name its blob files carry.
    pub fn name(self) -> String {
        match self {
            BlobLayout::F32(p) => p.name().to_string(),
            BlobLayout::Int8(l) => format!("int8-{}", l.name()),
        }
    }

    /// The architectures whose kernels read it.
    pub fn targets(self) -> Targets {
        match self {
            BlobLayout::F32(p) => p.targets(),
            BlobLayout::Int8(l) => l.targets(),
        }
    }

    /// `#[cfg(..)]` of the targets whose kernels read it (none: all).
    pub(super) fn cfg(self) -> Option<TokenStream> {
        match self.targets() {
            Targets::All => None,
            Targets::Only(archs) => Some(quote!(#[cfg(any(#(target_arch = #archs),*))])),
            Targets::AllBut(archs) => Some(quote!(#[cfg(not(any(#(target_arch = #archs),*)))])),
        }
    }

    /// The layout's value in generated code (a `match` arm's pattern).
    pub(super) fn tokens(self, rt: &TokenStream) -> TokenStream {
        match self {
            BlobLayout::F32(Packing::Quad) => quote!(#rt::kernels::Packing::Quad),
            BlobLayout::F32(Packing::Narrow) => quote!(#rt::kernels::Packing::Narrow),
            BlobLayout::F32(Packing::Wide) => quote!(#rt::kernels::Packing::Wide),
            BlobLayout::Int8(QLayout::Pairs8) => quote!(#rt::kernels::QLayout::Pairs8),
            BlobLayout::Int8(QLayout::Quads16) => quote!(#rt::kernels::QLayout::Quads16),
        }
    }
}

/// One embedded weight buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub layout: BlobLayout,
    /// The file `include_bytes!` reads.
    pub path: PathBuf,
    pub bytes: usize,
}

/// Why compiled-in weights could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the packed weights to {path}: {source}")]
pub struct WriteError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` as the blob of `layout` to `dir` (see [`write_blob`]).
pub(super) fn blob(dir: &Path, layout: BlobLayout, bytes: &[u8]) -> Result<Blob, WriteError> {
    let path = write_blob(dir, &layout.name(), bytes)?;
    Ok(Blob { layout, path, bytes: bytes.len() })
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

/// Writes `bytes` to `dir/<content hash>-<tag>.bin` (unless that file
/// already holds them) and returns its path.
fn write_blob(dir: &Path, tag: &str, bytes: &[u8]) -> Result<PathBuf, WriteError> {
    let io = |path: &Path, source| WriteError { path: path.display().to_string(), source };
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
