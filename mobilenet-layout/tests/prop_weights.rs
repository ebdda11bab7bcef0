//! Property tests of the safetensors weight loader
//! (`mobilenet_layout::weights::load_bytes`): whatever bytes it is given, it
//! returns the tensors the specs ask for or an error whose text names the
//! file and every offending tensor, and it never panics.
//!
//! Every file here is written by the test itself (not by the `safetensors`
//! crate the loader reads with), from a model of what it holds, and every
//! expectation comes from an independent model of the format and of the
//! loader's rules:
//!
//! * a header is valid exactly when it is a JSON object of tensor entries
//!   (`dtype` one of safetensors' names, `shape` and `data_offsets`
//!   non-negative integers, two offsets) plus an optional `__metadata__` map
//!   of strings, no name appears twice, the entries' byte ranges, sorted,
//!   cover the data section exactly once without gaps, each range is as long
//!   as its shape and dtype say (computed without overflow), and the header
//!   length field says exactly how long the header is; anything else is a
//!   [`WeightError::Format`];
//! * a valid file loads exactly when every spec's tensor is present under
//!   one of its names (not both), is F32, F16 or BF16, has the spec's shape
//!   and only finite values (non-negative where required), and the file has
//!   no other tensor but the `num_batches_tracked` counters of loaded
//!   BatchNorms; then the values are the file's, widened (F16 by an f64
//!   computation here) and transposed from OIHW / `[out, in]` by index
//!   arithmetic written independently of the loader's; otherwise the error
//!   lists exactly the problems the model predicts, in order.
//!
//! Inputs: arbitrary bytes; well-formed files with random specs, partly
//! matching them (missing, extra, ambiguous, mis-shaped, mis-typed, F16 and
//! BF16, torchvision layouts, zero-size tensors, NaN, infinities, negative
//! variances); those files truncated, extended, with a wrong header length
//! or a changed byte; garbage, non-UTF-8, deeply nested and huge headers;
//! and hostile headers: duplicate names (also spelled with `\u` escapes),
//! every dtype name and unknown ones, shapes whose size overflows,
//! overlapping, reversed, shifted and out-of-range offsets, data sections of
//! the wrong length, bad metadata, missing and repeated fields.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use mobilenet_layout::weights::{Layout, Problem, Tensor, TensorSpec, WeightError, load_bytes};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

/// Every property runs this many cases (the issue asks for at least 10,000).
const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

/// safetensors' limit on the header's length.
const MAX_HEADER: u64 = 100_000_000;

/// Every dtype name safetensors knows, with its size in bits.
const DTYPES: &[(&str, usize)] = &[
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("F8_E4M3FNUZ", 8),
    ("F8_E5M2FNUZ", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("C64", 64),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

/// Whole-byte dtypes the loader refuses (it reads F32, F16 and BF16).
const REFUSED: &[&str] =
    &["I8", "I64", "BOOL", "F64", "U8", "I32", "U16", "I16", "U32", "U64", "C64", "F8_E4M3", "F8_E5M2", "F8_E8M0"];

/// Dtype strings that are no safetensors dtype at all.
const UNKNOWN_DTYPES: &[&str] = &["f32", "F32 ", " F32", "FLOAT", "", "F8", "Q4_0", "float16", "I128", "\u{e9}"];

fn bits_of(dtype: &str) -> Option<usize> {
    DTYPES.iter().find(|(n, _)| *n == dtype).map(|&(_, b)| b)
}

/// Names the errors must show.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &["w.safetensors", "dir/model weights.safetensors", "<safetensors bytes>", "\u{fc}/\u{e7}.st", "{}"][..]
        )
        .prop_map(str::to_string),
        "[a-zA-Z0-9/._ -]{1,24}",
    ]
}

// ---------------------------------------------------------------------------
// The contract every result must keep.

fn keys_of(p: &Problem) -> Vec<&str> {
    match p {
        Problem::Missing { key, .. }
        | Problem::Unexpected { key, .. }
        | Problem::Shape { key, .. }
        | Problem::Dtype { key, .. }
        | Problem::NotFinite { key, .. }
        | Problem::Negative { key, .. } => vec![key],
        Problem::Ambiguous { key, alt_key } => vec![key, alt_key],
    }
}

