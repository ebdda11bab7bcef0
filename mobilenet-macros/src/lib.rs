//! `mobilenet!`: compiles a MobileNet spec into a Rust type at build time.
//!
//! ```ignore
//! mobilenet_macros::mobilenet!("specs/v2_1.0_224.yaml");                       // type MobileNetV2
//! mobilenet_macros::mobilenet!("specs/v2_1.0_224.yaml", name = V2Unfused, fuse = false);
//! ```
//!
//! The path is relative to the calling crate's `CARGO_MANIFEST_DIR`, and the
//! crate is rebuilt when the file changes. The generated code calls
//! `mobilenet_runtime`, which the calling crate must depend on. All the work
//! is done by `mobilenet_compiler::codegen`; this crate only parses the
//! call and turns errors into `compile_error!` at the call.

use std::path::Path;

use mobilenet_compiler::codegen::{self, Fusion, GenerateError, Options, Precision, Weights};
use mobilenet_compiler::spec::{Family, Spec};
use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitStr, Token};

/// Compiles the spec at the given path (relative to the calling crate's
/// manifest directory) into a type with `load` and an allocation-free
/// `forward`. Options: `name = Type` (default: `MobileNetV1`,
/// `MobileNetV2`, `MobileNetV3Large` or `MobileNetV3Small`), `fuse = false`
/// (the unfused program, for comparison) or `fuse = every_block` (every
/// block fused whatever its size, for tests), `profile = true` (also emit
/// `forward_timed`, which times each step, and `STEP_NAMES`), `weights =
/// "file.safetensors"` (relative to the manifest directory too: the weights
/// are prepared at build time and compiled in; the type is then a `const`
/// value with no `load`, no heap and no `std`), `precision = int8` (the
/// int8 network: it loads a quantized-model file made by `mobilenetc
/// quantize`; float input and output, same API; with `weights = "q.safetensors"`
/// that file is packed at build time and compiled in, as for f32).
#[proc_macro]
pub fn mobilenet(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let args = syn::parse_macro_input!(input as Args);
    match expand(&args) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct Args {
    path: LitStr,
    name: Option<Ident>,
    fuse: Option<Fusion>,
    profile: Option<LitBool>,
    weights: Option<LitStr>,
    int8: Option<Ident>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path: LitStr = input.parse()?;
        let mut args = Args { path, name: None, fuse: None, profile: None, weights: None, int8: None };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "name" if args.name.is_none() => args.name = Some(input.parse()?),
                "fuse" if args.fuse.is_none() => args.fuse = Some(parse_fusion(input)?),
                "profile" if args.profile.is_none() => args.profile = Some(input.parse()?),
                "weights" if args.weights.is_none() => args.weights = Some(input.parse()?),
                "precision" if args.int8.is_none() => {
                    let word: Ident = input.parse()?;
                    match word.to_string().as_str() {
                        "int8" => args.int8 = Some(word),
                        "f32" => {}
                        _ => return Err(syn::Error::new(word.span(), "`precision` is `f32` or `int8`")),
                    }
                }
                "name" | "fuse" | "profile" | "weights" | "precision" => {
                    return Err(syn::Error::new(key.span(), format!("`{key}` is given twice")));
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{key}`; the options are `name = Type`, `fuse = true|false`, \
                             `profile = true|false`, `weights = \"file.safetensors\"` and `precision = f32|int8`"
                        ),
                    ));
                }
            }
        }
        Ok(args)
    }
}

/// `true`, `false` or `every_block` (tests: every block fused whatever its size).
fn parse_fusion(input: ParseStream<'_>) -> syn::Result<Fusion> {
    if input.peek(LitBool) {
        let b: LitBool = input.parse()?;
        return Ok(if b.value { Fusion::Optimized } else { Fusion::Off });
    }
    let word: Ident = input.parse()?;
    if word == "every_block" {
        return Ok(Fusion::EveryBlock);
    }
    Err(syn::Error::new(word.span(), "`fuse` is `true`, `false` or `every_block`"))
}

fn expand(args: &Args) -> syn::Result<TokenStream> {
    let at = args.path.span();
    let written = args.path.value();
    let dir = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| syn::Error::new(at, "CARGO_MANIFEST_DIR is not set"))?;
    // A path outside the crate (`../specs/x.yaml`) is fine: workspaces share
    // specs, and `include_bytes!` of the joined path tracks it all the same
    // (tests/spec_rebuild.rs).
    let full = Path::new(&dir).join(&written);
    if full.is_dir() {
        return Err(syn::Error::new(
            at,
            format!(
                "`{written}` is a directory, not a spec file (the path is relative to the crate's CARGO_MANIFEST_DIR)"
            ),
        ));
    }
    let text = std::fs::read(&full).map_err(|e| {
        syn::Error::new(at, format!("cannot read spec `{written}` (relative to the crate's CARGO_MANIFEST_DIR): {e}"))
    })?;
    // Bytes, not a string: a file that is not UTF-8 gets the parser's
    // `file:line:column` of the first bad byte.
    let spec = Spec::parse_bytes(&text, &written).map_err(|e| syn::Error::new(at, e.to_string()))?;
    let name = match &args.name {
        Some(n) => n.to_string(),
        None => default_name(spec.model.family).to_string(),
    };
    let mut options = Options::new(name);
    options.fusion = args.fuse.unwrap_or(Fusion::Optimized);
    options.profile = args.profile.as_ref().is_some_and(LitBool::value);
    let call = proc_macro::Span::call_site();
    options.module = Some(format!("__mobilenet_{}_{}_{}", options.type_name, call.line(), call.column()));
    if args.int8.is_some() {
        options.precision = Precision::Int8;
    }
    let mut tracked = vec![full.display().to_string()];
    if let Some(w) = &args.weights {
        let path = Path::new(&dir).join(w.value());
        tracked.push(path.display().to_string());
        options.weights = Weights::Embedded { path, shown: w.value(), dir: codegen::blob_dir() };
    }
    let code =
        codegen::generate(&spec, &options).map_err(|e| syn::Error::new(span_of(&e, args), e.to_string()))?.tokens;
    Ok(quote! {
        #code
        // Rebuild when the spec or the weights change.
        #(const _: &[u8] = include_bytes!(#tracked);)*
    })
}

/// Where an error is reported: a spec error at the spec's path, a layer int8
/// cannot compute at `int8`, a bad weights file at the weights' path.
fn span_of(e: &GenerateError, args: &Args) -> proc_macro2::Span {
    match e {
        GenerateError::Spec(_) => args.path.span(),
        GenerateError::Unsupported(_) => args.int8.as_ref().map_or(args.path.span(), Ident::span),
        GenerateError::Weights(_) | GenerateError::QuantizedWeights(_) | GenerateError::Write(_) => {
            args.weights.as_ref().map_or(args.path.span(), LitStr::span)
        }
    }
}

fn default_name(family: Family) -> &'static str {
    match family {
        Family::V1 => "MobileNetV1",
        Family::V2 => "MobileNetV2",
        Family::V3Large => "MobileNetV3Large",
        Family::V3Small => "MobileNetV3Small",
    }
}
