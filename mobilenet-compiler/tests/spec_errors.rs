//! Bad specs give an error at file:line:column that says what is wrong,
//! never a panic. One test per class of bad input.

use mobilenet_compiler::lower;
use mobilenet_compiler::spec::{Family, Framework, Spec, SpecError, StandardOptions, standard_spec};

/// A valid v2 spec to break.
fn v2() -> String {
    standard_spec(&StandardOptions::new(Family::V2))
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "test setup: `{from}` not in spec");
    text.replacen(from, to, 1)
}

/// Parses and lowers `text`, expecting an error at `line:column` whose
/// message contains `needle`.
fn expect_error(text: &str, line: u64, column: u64, needle: &str) {
    let err = match Spec::parse(text, "bad.yaml").and_then(|s| lower(&s).map(|_| ())) {
        Ok(()) => panic!("spec accepted:\n{text}"),
        Err(e) => e,
    };
    let located = err.located().unwrap_or_else(|| panic!("no location: {err}"));
    let shown = err.to_string();
    assert!(located.message.contains(needle), "message `{}` lacks `{needle}`", located.message);
    assert_eq!((located.line, located.column), (line, column), "{shown}");
    assert!(shown.starts_with(&format!("bad.yaml:{line}:{column}: ")), "{shown}");
    // The offending line is quoted under the message.
    let src_line = text.lines().nth(line as usize - 1).unwrap();
    assert!(shown.contains(src_line), "{shown}");
}

fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn malformed_yaml() {
    let text = replace(&v2(), "alpha: 1.0", "alpha: [1.0");
    let err = Spec::parse(&text, "bad.yaml").unwrap_err();
    let l = err.located().expect("location");
    assert_eq!(l.file, "bad.yaml");
    assert!(l.line >= line_of(&text, "alpha: [1.0"), "{err}");
}

#[test]
fn tabs_and_garbage_are_yaml_errors() {
    for text in ["family: v2\n\talpha: 1", "{{{", "- just\n- a list\n", ""] {
        let err = Spec::parse(text, "bad.yaml").unwrap_err();
        assert!(err.located().is_some(), "{err}");
    }
}

#[test]
fn unknown_key_is_not_ignored() {
    let text = replace(&v2(), "alpha: 1.0", "alpha: 1.0\nalhpa: 0.5");
    expect_error(&text, line_of(&text, "alhpa"), 1, "unknown field `alhpa`");
    let text = replace(&v2(), "{t: 6, c:  24, n: 2, s: 2}", "{t: 6, c:  24, n: 2, stride: 2}");
    expect_error(&text, line_of(&text, "stride: 2"), 26, "unknown field `stride`");
}

#[test]
fn unknown_family() {
    let text = replace(&v2(), "family: v2", "family: v4");
    expect_error(&text, line_of(&text, "family: v4"), 9, "unknown variant `v4`");
}

#[test]
fn unknown_activation() {
    let text = standard_spec(&StandardOptions::new(Family::V3Large));
    let text = replace(&text, "nl: hard_swish}", "nl: gelu}");
    let line = line_of(&text, "gelu");
    let column = text.lines().nth(line as usize - 1).unwrap().find("gelu").unwrap() as u64 + 1;
    expect_error(&text, line, column, "unknown variant `gelu`");
    let text = replace(&v2(), "activation: linear", "activation: swish");
    expect_error(&text, line_of(&text, "swish"), 17, "unknown variant `swish`");
}

#[test]
fn unknown_head_and_layer_kinds() {
    let text = replace(&v2(), "  classifier:", "  classifer:");
    expect_error(&text, line_of(&text, "classifer"), 3, "unknown variant `classifer`");
    let text = v2()[..v2().find("head:").unwrap()].to_string()
        + "head:\n  custom:\n    pooling: avg\n    layers:\n      - conv: {units: 3}\n";
    expect_error(&text, line_of(&text, "- conv:"), 9, "unknown variant `conv`");
}