/// How the loader shows a name from the file: control characters escaped
/// as Rust's `char::escape_default` does, backquotes as `` \` ``.
fn escaped(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '`' => "\\`".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// An error's text is not empty, names the file, and names (in backquotes)
/// every tensor a mismatch is about.
fn check_contract(name: &str, result: &Result<Vec<Tensor>, WeightError>) -> Result<(), TestCaseError> {
    let Err(err) = result else { return Ok(()) };
    let text = err.to_string();
    prop_assert!(!text.trim().is_empty());
    prop_assert!(text.contains(name), "the error does not name the file {name:?}: {text:?}");
    match err {
        WeightError::Mismatch { problems, .. } => {
            prop_assert!(!problems.is_empty(), "a mismatch without problems: {text:?}");
            for p in problems {
                for key in keys_of(p) {
                    // Names that come from the file alone are shown escaped
                    // (control characters and backquotes).
                    let shown = match p {
                        Problem::Unexpected { .. } => escaped(key),
                        _ => key.to_string(),
                    };
                    prop_assert!(text.contains(&format!("`{shown}`")), "the error does not name `{shown}`: {text:?}");
                    prop_assert!(
                        !matches!(p, Problem::Unexpected { .. }) || !shown.contains('\n'),
                        "an unexpected name shown with a line break: {text:?}"
                    );
                }
            }
        }
        WeightError::Format { reason, .. } => prop_assert!(!reason.trim().is_empty(), "no reason: {text:?}"),
        WeightError::Io { .. } => prop_assert!(false, "an I/O error from bytes: {text:?}"),
    }
    Ok(())
}

/// The result is a format error (and keeps the contract).
fn check_format_error(name: &str, result: &Result<Vec<Tensor>, WeightError>) -> Result<(), TestCaseError> {
    check_contract(name, result)?;
    prop_assert!(matches!(result, Err(WeightError::Format { .. })), "expected a format error, got {result:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Writing files.

/// `s` as a JSON string; with `escape_all`, every character as `\uXXXX`
/// (so the same name can be spelled two ways).
fn json_str(s: &str, escape_all: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if escape_all {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(out, "\\u{u:04x}").unwrap();
            }
        } else {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

/// The length field, the header and the data.
fn with_length(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(data);
    file
}

fn dims_json(dims: &[usize]) -> String {
    format!("[{}]", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
}

/// One tensor of a well-formed file.
#[derive(Debug, Clone)]
struct FileTensor {
    key: String,
    dtype: &'static str,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// How a well-formed file is written.
#[derive(Debug, Clone)]
struct Style {
    /// Seeds of the order of the data and of the header's entries.
    data_seed: u64,
    header_seed: u64,
    /// A `__metadata__` entry, first or last.
    metadata: Option<bool>,
    /// Spaces after the JSON (safetensors pads the header to 8 bytes).
    padding: usize,
    /// Names spelled with `\u` escapes.
    escaped: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<u64>(), any::<u64>(), prop::option::of(any::<bool>()), 0usize..9, prop::bool::weighted(0.1)).prop_map(
        |(data_seed, header_seed, metadata, padding, escaped)| Style {
            data_seed,
            header_seed,
            metadata,
            padding,
            escaped,
        },
    )
}

/// `0..n` in an order picked by `seed` (xorshift and Fisher-Yates).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    order
}

/// A well-formed safetensors file holding `tensors`, and where its data
/// section starts.
fn write_file(tensors: &[FileTensor], style: &Style) -> (Vec<u8>, usize) {
    let mut offsets = vec![(0, 0); tensors.len()];
    let mut data = Vec::new();
    for i in permutation(tensors.len(), style.data_seed) {
        let begin = data.len();
        data.extend_from_slice(&tensors[i].data);
        offsets[i] = (begin, data.len());
    }
    let mut entries: Vec<String> = permutation(tensors.len(), style.header_seed)
        .into_iter()
        .map(|i| {
            let t = &tensors[i];
            format!(
                "{}:{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{},{}]}}",
                json_str(&t.key, style.escaped),
                t.dtype,
                dims_json(&t.shape),
                offsets[i].0,
                offsets[i].1
            )
        })
        .collect();
    let metadata = "\"__metadata__\":{\"format\":\"pt\"}".to_string();
    match style.metadata {
        Some(true) => entries.insert(0, metadata),
        Some(false) => entries.push(metadata),
        None => {}
    }
    let header = format!("{{{}}}{}", entries.join(","), " ".repeat(style.padding));
    let file = with_length(header.as_bytes(), &data);
    let data_start = file.len() - data.len();
    (file, data_start)
}

// ---------------------------------------------------------------------------
// The model of the loader on a well-formed file.

/// A spec, owning what a `TensorSpec` borrows.
#[derive(Debug, Clone)]
struct SpecModel {
    key: String,
    alt: Option<String>,
    shape: Vec<usize>,
    layout: Layout,
    non_negative: bool,
}

fn tensor_specs(specs: &[SpecModel]) -> Vec<TensorSpec<'_>> {
    specs
        .iter()
        .map(|s| TensorSpec {
            key: &s.key,
            alt_key: s.alt.as_deref(),
            shape: &s.shape,
            layout: s.layout,
            non_negative: s.non_negative,
        })
        .collect()
}

/// IEEE half precision, computed in f64.
fn f16_value(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f64 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f64::from(h & 0x3ff);
    let magnitude = match exp {
        0 => man * 2f64.powi(-24),
        31 if man == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1024.0 + man) * 2f64.powi(e - 25),
    };
    (sign * magnitude) as f32
}

/// The values of a float tensor, as f32.
fn values(dtype: &str, data: &[u8]) -> Vec<f32> {
    match dtype {
        "F32" => data.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        "F16" => data.chunks(2).map(|b| f16_value(u16::from_le_bytes([b[0], b[1]]))).collect(),
        "BF16" => data.chunks(2).map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)).collect(),
        other => unreachable!("{other} is not a float dtype"),
    }
}

/// `v` (row-major in the file's `shape`) in Keras' layout, and its shape,
/// gathered element by element in Keras' order.
fn to_keras(layout: Layout, shape: &[usize], v: &[f32]) -> (Vec<usize>, Vec<f32>) {
    match (layout, shape) {
        (Layout::Oihw, &[o, i, kh, kw]) => {
            let mut out = Vec::with_capacity(v.len());
            for y in 0..kh {
                for x in 0..kw {
                    for ic in 0..i {
                        for oc in 0..o {
                            out.push(v[((oc * i + ic) * kh + y) * kw + x]);
                        }
                    }
                }
            }
            (vec![kh, kw, i, o], out)
        }
        (Layout::OutIn, &[o, i]) => {
            let mut out = Vec::with_capacity(v.len());
            for ic in 0..i {
                for oc in 0..o {
                    out.push(v[oc * i + ic]);
                }
            }
            (vec![i, o], out)
        }
        (Layout::Keras, _) => (shape.to_vec(), v.to_vec()),
        _ => unreachable!("the test writes no spec of the wrong rank for its layout"),
    }
}

/// What loading must give.
#[derive(Debug)]
enum Expect {
    Ok(Vec<(Vec<usize>, Vec<f32>)>),
    Mismatch(Vec<Problem>),
    Format,
}

/// The loader's rules, on a well-formed file of `tensors` (distinct names).
fn expect(tensors: &[FileTensor], specs: &[SpecModel]) -> Expect {
    let find = |key: &str| tensors.iter().find(|t| t.key == key);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for spec in specs {
        let primary = find(&spec.key);
        let alt = spec.alt.as_deref().and_then(find);
        let t = match (primary, alt) {
            (Some(p), Some(a)) => {
                used.insert(p.key.clone());
                used.insert(a.key.clone());
                problems.push(Problem::Ambiguous { key: p.key.clone(), alt_key: a.key.clone() });
                continue;
            }
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => {
                problems.push(Problem::Missing { key: spec.key.clone(), expected: spec.shape.clone() });
                continue;
            }
        };
        used.insert(t.key.clone());
        let key = t.key.clone();
        if !matches!(t.dtype, "F32" | "F16" | "BF16") {
            problems.push(Problem::Dtype { key, actual: t.dtype.to_string() });
            continue;
        }
        if t.shape != spec.shape {
            problems.push(Problem::Shape { key, expected: spec.shape.clone(), actual: t.shape.clone() });
            continue;
        }
        let v = values(t.dtype, &t.data);
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            problems.push(Problem::NotFinite { key, index, value: v[index] });
            continue;
        }
        if spec.non_negative
            && let Some(index) = v.iter().position(|&x| x < 0.0)
        {
            problems.push(Problem::Negative { key, index, value: v[index] });
            continue;
        }
        out.push(to_keras(spec.layout, &spec.shape, &v));
    }
    let mut unexpected: Vec<&FileTensor> = tensors
        .iter()
        .filter(|t| {
            let counter_of_loaded_bn = t
                .key
                .strip_suffix("num_batches_tracked")
                .is_some_and(|module| used.contains(&format!("{module}running_mean")));
            !used.contains(&t.key) && !counter_of_loaded_bn
        })
        .collect();
    unexpected.sort_by(|a, b| a.key.cmp(&b.key));
    problems.extend(unexpected.into_iter().map(|t| Problem::Unexpected { key: t.key.clone(), shape: t.shape.clone() }));
    if problems.is_empty() { Expect::Ok(out) } else { Expect::Mismatch(problems) }
}

