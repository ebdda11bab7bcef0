//! Property tests of the `.npy` reader (`mobilenetc run`'s input): whatever
//! bytes it is given, it returns the array they hold or an error that names
//! the file and the problem, and never panics. It returns an array only for
//! a well-formed C-order float32 or float64 file whose data is exactly what
//! the shape says.
//!
//! Inputs: well-formed files with every header layout numpy may write, the
//! same with one defect each (magic, version, truncation, header length past
//! the end, garbage and incomplete header dicts, unsupported dtypes, Fortran
//! order, shapes that are not tuples of integers or whose size overflows,
//! deep nesting, data shorter or longer than the shape), files written by
//! `npyz`, and arbitrary bytes and byte-level mutations of valid files.

use mobilenet_compiler::npy::{self, Array, NpyError};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

/// Every property runs this many cases (the issue asks for at least 10,000).
const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

/// The name the errors must show.
const NAME: &str = "dir/input.npy";

/// The dtypes the reader takes: (descr, bytes per element, big-endian).
const ACCEPTED: [(&str, usize, bool); 4] = [("<f4", 4, false), (">f4", 4, true), ("<f8", 8, false), (">f8", 8, true)];

/// Dtypes numpy writes that the reader refuses.
const REFUSED: &[&str] = &[
    "<f2", "<f16", "=f4", "|f4", "f4", "<F4", "<f3", "<f0", "<i4", "<i8", "|i1", "|u1", "<u4", "|b1", "<c8", "<c16",
    "|O", "|O8", "|S4", "<U4", "|V8", "<M8[s]", "<m8[D]", "", "<", "float32", "<f4 ", " <f4",
];

// ---------------------------------------------------------------------------
// Well-formed files and their defects.

/// The parts of a well-formed file, and how its header is written.
#[derive(Debug, Clone)]
struct Parts {
    version: (u8, u8),
    dtype: usize,
    shape: Vec<u64>,
    /// One value per element (the product of `shape`).
    values: Vec<f64>,
    /// The order of the three keys.
    order: [usize; 3],
    quote: char,
    space: &'static str,
    trailing_comma: bool,
    /// Spaces before the closing newline (numpy aligns the data to 64 bytes).
    padding: usize,
    newline: bool,
}

fn parts() -> impl Strategy<Value = Parts> {
    let shape = prop::collection::vec(0u64..5, 0..4);
    (shape, select(&[(1u8, 0u8), (2, 0), (3, 0)][..]), 0..ACCEPTED.len())
        .prop_flat_map(|(shape, version, dtype)| {
            let n = shape.iter().product::<u64>() as usize;
            let value = prop_oneof![
                4 => -1e3f64..1e3,
                1 => any::<f64>(),
                1 => select(&[0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MIN_POSITIVE, 1e-45][..]),
            ];
            (
                Just(shape),
                Just(version),
                Just(dtype),
                prop::collection::vec(value, n),
                select(&[[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1], [1, 2, 0], [2, 0, 1]][..]),
                select(&['\'', '"'][..]),
                select(&["", " ", "  ", "\t"][..]),
                any::<bool>(),
                0usize..80,
                prop::bool::weighted(0.9),
            )
        })
        .prop_map(|(shape, version, dtype, values, order, quote, space, trailing_comma, padding, newline)| Parts {
            version,
            dtype,
            shape,
            values,
            order,
            quote,
            space,
            trailing_comma,
            padding,
            newline,
        })
}