#[test]
fn alpha_must_be_positive_and_finite() {
    for bad in ["0", "-0.5", ".nan", ".inf"] {
        let text = replace(&v2(), "alpha: 1.0", &format!("alpha: {bad}"));
        expect_error(&text, line_of(&text, "alpha:"), 8, "alpha must be a finite number > 0");
    }
    let text = replace(&v2(), "alpha: 1.0", "alpha: big");
    expect_error(&text, line_of(&text, "alpha:"), 8, "invalid floating point");
}

#[test]
fn alpha_too_small_for_a_layer() {
    let text = replace(&standard_spec(&StandardOptions::new(Family::V1)), "alpha: 1.0", "alpha: 0.01");
    expect_error(&text, line_of(&text, "stem:"), 7, "gives the stem no channels");
}

#[test]
fn resolution_too_small_for_the_strides() {
    let text = replace(&v2(), "input: {height: 224, width: 224}", "input: {height: 16, width: 224}");
    expect_error(&text, line_of(&text, "input:"), 8, "too small for the network's strides");
    // A custom network deeper than Keras' minimum allows.
    let deep = replace(
        &v2(),
        "  - {t: 6, c: 320, n: 1, s: 1}",
        "  - {t: 6, c: 320, n: 1, s: 2}\n  - {t: 6, c: 320, n: 1, s: 2}",
    );
    let deep = replace(&deep, "input: {height: 224, width: 224}", "input: {height: 32, width: 32}");
    let ok = Spec::parse(&deep, "deep.yaml").and_then(|s| lower(&s));
    assert!(ok.is_ok(), "v2's correct_pad keeps 1x1 maps alive: {:?}", ok.err());
    let v1 = standard_spec(&StandardOptions::new(Family::V1));
    let v1 = replace(&v1, "input: {height: 224, width: 224}", "input: {height: 32, width: 32}");
    let v1 = replace(&v1, "  - {c: 1024, n: 1, s: 1}", "  - {c: 1024, n: 1, s: 2}");
    let last =
        v1.lines().collect::<Vec<_>>().iter().rposition(|l| l.contains("{c: 1024, n: 1, s: 2}")).unwrap() as u64 + 1;
    expect_error(&v1, last, 5, "layer `conv_dw_13`: a 3x3 kernel does not fit the padded 2x2 input");
}

#[test]
fn classes_must_be_at_least_one() {
    let text = replace(&v2(), "classes: 1000", "classes: 0");
    expect_error(&text, line_of(&text, "classes: 0"), 14, "classes must be at least 1");
    let text = replace(&v2(), "classes: 1000", "classes: -3");
    expect_error(&text, line_of(&text, "classes: -3"), 14, "invalid u32");
}

#[test]
fn field_of_another_family() {
    let text = replace(&v2(), "{t: 6, c:  24, n: 2, s: 2}", "{t: 6, c:  24, n: 2, s: 2, se: true}");
    expect_error(&text, line_of(&text, "se: true"), 5, "`se` is not a column of family v2");
    let text = replace(&v2(), "alpha: 1.0", "alpha: 1.0\nse_ratio: 0.5");
    expect_error(&text, line_of(&text, "se_ratio"), 11, "se_ratio is a v3 option");
}