/// `result` is what the model expects (and keeps the contract).
fn check_expected(
    name: &str,
    result: &Result<Vec<Tensor>, WeightError>,
    expected: &Expect,
) -> Result<(), TestCaseError> {
    check_contract(name, result)?;
    match (expected, result) {
        (Expect::Ok(want), Ok(got)) => {
            prop_assert_eq!(want.len(), got.len());
            for (i, ((shape, data), t)) in want.iter().zip(got).enumerate() {
                prop_assert_eq!(shape, &t.shape, "tensor {} shape", i);
                let want_bits: Vec<u32> = data.iter().map(|v| v.to_bits()).collect();
                let got_bits: Vec<u32> = t.data.iter().map(|v| v.to_bits()).collect();
                prop_assert_eq!(want_bits, got_bits, "tensor {} values: {:?} vs {:?}", i, data, t.data);
            }
        }
        (Expect::Mismatch(want), Err(WeightError::Mismatch { problems, .. })) => {
            // Debug, not ==: a NaN never equals itself.
            prop_assert_eq!(format!("{want:?}"), format!("{problems:?}"));
            let text = result.as_ref().unwrap_err().to_string();
            let count = if want.len() == 1 { "(1 problem)".to_string() } else { format!("({} problems)", want.len()) };
            prop_assert!(text.contains(&count), "{text}");
        }
        (Expect::Format, Err(WeightError::Format { .. })) => {}
        _ => prop_assert!(false, "expected {expected:?}, got {result:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Well-formed files against specs.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    /// Present under the spec's key.
    Good,
    /// Present under the alternative key.
    UnderAlt,
    Missing,
    /// Present under both keys.
    Ambiguous,
    Misshaped,
    Mistyped,
}

/// One spec and what the file holds for it.
#[derive(Debug, Clone)]
struct SpecPlan {
    layout: Layout,
    rank: usize,
    dims: [u8; 4],
    key_style: u8,
    has_alt: bool,
    non_negative: bool,
    fate: Fate,
    dtype: &'static str,
    bad_dtype: &'static str,
    /// Raw values (bit patterns), cycled to the tensor's size.
    bits: Vec<u32>,
    /// Keep the values finite (and non-negative where required).
    clean: bool,
    /// One special value (NaN, infinities, negatives...) at one index.
    special: Option<(Index, u8)>,
    misshape: u8,
}

fn spec_plan() -> impl Strategy<Value = SpecPlan> {
    let fate = prop_oneof![
        6 => Just(Fate::Good),
        2 => Just(Fate::UnderAlt),
        1 => Just(Fate::Missing),
        1 => Just(Fate::Ambiguous),
        1 => Just(Fate::Misshaped),
        1 => Just(Fate::Mistyped),
    ];
    (
        (
            select(&[Layout::Keras, Layout::Keras, Layout::Oihw, Layout::OutIn][..]),
            0usize..=4,
            [0u8..24, 0..24, 0..24, 0..24],
        ),
        (0u8..3, any::<bool>(), any::<bool>()),
        (fate, select(&["F32", "F16", "BF16"][..]), select(REFUSED)),
        (prop::collection::vec(any::<u32>(), 1..40), prop::bool::weighted(0.75)),
        (prop::option::weighted(0.3, (any::<Index>(), 0u8..8)), 0u8..4),
    )
        .prop_map(
            |(
                (layout, rank, dims),
                (key_style, has_alt, non_negative),
                (fate, dtype, bad_dtype),
                (bits, clean),
                (special, misshape),
            )| SpecPlan {
                layout,
                rank,
                dims,
                key_style,
                has_alt,
                non_negative,
                fate,
                dtype,
                bad_dtype,
                bits,
                clean,
                special,
                misshape,
            },
        )
}

/// An extra tensor: unused, or a BatchNorm's `num_batches_tracked`.
#[derive(Debug, Clone)]
struct ExtraPlan {
    kind: u8,
    of: u8,
    dtype: &'static str,
    len: usize,
}

fn extra_plan() -> impl Strategy<Value = ExtraPlan> {
    (0u8..3, 0u8..6, select(&["F32", "I64", "F16", "U8"][..]), 0usize..4).prop_map(|(kind, of, dtype, len)| ExtraPlan {
        kind,
        of,
        dtype,
        len,
    })
}

/// Bit patterns of special values: NaN, +inf, -inf, -1, -0, the smallest
/// negative subnormal, the largest finite, 0.
fn special_bits(dtype: &str, which: u8) -> u32 {
    let table: [u32; 8] = match dtype {
        "F32" => [0x7fc0_0000, 0x7f80_0000, 0xff80_0000, 0xbf80_0000, 0x8000_0000, 0x8000_0001, 0x7f7f_ffff, 0],
        "F16" => [0x7e00, 0x7c00, 0xfc00, 0xbc00, 0x8000, 0x8001, 0x7bff, 0],
        _ => [0x7fc0, 0x7f80, 0xff80, 0xbf80, 0x8000, 0x8001, 0x7f7f, 0],
    };
    table[usize::from(which) % 8]
}

/// `n` values of `dtype` from the plan's bit patterns, as little-endian bytes.
fn float_data(plan: &SpecPlan, dtype: &str, n: usize) -> Vec<u8> {
    let mut data = Vec::new();
    let special = plan.special.as_ref().filter(|_| n > 0).map(|(i, which)| (i.index(n), *which));
    for j in 0..n {
        let mut b = plan.bits[j % plan.bits.len()];
        // Exponent all ones (inf or NaN) made finite, the sign cleared.
        let (exp_top, sign) = if dtype == "F32" { (0x4000_0000, 0x8000_0000) } else { (0x4000, 0x8000) };
        if dtype != "F32" {
            b &= 0xffff;
        }
        if plan.clean {
            let finite = match dtype {
                "F32" => b & 0x7f80_0000 != 0x7f80_0000,
                "F16" => b & 0x7c00 != 0x7c00,
                _ => b & 0x7f80 != 0x7f80,
            };
            if !finite {
                b &= !exp_top;
            }
            if plan.non_negative {
                b &= !sign;
            }
        }
        if let Some((at, which)) = special
            && at == j
        {
            b = special_bits(dtype, which);
        }
        if dtype == "F32" {
            data.extend_from_slice(&b.to_le_bytes());
        } else {
            data.extend_from_slice(&(b as u16).to_le_bytes());
        }
    }
    data
}

/// A well-formed file and the specs it is loaded with.
#[derive(Debug, Clone)]
struct Case {
    specs: Vec<SpecModel>,
    tensors: Vec<FileTensor>,
}

fn build_case(plans: &[SpecPlan], extras: &[ExtraPlan]) -> Case {
    let mut specs = Vec::new();
    let mut tensors = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        // Mostly 1 to 3, sometimes 0 (a zero-size tensor).
        let dim = |d: u8| if d == 0 { 0 } else { 1 + usize::from(d % 3) };
        let all: Vec<usize> = p.dims.iter().map(|&d| dim(d)).collect();
        let shape = match p.layout {
            Layout::Keras => all[..p.rank].to_vec(),
            Layout::Oihw => all.clone(),
            Layout::OutIn => all[..2].to_vec(),
        };
        let (key, alt) = match p.key_style {
            0 => (format!("l{i}/kernel"), format!("l{i}/depthwise_kernel")),
            1 => (format!("m{i}.running_mean"), format!("m{i}.mean")),
            _ => (format!("f.{i}.weight"), format!("f.{i}.w")),
        };
        let has_alt = p.has_alt || matches!(p.fate, Fate::UnderAlt | Fate::Ambiguous);
        let n: usize = shape.iter().product();
        let good = |key: &str| FileTensor {
            key: key.to_string(),
            dtype: p.dtype,
            shape: shape.clone(),
            data: float_data(p, p.dtype, n),
        };
        match p.fate {
            Fate::Good => tensors.push(good(&key)),
            Fate::UnderAlt => tensors.push(good(&alt)),
            Fate::Missing => {}
            Fate::Ambiguous => {
                tensors.push(good(&key));
                tensors.push(good(&alt));
            }
            Fate::Misshaped => {
                let keras = p.layout.keras_shape(&shape).unwrap();
                let mut wrong = match p.misshape {
                    0 => keras,
                    1 if !shape.is_empty() => {
                        let mut s = shape.clone();
                        s[0] += 1;
                        s
                    }
                    2 if !shape.is_empty() => shape[..shape.len() - 1].to_vec(),
                    _ => [&shape[..], &[1]].concat(),
                };
                if wrong == shape {
                    wrong.push(1);
                }
                let n = wrong.iter().product();
                tensors.push(FileTensor {
                    key: key.clone(),
                    dtype: p.dtype,
                    shape: wrong,
                    data: float_data(p, p.dtype, n),
                });
            }
            Fate::Mistyped => {
                let bytes = n * bits_of(p.bad_dtype).unwrap() / 8;
                let data = (0..bytes).map(|j| p.bits[j % p.bits.len()] as u8).collect();
                tensors.push(FileTensor { key: key.clone(), dtype: p.bad_dtype, shape: shape.clone(), data });
            }
        }
        specs.push(SpecModel {
            key,
            alt: has_alt.then_some(alt),
            shape,
            layout: p.layout,
            non_negative: p.non_negative,
        });
    }
    for (j, e) in extras.iter().enumerate() {
        let (key, shape) = match e.kind {
            0 => (format!("extra{j}/bias"), vec![e.len]),
            1 => (format!("m{}.num_batches_tracked", e.of), vec![]),
            _ => (format!("x{j}.num_batches_tracked"), vec![]),
        };
        if tensors.iter().any(|t| t.key == key) {
            continue;
        }
        let n: usize = shape.iter().product();
        let data = vec![0; n * bits_of(e.dtype).unwrap() / 8];
        tensors.push(FileTensor { key, dtype: e.dtype, shape, data });
    }
    Case { specs, tensors }
}

/// Cases, two in five of them made to load (every tensor present, clean
/// values, no extras) so that the loaded values are checked often.
fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(spec_plan(), 0..6), prop::collection::vec(extra_plan(), 0..3), prop::bool::weighted(0.4))
        .prop_map(|(mut plans, mut extras, perfect)| {
            if perfect {
                for p in &mut plans {
                    if !matches!(p.fate, Fate::Good | Fate::UnderAlt) {
                        p.fate = Fate::Good;
                    }
                    p.clean = true;
                    // Keep only the special values the loader takes: -0, the
                    // largest finite, 0, and negatives where they are allowed.
                    p.special = p
                        .special
                        .take()
                        .filter(|(_, w)| matches!(w % 8, 4 | 6 | 7) || (!p.non_negative && matches!(w % 8, 3 | 5)));
                }
                extras.clear();
            }
            build_case(&plans, &extras)
        })
}