/// What is wrong with a file: one defect at a time, so that the error must
/// name that defect.
#[derive(Debug, Clone)]
enum Defect {
    None,
    /// A byte of the magic string changed.
    Magic(Index, u8),
    /// A version other than 1.0, 2.0 and 3.0.
    Version(u8, u8),
    /// The file cut before its data starts.
    Truncated(Index),
    /// The header length past the end of the file, by this many bytes.
    HeaderPastEnd(u32),
    /// The header's text replaced.
    Header(String),
    MissingKey(Index),
    DuplicateKey(Index),
    ExtraKey(&'static str),
    Dtype(&'static str),
    /// `descr` is not a string.
    Descr(&'static str),
    Fortran,
    FortranOrder(&'static str),
    /// `shape` is not a tuple of non-negative integers.
    Shape(&'static str),
    /// A value that is not Python syntax.
    Syntax(&'static str),
    /// A shape whose number of elements or bytes overflows.
    Overflow(Vec<u64>),
    /// The shape nested this deep.
    Nested(usize),
    /// Data shorter than the shape says, by this many bytes (at least 1).
    Short(Index),
    /// Data longer than the shape says.
    Long(Vec<u8>),
}

fn defect() -> impl Strategy<Value = Defect> {
    let garbage = "[-{}()\\[\\]',:\" a-zA-Z0-9_<>|.=#\\\\\n\t\u{0}\u{e9}]{0,48}";
    prop_oneof![
        8 => Just(Defect::None),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Defect::Magic(i, b)),
        1 => (any::<u8>(), any::<u8>())
            .prop_filter("a version the reader takes", |v| !matches!(v, (1..=3, 0)))
            .prop_map(|(a, b)| Defect::Version(a, b)),
        1 => any::<Index>().prop_map(Defect::Truncated),
        1 => prop_oneof![1u32..100, Just(u32::MAX / 2)].prop_map(Defect::HeaderPastEnd),
        1 => garbage.prop_map(Defect::Header),
        1 => any::<Index>().prop_map(Defect::MissingKey),
        1 => any::<Index>().prop_map(Defect::DuplicateKey),
        1 => select(&["foo", "descr2", "Shape", "shape ", "", "fortran"][..]).prop_map(Defect::ExtraKey),
        2 => select(REFUSED).prop_map(Defect::Dtype),
        1 => select(&["5", "None", "True", "[('a', '<f4')]", "[('a', '<f4'), ('b', '<f8')]", "('<f4',)", "{}", "f4"][..])
            .prop_map(Defect::Descr),
        1 => Just(Defect::Fortran),
        1 => select(&["0", "1", "'False'", "None", "()", "false", "Flase"][..]).prop_map(Defect::FortranOrder),
        1 => select(&[
            "[2, 3]", "3", "'3'", "(2.0,)", "(-1,)", "(2, -3)", "(None,)", "(True,)", "((2,),)", "(3)", "(0x10,)",
            "(1e3,)", "(18446744073709551616,)", "(99999999999999999999999999999999,)", "{}", "None", "(+2,)",
        ][..])
            .prop_map(Defect::Shape),
        1 => select(&["(1, 2", "(2 3)", "(,)", "(1,,)", "b'<f4'", "'<f4", "(1,))", "", ")", "1:", "{1: 2"][..])
            .prop_map(Defect::Syntax),
        1 => select(vec![
            vec![u64::MAX],
            vec![1 << 32, 1 << 32],
            vec![1 << 32, 1 << 32, 1 << 32],
            vec![1 << 62],
            vec![1 << 61, 1],
            vec![u64::MAX, u64::MAX, 0],
            vec![3, 1 << 62, 5],
        ])
            .prop_map(Defect::Overflow),
        1 => prop_oneof![17usize..64, Just(1_000), Just(10_000), Just(100_000)].prop_map(Defect::Nested),
        2 => any::<Index>().prop_map(Defect::Short),
        2 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Defect::Long),
    ]
}

/// A file, and what reading it must give: the array, or an error whose
/// message contains each of the words.
#[derive(Debug, Clone)]
struct Case {
    bytes: Vec<u8>,
    expect: Result<Array, Vec<String>>,
}

fn shape_text(shape: &[u64]) -> String {
    match shape {
        [d] => format!("({d},)"),
        dims => format!("({})", dims.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

fn build(p: &Parts, defect: &Defect) -> Case {
    let (descr, size, big) = ACCEPTED[p.dtype];
    let q = p.quote;
    let sp = p.space;
    let mut expect: Result<Array, Vec<String>> = Ok(Array {
        shape: p.shape.iter().map(|&d| d as usize).collect(),
        data: p.values.iter().map(|&v| v as f32).collect(),
    });
    let fail = |words: &[&str]| Err(words.iter().map(|w| w.to_string()).collect::<Vec<_>>());

    // The three entries of the header dict, as (key, value) texts.
    let mut descr_value = format!("{q}{descr}{q}");
    let mut fortran_value = "False".to_string();
    let mut shape_value = shape_text(&p.shape);
    match defect {
        Defect::Dtype(d) => {
            descr_value = format!("{q}{d}{q}");
            expect = fail(&["header", "dtype", d]);
        }
        Defect::Descr(d) => {
            descr_value = d.to_string();
            expect = fail(&["header", "descr"]);
        }
        Defect::Fortran => {
            fortran_value = "True".into();
            expect = fail(&["Fortran"]);
        }
        Defect::FortranOrder(v) => {
            fortran_value = v.to_string();
            expect = fail(&["header", "fortran_order"]);
        }
        Defect::Shape(s) => {
            shape_value = s.to_string();
            expect = fail(&["header", "shape"]);
        }
        Defect::Syntax(s) => {
            shape_value = s.to_string();
            expect = fail(&["header"]);
        }
        Defect::Overflow(dims) => {
            shape_value = shape_text(dims);
            // A zero makes the array empty, whatever the other dimensions;
            // the reader refuses it all the same (no array of this shape
            // can be indexed).
            expect = fail(&["header", "shape"]);
        }
        Defect::Nested(depth) => {
            shape_value = "(".repeat(*depth) + &")".repeat(*depth);
            expect = fail(&["header", "nest"]);
        }
        _ => {}
    }
    let mut entries = vec![
        (format!("{q}descr{q}"), descr_value),
        (format!("{q}fortran_order{q}"), fortran_value),
        (format!("{q}shape{q}"), shape_value),
    ];
    entries = p.order.iter().map(|&i| entries[i].clone()).collect();
    match defect {
        Defect::MissingKey(i) => {
            let (key, _) = entries.remove(i.index(3));
            expect = fail(&["header", key.trim_matches(q)]);
        }
        Defect::DuplicateKey(i) => {
            let e = entries[i.index(3)].clone();
            expect = fail(&["header", e.0.trim_matches(q), "twice"]);
            entries.push(e);
        }
        Defect::ExtraKey(k) => {
            entries.push((format!("{q}{k}{q}"), "1".into()));
            expect = fail(&["header", k]);
        }
        _ => {}
    }
    let mut header: String =
        entries.iter().map(|(k, v)| format!("{k}:{sp}{v}")).collect::<Vec<_>>().join(&format!(",{sp}"));
    header = format!("{{{header}{}}}", if p.trailing_comma { ", " } else { "" });
    if let Defect::Header(garbage) = defect {
        header = garbage.clone();
        expect = fail(&["header"]);
    }
    header.push_str(&" ".repeat(p.padding));
    if p.newline {
        header.push('\n');
    }
    let mut header = header.into_bytes();
    if p.version.0 < 3 {
        // Versions 1 and 2 are latin-1: one byte per character.
        header = String::from_utf8(header).expect("built as text").chars().map(|c| c as u32 as u8).collect();
    }

    let mut version = p.version;
    if let Defect::Version(a, b) = defect {
        version = (*a, *b);
        expect = fail(&["version"]);
    }
    if let Defect::HeaderPastEnd(_) = defect {
        // A header length past anything a 16-bit length can say needs v2.
        version = (2, 0);
    }
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend([version.0, version.1]);
    let length_at = bytes.len();
    match version.0 {
        1 => bytes.extend(u16::try_from(header.len()).unwrap_or(u16::MAX).to_le_bytes()),
        _ => bytes.extend((header.len() as u32).to_le_bytes()),
    }
    let data_start = bytes.len() + header.len();
    bytes.extend(&header);
    if version.0 == 1 && header.len() > usize::from(u16::MAX) {
        // Too long for a v1 header: the length it says ends mid-header.
        expect = fail(&["header"]);
    }
    for &v in &p.values {
        match (size, big) {
            (4, false) => bytes.extend((v as f32).to_le_bytes()),
            (4, true) => bytes.extend((v as f32).to_be_bytes()),
            (_, false) => bytes.extend(v.to_le_bytes()),
            (_, true) => bytes.extend(v.to_be_bytes()),
        }
    }
    let data_len = bytes.len() - data_start;

    match defect {
        Defect::Magic(i, b) => {
            let i = i.index(6);
            if bytes[i] != *b {
                bytes[i] = *b;
                expect = fail(&["not a .npy file", "magic"]);
            }
        }
        Defect::Truncated(i) => {
            bytes.truncate(i.index(data_start));
            expect = if bytes.is_empty() { fail(&["empty"]) } else { fail(&["truncated"]) };
        }
        Defect::HeaderPastEnd(extra) => {
            let past = (header.len() + data_len) as u32 + extra;
            bytes[length_at..length_at + 4].copy_from_slice(&past.to_le_bytes());
            expect = fail(&["truncated", "header"]);
        }
        Defect::Short(i) if data_len > 0 => {
            bytes.truncate(data_start + i.index(data_len));
            expect = fail(&["truncated", "data"]);
        }
        Defect::Long(extra) => {
            bytes.extend(extra);
            expect = fail(&["after the data"]);
        }
        _ => {}
    }
    Case { bytes, expect }
}

fn case() -> impl Strategy<Value = Case> {
    (parts(), defect()).prop_map(|(p, d)| build(&p, &d))
}

// ---------------------------------------------------------------------------
// Checks.

/// Bit-for-bit equality of arrays (NaN is a value like any other here).
fn same(a: &Array, b: &Array) -> bool {
    a.shape == b.shape
        && a.data.len() == b.data.len()
        && a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// What holds of any answer: an array's data is what its shape says, and an
/// error names the file and says something after it.
fn check_any(result: &Result<Array, NpyError>) -> Result<(), TestCaseError> {
    match result {
        Ok(a) => {
            let len = a.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            prop_assert_eq!(len, Some(a.data.len()), "shape {:?}", a.shape);
        }
        Err(e) => {
            let shown = e.to_string();
            let prefix = format!("{NAME}: ");
            prop_assert!(shown.starts_with(&prefix), "`{}` does not name the file", shown);
            prop_assert!(shown.len() > prefix.len() + 10, "`{}` says nothing", shown);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Well-formed files give their array; a file with one defect gives an
    /// error that names it.
    #[test]
    fn files_give_their_array_or_name_their_defect(case in case()) {
        let result = npy::parse(&case.bytes, NAME);
        check_any(&result)?;
        match (&result, &case.expect) {
            (Ok(got), Ok(want)) => prop_assert!(same(got, want), "read {:?}, wrote {:?}", got, want),
            (Err(e), Ok(_)) => prop_assert!(false, "a well-formed file refused: {}", e),
            (Ok(got), Err(words)) => prop_assert!(false, "a file with a defect ({:?}) read as {:?}", words, got),
            (Err(e), Err(words)) => {
                let shown = e.to_string();
                for w in words {
                    prop_assert!(shown.contains(w.as_str()), "`{}` does not say `{}`", shown, w);
                }
            }
        }
    }

    /// What `npyz` (numpy's format, as a Rust writer has it) writes reads back.
    #[test]
    fn files_npyz_writes_read_back(
        shape in prop::collection::vec(0u64..6, 0..4),
        dtype in 0..ACCEPTED.len(),
        seed in any::<u64>(),
    ) {
        let (descr, size, _) = ACCEPTED[dtype];
        let n = shape.iter().product::<u64>() as usize;
        let values: Vec<f64> = (0..n).map(|i| (seed.wrapping_mul(i as u64 + 1) % 1000) as f64 / 7.0 - 70.0).collect();
        let bytes = if size == 4 {
            npyz_file(descr, &shape, values.iter().map(|&v| v as f32))
        } else {
            npyz_file(descr, &shape, values.iter().copied())
        };
        let got = npy::parse(&bytes, NAME).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want = Array { shape: shape.iter().map(|&d| d as usize).collect(), data: values.iter().map(|&v| v as f32).collect() };
        prop_assert!(same(&got, &want), "read {:?}, wrote {:?}", got, want);
    }

    /// Arbitrary bytes, and valid files with bytes changed, cut or added.
    #[test]
    fn any_bytes_give_an_array_or_an_error(
        case in case(),
        edits in prop::collection::vec((any::<Index>(), 0u8..3, any::<u8>()), 0..4),
        random in prop::option::weighted(0.3, prop::collection::vec(any::<u8>(), 0..256)),
        magic in any::<bool>(),
    ) {
        let mut bytes = case.bytes;
        if let Some(random) = random {
            // Random bytes, half of them behind the magic string so that
            // they get as far as the version and the header.
            bytes = if magic { [b"\x93NUMPY".as_slice(), &random].concat() } else { random };
        }
        for (at, kind, byte) in &edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = *byte,
                1 => bytes.insert(i, *byte),
                _ => bytes.truncate(i),
            }
        }
        check_any(&npy::parse(&bytes, NAME))?;
    }
}

/// The bytes of the `.npy` file `npyz` writes.
fn npyz_file<T: npyz::Serialize + npyz::AutoSerialize>(
    descr: &str,
    shape: &[u64],
    values: impl Iterator<Item = T>,
) -> Vec<u8> {
    use npyz::WriterBuilder;
    let dtype = npyz::DType::Plain(descr.parse().expect("a type string"));
    let mut bytes = Vec::new();
    let mut w =
        npyz::WriteOptions::<T>::new().dtype(dtype).shape(shape).writer(&mut bytes).begin_nd().expect("a writer");
    w.extend(values).expect("writes");
    w.finish().expect("finishes");
    bytes
}

/// `read` is `parse` of the file's bytes, named by its path.
#[test]
fn read_names_the_path() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("prop_npy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("short.npy");
    std::fs::write(&path, b"\x93NUMPY\x01\x00\xff").unwrap();
    let err = npy::read(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: truncated", path.display())), "{err}");
    let err = npy::read(&dir.join("missing.npy")).unwrap_err().to_string();
    assert!(err.contains("missing.npy"), "{err}");
}

// ---------------------------------------------------------------------------
// Regressions: the minimal inputs of the bugs these properties found.

/// A version 1.0 file with this header text and data.
fn npy_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

fn parse_err(bytes: &[u8]) -> String {
    npy::parse(bytes, "x.npy").map(|a| panic!("read {a:?}")).unwrap_err().to_string()
}

/// `npyz` multiplied the dimensions unchecked: "attempt to multiply with
/// overflow" (in a release build the product wraps instead).
#[test]
fn shape_whose_size_overflows_is_an_error() {
    let err = parse_err(&npy_file("{'descr':'<f4','fortran_order':False,'shape':(4294967296, 4294967296)}", &[]));
    assert_eq!(err, "x.npy: header: shape (4294967296, 4294967296) of '<f4' is too large to address");
    let err = parse_err(&npy_file("{'descr':'<f4','fortran_order':False,'shape':(0, 4294967296, 4294967296)}", &[]));
    assert!(err.contains("too large to address"), "{err}");
}

/// Data past the shape's end was ignored.
#[test]
fn data_longer_than_the_shape_is_an_error() {
    let err = parse_err(&npy_file("{'descr':'<f4','fortran_order':False,'shape':(1,)}", &[0; 9]));
    assert!(err.starts_with("x.npy: 5 bytes after the data: shape (1,) of '<f4' needs 4 bytes"), "{err}");
}

/// Short data said "failed to fill whole buffer".
#[test]
fn data_shorter_than_the_shape_says_so() {
    let err = parse_err(&npy_file("{'descr':'<f4','fortran_order':False,'shape':(2, 3)}", &[0; 5]));
    assert!(err.starts_with("x.npy: truncated: shape (2, 3) of '<f4' needs 24 bytes of data, the file has 5"), "{err}");
}

/// A header length past the end was allocated before the read failed.
#[test]
fn header_length_past_the_end_is_an_error() {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend(u32::MAX.to_le_bytes());
    bytes.extend(b"{}");
    let err = parse_err(&bytes);
    assert!(err.contains("truncated: the header length is 4294967295 bytes, but only 2 bytes follow"), "{err}");
}

/// A key given twice silently took the last value.
#[test]
fn duplicate_keys_are_an_error() {
    let err = parse_err(&npy_file("{'descr':'<f4','fortran_order':False,'shape':(2,),'shape':(1,)}", &[0; 8]));
    assert_eq!(err, "x.npy: header: key 'shape' appears twice");
}