#[test]
fn custom_head_that_does_not_fit() {
    let body = &v2()[..v2().find("head:").unwrap()];
    let no_dense = format!("{body}head:\n  custom:\n    pooling: avg\n    layers:\n      - dropout: {{rate: 0.5}}\n");
    expect_error(&no_dense, line_of(&no_dense, "- dropout"), 7, "needs at least one dense layer");
    let zero = format!("{body}head:\n  custom:\n    pooling: avg\n    layers:\n      - dense: {{units: 0}}\n");
    expect_error(&zero, line_of(&zero, "units: 0"), 9, "dense units must be at least 1");
    let clash =
        format!("{body}head:\n  custom:\n    pooling: avg\n    layers:\n      - dense: {{units: 8, name: Conv_1}}\n");
    expect_error(&clash, line_of(&clash, "name: Conv_1"), 9, "a layer of this name already exists");
    let rate = format!(
        "{body}head:\n  custom:\n    pooling: max\n    layers:\n      - dropout: {{rate: 1.5}}\n      - dense: {{units: 2}}\n"
    );
    expect_error(&rate, line_of(&rate, "rate: 1.5"), 9, "dropout rate must be in [0, 1)");
    let hidden = replace(&v2(), "    classes: 1000", "    classes: 1000\n    hidden: 64");
    expect_error(&hidden, line_of(&hidden, "classifier:"), 3, "has no hidden classifier layer");
}

#[test]
fn missing_required_field() {
    let text = replace(&v2(), "alpha: 1.0\n", "");
    let err = Spec::parse(&text, "bad.yaml").unwrap_err();
    assert!(err.to_string().contains("missing field `alpha`"), "{err}");
}

#[test]
fn unreadable_file() {
    let err = Spec::from_file(std::path::Path::new("/no/such/spec.yaml")).unwrap_err();
    assert!(matches!(err, SpecError::Io { .. }));
    assert!(err.to_string().starts_with("cannot read spec /no/such/spec.yaml"), "{err}");
}

fn torchvision(family: Family) -> String {
    let mut o = StandardOptions::new(family);
    o.framework = Framework::Torchvision;
    standard_spec(&o)
}

#[test]
fn torchvision_specs_say_what_torchvision_has_not() {
    // torchvision has no MobileNetV1: a v1 spec cannot say torchvision.
    let text =
        replace(&standard_spec(&StandardOptions::new(Family::V1)), "family: v1", "family: v1\nframework: torchvision");
    expect_error(&text, line_of(&text, "framework"), 12, "torchvision has no MobileNetV1");
    // torchvision's v3 rows give expanded channels `e`, not a factor `t`.
    let v3 = torchvision(Family::V3Small);
    let text = replace(&v3, "{k: 3, e:  72, c:  24,", "{k: 3, t: 4.5, c:  24,");
    expect_error(&text, line_of(&text, "t: 4.5"), 5, "`t` is not a column of torchvision's v3-small");
    let text = replace(&v3, "{k: 3, e:  72, c:  24,", "{k: 3, c:  24,");
    expect_error(&text, line_of(&text, "{k: 3, c:  24,"), 5, "needs the expanded channels `e`");
    // And Keras rows have no `e`.
    let keras = standard_spec(&StandardOptions::new(Family::V3Small));
    let text = replace(&keras, "{k: 3, t: 72/16,", "{k: 3, e: 72, t: 72/16,");
    expect_error(&text, line_of(&text, "e: 72"), 5, "`e` is not a column of family v3-small");
    let text = replace(
        &torchvision(Family::V2),
        "input: {height: 224, width: 224}",
        "input: {height: 224, width: 224, include_preprocessing: true}",
    );
    expect_error(&text, line_of(&text, "include_preprocessing"), 8, "include_preprocessing is a Keras option");
    let text = replace(&torchvision(Family::V2), "framework: torchvision", "framework: caffe");
    expect_error(&text, line_of(&text, "caffe"), 12, "unknown variant `caffe`");
}

#[test]
fn empty_spec_or_comments_only() {
    for text in ["", "\n  \n", "# a spec to come\n\n  # still nothing\n"] {
        let err = Spec::parse(text, "bad.yaml").map(|_| ()).unwrap_err();
        let located = err.located().unwrap_or_else(|| panic!("no location: {err}"));
        assert!(located.message.contains("the spec is empty"), "{err}");
        assert_eq!((located.line, located.column), (1, 1));
        assert!(err.to_string().starts_with("bad.yaml:1:1: "), "{err}");
    }
}