// ---------------------------------------------------------------------------
// Hostile headers: every part of an entry may be wrong.

/// A number in the header, or something that is not a `usize`.
#[derive(Debug, Clone)]
enum Num {
    Int(u128),
    Text(&'static str),
}

impl Num {
    fn json(&self) -> String {
        match self {
            Num::Int(v) => v.to_string(),
            Num::Text(t) => t.to_string(),
        }
    }

    fn value(&self) -> Option<usize> {
        match self {
            Num::Int(v) => u64::try_from(*v).ok().map(|v| v as usize),
            Num::Text(_) => None,
        }
    }
}

/// Numbers that are not `usize`s.
const NOT_USIZE: &[&str] = &["-1", "1.5", "1e3", "\"3\"", "null", "true", "18446744073709551616", "[1]", "{}"];

/// An entry as safetensors reads it: dtype, bits per element, shape, offsets.
type Parsed = (&'static str, usize, Vec<usize>, (usize, usize));

/// One header entry, written as it is, right or wrong.
#[derive(Debug, Clone)]
struct RawEntry {
    key: String,
    escaped: bool,
    dtype: String,
    /// `dtype` written as a number.
    dtype_number: bool,
    shape: Vec<Num>,
    offsets: Vec<Num>,
    /// An unknown field holding arrays nested this deep (ignored when
    /// shallow, refused past serde_json's recursion limit).
    extra_depth: Option<usize>,
    /// `dtype` given twice.
    repeat_field: bool,
    /// A field left out (0 dtype, 1 shape, 2 data_offsets).
    drop_field: Option<u8>,
}

impl RawEntry {
    fn json(&self) -> String {
        let dtype = if self.dtype_number { "7".to_string() } else { json_str(&self.dtype, false) };
        let shape = format!("[{}]", self.shape.iter().map(Num::json).collect::<Vec<_>>().join(","));
        let offsets = format!("[{}]", self.offsets.iter().map(Num::json).collect::<Vec<_>>().join(","));
        let mut fields =
            vec![format!("\"dtype\":{dtype}"), format!("\"shape\":{shape}"), format!("\"data_offsets\":{offsets}")];
        if let Some(f) = self.drop_field {
            fields.remove(usize::from(f));
        }
        if self.repeat_field {
            fields.push(format!("\"dtype\":{dtype}"));
        }
        if let Some(d) = self.extra_depth {
            fields.insert(1, format!("\"x\":{}1{}", "[".repeat(d), "]".repeat(d)));
        }
        format!("{}:{{{}}}", json_str(&self.key, self.escaped), fields.join(","))
    }

    /// The entry as safetensors reads it, or `None` if it is not one.
    fn parsed(&self) -> Option<Parsed> {
        let bits = bits_of(&self.dtype).filter(|_| !self.dtype_number)?;
        let shape = self.shape.iter().map(Num::value).collect::<Option<Vec<_>>>()?;
        let offsets = self.offsets.iter().map(Num::value).collect::<Option<Vec<_>>>()?;
        let &[begin, end] = &offsets[..] else { return None };
        if self.repeat_field || self.drop_field.is_some() || self.extra_depth.is_some_and(|d| d > 100) {
            return None;
        }
        Some((DTYPES.iter().find(|(n, _)| *n == self.dtype).unwrap().0, bits, shape, (begin, end)))
    }
}

#[derive(Debug, Clone)]
enum Metadata {
    None,
    /// `null`, which safetensors takes for no metadata.
    Null,
    Strings(Vec<(String, String)>),
    /// Not a map of strings.
    Bad(&'static str),
}

/// A hostile file: entries, metadata, data, and the specs to load it with.
#[derive(Debug, Clone)]
struct Hostile {
    entries: Vec<RawEntry>,
    metadata: Metadata,
    /// Whitespace before the closing brace.
    padding: usize,
    data: Vec<u8>,
    specs: Vec<SpecModel>,
}

/// Names the entries take (so that some repeat).
const POOL: &[&str] = &[
    "w",
    "b",
    "k/kernel",
    "k/depthwise_kernel",
    "bn.running_mean",
    "bn.num_batches_tracked",
    "x.num_batches_tracked",
    "",
    "q\"\\\u{1}\u{e9}\u{1f600}",
];

/// How one entry is made hostile.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// `data_offsets` reversed.
    Reversed,
    /// `data_offsets` moved by this much (overlap or gap).
    Shifted(i64),
    /// `data_offsets` replaced.
    Offsets(Vec<Num>),
    /// One dim replaced.
    Dim(Index, Num),
    /// A huge dim added (the size overflows, or not if another dim is 0).
    Huge(Index, u128),
    Dtype(String),
    DtypeNumber,
    RepeatField,
    DropField(u8),
    /// A deeply nested unknown field.
    Nested(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    let num = prop_oneof![
        3 => prop_oneof![0u128..64, Just(u128::from(u64::MAX)), Just(1 << 40), Just(1 << 63)].prop_map(Num::Int),
        1 => select(NOT_USIZE).prop_map(Num::Text),
    ];
    prop_oneof![
        16 => Just(Damage::None),
        1 => Just(Damage::Reversed),
        1 => (-9i64..9).prop_map(Damage::Shifted),
        1 => prop::collection::vec(num.clone(), 0..4).prop_map(Damage::Offsets),
        1 => (any::<Index>(), num).prop_map(|(i, n)| Damage::Dim(i, n)),
        1 => (any::<Index>(), select(&[1 << 40, 1 << 32, 1 << 62, u64::MAX as u128, 1 << 64][..]))
            .prop_map(|(i, v)| Damage::Huge(i, v)),
        2 => prop_oneof![
            select(DTYPES).prop_map(|(n, _)| n.to_string()),
            select(UNKNOWN_DTYPES).prop_map(str::to_string)
        ]
        .prop_map(Damage::Dtype),
        1 => Just(Damage::DtypeNumber),
        1 => Just(Damage::RepeatField),
        1 => (0u8..3).prop_map(Damage::DropField),
        1 => prop_oneof![1usize..100, 200usize..3000].prop_map(Damage::Nested),
    ]
}

/// One planned entry: name, dtype, shape, damage.
type EntryPlan = ((Index, bool, Option<usize>), &'static str, Vec<usize>, Damage);

fn entry_plan() -> impl Strategy<Value = EntryPlan> {
    (
        (any::<Index>(), prop::bool::weighted(0.15), prop::option::weighted(0.03, 1usize..20_000)),
        prop_oneof![3 => select(&["F32", "F16", "BF16"][..]), 1 => select(DTYPES).prop_map(|(n, _)| n)],
        prop::collection::vec(0usize..4, 0..4),
        damage(),
    )
}

/// A spec of the hostile property: a name from the pool, another name,
/// the shape of the entry of that name or another, non-negative or not.
type HostileSpecPlan = (Index, Option<Index>, Option<Vec<usize>>, bool);

fn hostile() -> impl Strategy<Value = Hostile> {
    let metadata = prop_oneof![
        4 => Just(Metadata::None),
        2 => prop::collection::vec(("[a-z_]{0,8}", "[ -~\u{e9}]{0,12}"), 0..3).prop_map(Metadata::Strings),
        1 => select(&["{\"a\":1}", "[]", "\"pt\"", "{\"a\":{\"b\":\"c\"}}", "{\"a\":null}"][..])
            .prop_map(Metadata::Bad),
        1 => Just(Metadata::Null),
    ];
    let specs = prop::collection::vec(
        (
            any::<Index>(),
            prop::option::of(any::<Index>()),
            prop::option::of(prop::collection::vec(0usize..4, 0..4)),
            any::<bool>(),
        ),
        0..4,
    );
    (
        prop::collection::vec(entry_plan(), 0..6),
        (any::<u64>(), metadata, prop_oneof![8 => Just(0usize), 1 => 0usize..65_536]),
        (prop::collection::vec(any::<u8>(), 0..64), prop_oneof![6 => Just(0i64), 1 => -5i64..6]),
        specs,
    )
        .prop_map(|(plans, (seed, metadata, padding), (noise, data_delta), specs)| {
            build_hostile(&plans, seed, metadata, padding, &noise, data_delta, &specs)
        })
}

fn build_hostile(
    plans: &[EntryPlan],
    seed: u64,
    metadata: Metadata,
    padding: usize,
    noise: &[u8],
    data_delta: i64,
    specs: &[HostileSpecPlan],
) -> Hostile {
    // Honest offsets in the order `seed` picks, then the damage.
    let mut entries = Vec::new();
    let mut sizes = Vec::new();
    for ((key, escaped, long), dtype, shape, _) in plans {
        let key = match long {
            Some(len) => "L".repeat(*len),
            None => POOL[key.index(POOL.len())].to_string(),
        };
        let bits = bits_of(dtype).unwrap();
        sizes.push(shape.iter().product::<usize>() * bits / 8);
        entries.push(RawEntry {
            key,
            escaped: *escaped,
            dtype: dtype.to_string(),
            dtype_number: false,
            shape: shape.iter().map(|&d| Num::Int(d as u128)).collect(),
            offsets: vec![],
            extra_depth: None,
            repeat_field: false,
            drop_field: None,
        });
    }
    let mut total = 0;
    for i in permutation(entries.len(), seed) {
        entries[i].offsets = vec![Num::Int(total as u128), Num::Int((total + sizes[i]) as u128)];
        total += sizes[i];
    }
    for (e, (_, _, _, damage)) in entries.iter_mut().zip(plans) {
        let int = |n: &Num| match n {
            Num::Int(v) => *v,
            Num::Text(_) => unreachable!(),
        };
        match damage {
            Damage::None => {}
            Damage::Reversed => e.offsets.reverse(),
            Damage::Shifted(d) => {
                for o in &mut e.offsets {
                    *o = Num::Int(int(o).saturating_add_signed(i128::from(*d)));
                }
            }
            Damage::Offsets(o) => e.offsets = o.clone(),
            Damage::Dim(i, n) => {
                if e.shape.is_empty() {
                    e.shape.push(n.clone());
                } else {
                    let at = i.index(e.shape.len());
                    e.shape[at] = n.clone();
                }
            }
            Damage::Huge(i, v) => {
                let at = i.index(e.shape.len() + 1);
                e.shape.insert(at, Num::Int(*v));
            }
            Damage::Dtype(d) => e.dtype = d.clone(),
            Damage::DtypeNumber => e.dtype_number = true,
            Damage::RepeatField => e.repeat_field = true,
            Damage::DropField(f) => e.drop_field = Some(*f),
            Damage::Nested(d) => e.extra_depth = Some(*d),
        }
    }
    let len = (total as i64 + data_delta).max(0) as usize;
    let data = (0..len).map(|j| if noise.is_empty() { 0 } else { noise[j % noise.len()] ^ (j as u8) }).collect();
    let mut spec_models: Vec<SpecModel> = Vec::new();
    let mut taken = BTreeSet::new();
    for (key, alt, shape, non_negative) in specs {
        let key = POOL[key.index(POOL.len())].to_string();
        if !taken.insert(key.clone()) {
            continue;
        }
        let alt = alt.map(|a| POOL[a.index(POOL.len())].to_string()).filter(|a| taken.insert(a.clone()));
        let shape = shape.clone().unwrap_or_else(|| {
            entries
                .iter()
                .find(|e| e.key == key)
                .and_then(|e| e.shape.iter().map(Num::value).collect::<Option<Vec<_>>>())
                .unwrap_or_default()
        });
        spec_models.push(SpecModel { key, alt, shape, layout: Layout::Keras, non_negative: *non_negative });
    }
    Hostile { entries, metadata, padding, data, specs: spec_models }
}

impl Hostile {
    fn bytes(&self) -> Vec<u8> {
        let mut parts: Vec<String> = self.entries.iter().map(RawEntry::json).collect();
        match &self.metadata {
            Metadata::None => {}
            Metadata::Strings(kv) => {
                let map: Vec<String> =
                    kv.iter().map(|(k, v)| format!("{}:{}", json_str(k, false), json_str(v, false))).collect();
                parts.insert(parts.len() / 2, format!("\"__metadata__\":{{{}}}", map.join(",")));
            }
            Metadata::Bad(v) => parts.insert(0, format!("\"__metadata__\":{v}")),
            Metadata::Null => parts.push("\"__metadata__\":null".to_string()),
        }
        let header = format!("{{{}{}}}", parts.join(","), "\n".repeat(self.padding));
        with_length(header.as_bytes(), &self.data)
    }

    /// What safetensors, and then the loader, must make of the file.
    fn expect(&self) -> Expect {
        if matches!(self.metadata, Metadata::Bad(_)) {
            return Expect::Format;
        }
        let Some(parsed) = self.entries.iter().map(RawEntry::parsed).collect::<Option<Vec<_>>>() else {
            return Expect::Format;
        };
        // A name given twice is refused, however it is spelled.
        if self.entries.iter().map(|e| &e.key).collect::<BTreeSet<_>>().len() != self.entries.len() {
            return Expect::Format;
        }
        // Sorted by offsets, the ranges tile the data section.
        let mut ranges: Vec<_> = parsed.iter().collect();
        ranges.sort_by_key(|(_, _, _, offsets)| *offsets);
        let mut start = 0;
        for (_, bits, shape, (begin, end)) in ranges {
            if *begin != start || end < begin {
                return Expect::Format;
            }
            let Some(nbits) =
                shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).and_then(|n| n.checked_mul(*bits))
            else {
                return Expect::Format;
            };
            if nbits % 8 != 0 || end - begin != nbits / 8 {
                return Expect::Format;
            }
            start = *end;
        }
        if start != self.data.len() {
            return Expect::Format;
        }
        let tensors: Vec<FileTensor> = self
            .entries
            .iter()
            .zip(&parsed)
            .map(|(e, (dtype, _, shape, (begin, end)))| FileTensor {
                key: e.key.clone(),
                dtype,
                shape: shape.clone(),
                data: self.data[*begin..*end].to_vec(),
            })
            .collect();
        expect(&tensors, &self.specs)
    }
}

// ---------------------------------------------------------------------------
// Damage to whole files.

#[derive(Debug, Clone)]
enum FileDamage {
    /// Cut before the end.
    Truncate(Index),
    /// Bytes added at the end.
    Append(Vec<u8>),
    /// The header length field replaced by a value other than the true one.
    Length(u64),
    /// The header length field off by this much.
    LengthOff(i64),
    /// One byte of the header replaced.
    HeaderByte(Index, u8),
    /// One byte of the data replaced (the file stays well-formed).
    DataByte(Index, u8),
}

fn file_damage() -> impl Strategy<Value = FileDamage> {
    prop_oneof![
        3 => any::<Index>().prop_map(FileDamage::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(FileDamage::Append),
        1 => prop_oneof![
            Just(u64::MAX),
            Just(MAX_HEADER),
            Just(MAX_HEADER + 1),
            Just(1 << 63),
            Just(u64::from(u32::MAX)),
            any::<u64>(),
            0u64..4096
        ]
        .prop_map(FileDamage::Length),
        2 => prop_oneof![-64i64..0, 1i64..64].prop_map(FileDamage::LengthOff),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| FileDamage::HeaderByte(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| FileDamage::DataByte(i, b)),
    ]
}

// ---------------------------------------------------------------------------
// Garbage headers.

#[derive(Debug, Clone)]
enum Garbage {
    /// Arbitrary bytes (rarely UTF-8).
    Bytes(Vec<u8>),
    /// Text made of JSON's punctuation, names and numbers.
    JsonLike(String),
    /// A valid header with one byte that is not UTF-8 in a name.
    NotUtf8(u8),
    /// Arrays or objects nested this deep: as the header, in the metadata,
    /// as a shape, as a tensor entry.
    Nested(usize, u8),
    /// A valid header cut short.
    Unterminated(Index),
    /// A name, the metadata or whitespace this long in a header that is
    /// otherwise wrong.
    Huge(usize, u8),
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Garbage::Bytes),
        3 => "[{}\\[\\]\":, 0-9a-zA-Z_.\\-\\\\\t\n\u{e9}]{0,120}".prop_map(Garbage::JsonLike),
        1 => prop_oneof![0x80u8..=0xff, Just(0xc0), Just(0xed)].prop_map(Garbage::NotUtf8),
        2 => (prop_oneof![2usize..200, 200usize..20_000], 0u8..6).prop_map(|(d, w)| Garbage::Nested(d, w)),
        1 => any::<Index>().prop_map(Garbage::Unterminated),
        1 => (1usize..200_000, 0u8..4).prop_map(|(n, w)| Garbage::Huge(n, w)),
    ]
}

/// Plausible starts of a header.
const PREFIXES: &[&[u8]] = &[b"{", b"{\"", b"{\"w\":{", b"{}"];

/// A valid header (of one F32 tensor `w` of shape [2]).
const VALID_HEADER: &str = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

impl Garbage {
    /// The header.
    fn header(&self) -> Vec<u8> {
        match self {
            Garbage::Bytes(b) => b.clone(),
            Garbage::JsonLike(s) => s.clone().into_bytes(),
            Garbage::NotUtf8(b) => {
                let mut h = VALID_HEADER.as_bytes().to_vec();
                h.insert(2, *b);
                h
            }
            Garbage::Nested(d, w) => {
                let (open, close) = ("[".repeat(*d), "]".repeat(*d));
                let h = match w {
                    0 => format!("{open}{close}"),
                    1 => format!("{{\"__metadata__\":{open}{close}}}"),
                    2 => format!("{{\"w\":{{\"dtype\":\"F32\",\"shape\":{open}2{close},\"data_offsets\":[0,8]}}}}"),
                    3 => format!("{{\"w\":{open}{close}}}"),
                    4 => format!("{{\"w\":{}{}}}", "{\"a\":".repeat(*d), "}".repeat(*d)),
                    _ => format!("{{\"w\":{}1{}", "{\"a\":[".repeat(*d), "]}".repeat(*d)),
                };
                h.into_bytes()
            }
            Garbage::Unterminated(i) => {
                let cut = i.index(VALID_HEADER.len());
                VALID_HEADER.as_bytes()[..cut].to_vec()
            }
            Garbage::Huge(n, w) => {
                let h = match w {
                    // A huge name with an unknown dtype.
                    0 => format!("{{\"{}\":{{\"dtype\":\"X\",\"shape\":[2],\"data_offsets\":[0,8]}}}}", "n".repeat(*n)),
                    // Huge metadata that is not a string.
                    1 => format!("{{\"__metadata__\":{{\"k\":[{}0]}}}}", "0,".repeat(*n)),
                    // Huge whitespace, then a trailing comma.
                    2 => format!(
                        "{{{}\"w\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}},}}",
                        " ".repeat(*n)
                    ),
                    // A huge string that never ends.
                    _ => format!("{{\"w\":\"{}", "s".repeat(*n)),
                };
                h.into_bytes()
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Regressions: the smallest inputs of the bugs the properties found.

/// A torchvision conv or linear weight with a zero dimension made
/// `Layout::convert` call `chunks_exact(0)`, which panics.
#[test]
fn zero_size_torchvision_tensors_load() {
    let header = concat!(
        "{\"c\":{\"dtype\":\"F32\",\"shape\":[2,0,3,3],\"data_offsets\":[0,0]},",
        "\"fc\":{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]}}"
    );
    let specs = [
        TensorSpec::new("c", &[2, 0, 3, 3]).in_layout(Layout::Oihw),
        TensorSpec::new("fc", &[4, 0]).in_layout(Layout::OutIn),
    ];
    let t = load_bytes("w", &with_length(header.as_bytes(), &[]), &specs).unwrap();
    assert_eq!((t[0].shape.as_slice(), t[0].data.len()), (&[3, 3, 0, 2][..], 0));
    assert_eq!((t[1].shape.as_slice(), t[1].data.len()), (&[0, 4][..], 0));
}

/// A header that lists one name twice was read as safetensors reads it:
/// the last entry silently wins. Here the same 8 bytes are two F32 values
/// and four BF16 ones; the loader used to return the BF16 reading.
#[test]
fn a_name_listed_twice_is_refused() {
    for second in ["\"w\"", "\"\\u0077\""] {
        let header = format!(
            "{{\"w\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}},\
             {second}:{{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}}}"
        );
        let file = with_length(header.as_bytes(), &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
        for shape in [&[2][..], &[4]] {
            let err = load_bytes("w.st", &file, &[TensorSpec::new("w", shape)]).unwrap_err();
            assert!(matches!(err, WeightError::Format { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                "w.st is not a valid safetensors file: tensor `w` is listed twice in the header"
            );
        }
    }
}

/// safetensors' own messages for these say neither the numbers nor the
/// tensor; the loader's do.
#[test]
fn format_errors_say_what_is_wrong() {
    let reason = |file: &[u8]| match load_bytes("w", file, &[]) {
        Err(WeightError::Format { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(reason(&[1, 0, 0]), "the file is 3 bytes long, too short for the 8-byte header length");
    assert_eq!(
        reason(&u64::MAX.to_le_bytes()),
        "the header length field says 18446744073709551615 bytes, more than the 100 MB safetensors allows"
    );
    assert_eq!(
        reason(&with_length(b"{}", b"")[..9]),
        "the header length field says 2 bytes, but only 1 bytes follow it"
    );
    assert_eq!(reason(&with_length(b"{}", b"xy")), "the file has 2 bytes of data, but the header lists no tensors");
    let one = br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_eq!(reason(&with_length(one, &[0; 5])), "the header's tensors take 4 bytes of data, but the file has 5");
    let wrong_size = br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[3],"data_offsets":[4,8]}}"#;
    assert_eq!(
        reason(&with_length(wrong_size, &[0; 8])),
        "tensor `b` (F16 of shape [3]): takes 6 bytes, but its data_offsets [4, 8] span 4"
    );
    let overflow = br#"{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#;
    assert_eq!(
        reason(&with_length(overflow, &[0; 4])),
        "tensor `a` (F32 of shape [1099511627776, 1099511627776]): its size in bytes overflows"
    );
    let odd = br#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
    assert_eq!(
        reason(&with_length(odd, &[0; 2])),
        "tensor `a` (F4 of shape [3]): 12 bits is not a whole number of bytes"
    );
}

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, alone or after a plausible header length: never a
    /// panic, always a format error that names the file.
    #[test]
    fn arbitrary_bytes_are_format_errors(
        name in name(),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        prefix in prop::option::of((0u64..700, prop::option::of(select(PREFIXES)))),
    ) {
        let mut file = Vec::new();
        if let Some((len, start)) = prefix {
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(start.unwrap_or_default());
        }
        file.extend_from_slice(&bytes);
        let specs = [TensorSpec::new("w", &[2])];
        let result = load_bytes(&name, &file, &specs);
        check_format_error(&name, &result)?;
    }

    /// Well-formed files against random specs: loaded exactly when they
    /// match, with the file's values widened and transposed; otherwise every
    /// problem listed.
    #[test]
    fn well_formed_files_load_exactly_when_they_match(name in name(), case in case(), style in style()) {
        let (file, _) = write_file(&case.tensors, &style);
        let specs = tensor_specs(&case.specs);
        let result = load_bytes(&name, &file, &specs);
        check_expected(&name, &result, &expect(&case.tensors, &case.specs))?;
    }

    /// Well-formed files damaged: cut, extended, with a wrong header length
    /// or a changed byte. A changed data byte leaves a well-formed file
    /// with other values; the rest are format errors, except a changed
    /// header byte, which may still leave a valid header.
    #[test]
    fn damaged_files_are_refused(name in name(), case in case(), style in style(), damage in file_damage()) {
        let (mut file, data_start) = write_file(&case.tensors, &style);
        let header_len = data_start - 8;
        let mut tensors = case.tensors.clone();
        let expected = match &damage {
            FileDamage::Truncate(i) => {
                file.truncate(i.index(file.len()));
                Some(Expect::Format)
            }
            FileDamage::Append(extra) => {
                file.extend_from_slice(extra);
                Some(Expect::Format)
            }
            FileDamage::Length(n) => {
                let n = if *n == header_len as u64 { n + 1 } else { *n };
                file[..8].copy_from_slice(&n.to_le_bytes());
                Some(Expect::Format)
            }
            FileDamage::LengthOff(d) => {
                let n = (header_len as u64).wrapping_add_signed(*d);
                file[..8].copy_from_slice(&n.to_le_bytes());
                Some(Expect::Format)
            }
            FileDamage::HeaderByte(i, b) => {
                file[8 + i.index(header_len)] = *b;
                None
            }
            FileDamage::DataByte(i, b) => {
                if file.len() > data_start {
                    let at = data_start + i.index(file.len() - data_start);
                    file[at] = *b;
                    // Which tensor holds that byte: the data is the
                    // tensors' bytes in the order the style picked.
                    let mut offset = data_start;
                    for t in permutation(tensors.len(), style.data_seed) {
                        let len = tensors[t].data.len();
                        if (offset..offset + len).contains(&at) {
                            tensors[t].data[at - offset] = *b;
                        }
                        offset += len;
                    }
                }
                Some(expect(&tensors, &case.specs))
            }
        };
        let specs = tensor_specs(&case.specs);
        let result = load_bytes(&name, &file, &specs);
        match expected {
            Some(e) => check_expected(&name, &result, &e)?,
            None => check_contract(&name, &result)?,
        }
    }

    /// Headers that are no safetensors header: garbage, not UTF-8, nested
    /// deeper than any parser should follow, cut short, huge.
    #[test]
    fn garbage_headers_are_format_errors(name in name(), garbage in garbage(), data in prop::collection::vec(any::<u8>(), 0..16)) {
        let header = garbage.header();
        let file = with_length(&header, &data);
        let result = load_bytes(&name, &file, &[TensorSpec::new("w", &[2])]);
        check_format_error(&name, &result)?;
    }

    /// Hostile headers (repeated names, every dtype, overflowing shapes, bad
    /// offsets, wrong data length, bad metadata, missing and repeated
    /// fields): exactly the format errors the model predicts, and on the
    /// files that are valid, exactly the loader's result the model predicts.
    #[test]
    fn hostile_headers_match_the_model(name in name(), hostile in hostile()) {
        let file = hostile.bytes();
        let specs = tensor_specs(&hostile.specs);
        let result = load_bytes(&name, &file, &specs);
        check_expected(&name, &result, &hostile.expect())?;
    }
}
