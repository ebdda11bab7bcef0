//! `.npy` files for the CLI's inputs and outputs.

use std::path::Path;

/// Why an `.npy` file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

/// A dense row-major array.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads a C-order float32 or float64 array (float64 is converted).
pub fn read(path: &Path) -> Result<Array, NpyError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io { path: shown.clone(), source })?;
    parse(&bytes, &shown)
}

/// The dtypes [`parse`] takes: float32 and float64 in either byte order.
const DTYPES: [(&str, Float); 4] =
    [("<f4", Float::F32Le), (">f4", Float::F32Be), ("<f8", Float::F64Le), (">f8", Float::F64Be)];

#[derive(Debug, Clone, Copy)]
enum Float {
    F32Le,
    F32Be,
    F64Le,
    F64Be,
}

impl Float {
    fn size(self) -> usize {
        match self {
            Float::F32Le | Float::F32Be => 4,
            Float::F64Le | Float::F64Be => 8,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Float::F32Le => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Float::F32Be => f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            Float::F64Le => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
            Float::F64Be => f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// How deep the header's Python literal may nest: numpy's is a dict holding
/// a tuple (2 levels); a structured dtype adds a few.
const MAX_HEADER_DEPTH: usize = 16;

/// Parses the bytes of an `.npy` file (format versions 1.0, 2.0 and 3.0);
/// `name` names it in error messages. Takes a C-order float32 or float64
/// array whose data is exactly what its shape says; float64 is converted.
///
/// The format is read here rather than by `npyz`, whose reader trusts the
/// header: it panics when the shape's size overflows, allocates whatever
/// header length the file claims, and ignores data past the shape's end.
pub fn parse(bytes: &[u8], name: &str) -> Result<Array, NpyError> {
    let fail = |message: String| NpyError::Format { path: name.to_string(), message };
    let (header, data_start) = preamble(bytes).map_err(fail)?;
    let header = Header::parse(&header).map_err(|m| fail(format!("header: {m}")))?;
    let (descr, float) = header.dtype;
    let shape_text = python_tuple(&header.shape);
    // Every dimension fits a `usize` and the size in bytes an `isize` (as in
    // any Rust allocation), zeros aside, so no product of dimensions overflows.
    let nonzero = header.shape.iter().filter(|&&d| d != 0).try_fold(float.size() as u64, |n, &d| n.checked_mul(d));
    let shape: Option<Vec<usize>> = header.shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let (Some(shape), Some(_)) = (shape, nonzero.filter(|&n| n <= isize::MAX as u64)) else {
        return Err(fail(format!("header: shape {shape_text} of '{descr}' is too large to address")));
    };
    if header.fortran_order {
        return Err(fail("Fortran-order arrays are not supported; save a C-contiguous array".into()));
    }
    let needed = shape.iter().product::<usize>() * float.size();
    let data = &bytes[data_start..];
    if data.len() < needed {
        return Err(fail(format!(
            "truncated: shape {shape_text} of '{descr}' needs {needed} bytes of data, the file has {} after its \
             {data_start}-byte header",
            data.len()
        )));
    }
    if data.len() > needed {
        return Err(fail(format!(
            "{} bytes after the data: shape {shape_text} of '{descr}' needs {needed} bytes, the file has {} after \
             its {data_start}-byte header",
            data.len() - needed,
            data.len()
        )));
    }
    let data = data.chunks_exact(float.size()).map(|b| float.decode(b)).collect();
    Ok(Array { shape, data })
}

/// The header's text and where the data starts, from the magic string,
/// the version and the header length.
fn preamble(bytes: &[u8]) -> Result<(String, usize), String> {
    if bytes.is_empty() {
        return Err("not a .npy file: the file is empty".into());
    }
    let magic = &bytes[..bytes.len().min(MAGIC.len())];
    if magic != &MAGIC[..magic.len()] {
        return Err("not a .npy file: it does not start with the magic string \\x93NUMPY".into());
    }
    let truncated = |within: &str| format!("truncated: the file ends after {} bytes, within {within}", bytes.len());
    if bytes.len() < MAGIC.len() {
        return Err(truncated("the magic string"));
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(truncated("the format version")),
    };
    let length_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(format!("unsupported .npy format version {major}.{minor}: the reader takes 1.0, 2.0 and 3.0")),
    };
    let length = bytes.get(8..8 + length_size).ok_or_else(|| truncated("the header length"))?;
    let length = length.iter().rev().fold(0usize, |n, &b| n << 8 | usize::from(b));
    let start = 8 + length_size;
    let available = bytes.len() - start;
    if length > available {
        return Err(format!(
            "truncated: the header length is {length} bytes, but only {available} bytes follow the {start}-byte \
             preamble"
        ));
    }
    let header = &bytes[start..start + length];
    let text = if major == 3 {
        std::str::from_utf8(header)
            .map_err(|e| format!("header: version 3.0 headers are UTF-8; byte {} is not", start + e.valid_up_to()))?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 are latin-1.
        header.iter().map(|&b| char::from(b)).collect()
    };
    Ok((text, start + length))
}

/// The header dict's three entries.
struct Header {
    dtype: (&'static str, Float),
    fortran_order: bool,
    shape: Vec<u64>,
}

impl Header {
    fn parse(text: &str) -> Result<Header, String> {
        let mut p = Literal { text, pos: 0, depth: 0 };
        let value = p.value()?;
        p.skip_space();
        if p.pos < text.len() {
            return Err(format!("unexpected `{}` at byte {} after the dict", p.rest_preview(), p.pos));
        }
        let Value::Dict(entries) = value else {
            return Err(format!("expected a dict, found {value}"));
        };
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        for (key, value) in entries {
            let slot = match &key {
                Value::Str(k) if k == "descr" => &mut descr,
                Value::Str(k) if k == "fortran_order" => &mut fortran,
                Value::Str(k) if k == "shape" => &mut shape,
                _ => return Err(format!("unexpected key {key}: the keys are 'descr', 'fortran_order' and 'shape'")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("key {key} appears twice"));
            }
        }
        let missing = |key: &str| format!("the dict has no '{key}'");
        let descr = descr.ok_or_else(|| missing("descr"))?;
        let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
        let shape = shape.ok_or_else(|| missing("shape"))?;
        let accepted = "expected float32 or float64 ('<f4', '>f4', '<f8', '>f8')";
        let dtype = match &descr {
            Value::Str(d) => DTYPES
                .iter()
                .find(|(name, _)| name == d)
                .copied()
                .ok_or_else(|| format!("dtype {descr} is not supported: {accepted}"))?,
            _ => return Err(format!("descr {descr} is not a plain dtype: {accepted}")),
        };
        let fortran_order = match &fortran {
            Value::Name(n) if n == "True" => true,
            Value::Name(n) if n == "False" => false,
            _ => return Err(format!("fortran_order must be True or False, found {fortran}")),
        };
        let not_dims = || format!("shape must be a tuple of integers, found {shape}");
        let Value::Tuple(dims) = &shape else { return Err(not_dims()) };
        let dims = dims
            .iter()
            .map(|d| match d {
                Value::Int(digits) if digits.starts_with('-') => {
                    Err(format!("shape {shape} has a negative dimension {digits}"))
                }
                Value::Int(digits) => {
                    digits.parse::<u64>().map_err(|_| format!("shape {shape}: dimension {digits} is too large"))
                }
                _ => Err(not_dims()),
            })
            .collect::<Result<Vec<u64>, String>>()?;
        Ok(Header { dtype, fortran_order, shape: dims })
    }
}

/// `(2, 3)`, `(3,)` or `()`, as Python writes a tuple.
fn python_tuple(dims: &[u64]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!("({})", dims.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug)]
enum Value {
    Str(String),
    /// Decimal digits, with a `-` if negative (and without Python 2's `L`).
    Int(String),
    /// Any other number (`2.0`, `0x10`, `1e3`).
    Number(String),
    /// `True`, `False`, `None`, or a name Python would not know.
    Name(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl std::fmt::Display for Value {
    /// Python's repr, cut short for long values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn repr(v: &Value, out: &mut String) {
            if out.len() > 80 {
                return;
            }
            let items = |open: &str, vs: &[Value], close: &str, out: &mut String| {
                out.push_str(open);
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    repr(v, out);
                }
                if open == "(" && vs.len() == 1 {
                    out.push(',');
                }
                out.push_str(close);
            };
            match v {
                Value::Str(s) => {
                    out.push('\'');
                    out.extend(s.chars().flat_map(char::escape_debug));
                    out.push('\'');
                }
                Value::Int(s) | Value::Number(s) | Value::Name(s) => out.push_str(s),
                Value::Tuple(vs) => items("(", vs, ")", out),
                Value::List(vs) => items("[", vs, "]", out),
                Value::Dict(es) => {
                    out.push('{');
                    for (i, (k, v)) in es.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        repr(k, out);
                        out.push_str(": ");
                        repr(v, out);
                    }
                    out.push('}');
                }
            }
        }
        let mut out = String::new();
        repr(self, &mut out);
        if out.chars().count() > 80 {
            out = out.chars().take(77).collect::<String>() + "...";
        }
        f.write_str(&out)
    }
}

/// A parser of the Python literals of `.npy` headers: strings, numbers,
/// names, tuples, lists and dicts, nested at most [`MAX_HEADER_DEPTH`] deep.
struct Literal<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Literal<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn rest_preview(&self) -> String {
        self.text[self.pos..].chars().take(20).flat_map(char::escape_debug).collect()
    }

    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(_) => format!("expected {what} at byte {} of the header, found `{}`", self.pos, self.rest_preview()),
            None => format!("expected {what} at byte {} of the header, found its end", self.pos),
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    let c =
                        self.peek().ok_or_else(|| format!("the string at byte {start} of the header does not end"))?;
                    self.pos += c.len_utf8();
                    match c {
                        '\\' => {
                            let e = self
                                .peek()
                                .ok_or_else(|| format!("the string at byte {start} of the header does not end"))?;
                            self.pos += e.len_utf8();
                            s.push(e);
                        }
                        c if c == q => return Ok(Value::Str(s)),
                        c => s.push(c),
                    }
                }
            }
            Some(open @ ('(' | '[' | '{')) => {
                self.depth += 1;
                if self.depth > MAX_HEADER_DEPTH {
                    return Err(format!(
                        "the value at byte {start} of the header nests deeper than {MAX_HEADER_DEPTH} levels"
                    ));
                }
                self.pos += 1;
                let close = match open {
                    '(' => ')',
                    '[' => ']',
                    _ => '}',
                };
                let value = match open {
                    '(' => {
                        let (mut items, comma) = self.items(close, Self::value)?;
                        // `(x)` is `x`; a tuple of one is `(x,)`.
                        if items.len() == 1 && !comma { items.remove(0) } else { Value::Tuple(items) }
                    }
                    '[' => Value::List(self.items(close, Self::value)?.0),
                    _ => Value::Dict(self.items(close, Self::entry)?.0),
                };
                self.depth -= 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_') => {
                let len = self.text[self.pos + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_')))
                    .map_or(self.text.len() - self.pos, |n| n + 1);
                let token = &self.text[self.pos..self.pos + len];
                self.pos += len;
                let digits = token.strip_suffix(['L', 'l']).unwrap_or(token);
                let unsigned = digits.strip_prefix('-').unwrap_or(digits);
                Ok(if c.is_ascii_alphabetic() || c == '_' {
                    Value::Name(token.to_string())
                } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
                    Value::Int(digits.to_string())
                } else {
                    Value::Number(token.to_string())
                })
            }
            _ => Err(self.expected("a value")),
        }
    }

    /// `key: value`, in a dict.
    fn entry(&mut self) -> Result<(Value, Value), String> {
        let key = self.value()?;
        self.skip_space();
        if self.peek() != Some(':') {
            return Err(self.expected("`:`"));
        }
        self.pos += 1;
        Ok((key, self.value()?))
    }

    /// The comma-separated items up to `close`, and whether a comma follows
    /// the last. The opening bracket is consumed.
    fn items<T>(&mut self, close: char, item: fn(&mut Self) -> Result<T, String>) -> Result<(Vec<T>, bool), String> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, comma));
            }
            if !items.is_empty() && !comma {
                return Err(self.expected(&format!("`,` or `{close}`")));
            }
            items.push(item(self)?);
            self.skip_space();
            comma = self.peek() == Some(',');
            if comma {
                self.pos += 1;
            }
        }
    }
}

/// Writes a C-order float32 array.
pub fn write(path: &Path, array: &Array) -> Result<(), NpyError> {
    use npyz::WriterBuilder;
    let shown = path.display().to_string();
    let io = |source| NpyError::Io { path: shown.clone(), source };
    let shape: Vec<u64> = array.shape.iter().map(|&d| d as u64).collect();
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut buf).begin_nd().map_err(io)?;
        w.extend(array.data.iter().copied()).map_err(io)?;
        w.finish().map_err(io)?;
    }
    std::fs::write(path, buf).map_err(io)
}
