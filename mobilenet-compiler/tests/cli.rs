//! The `mobilenetc` commands, as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mobilenetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mobilenetc")).args(args).output().expect("runs mobilenetc")
}

fn ok(args: &[&str]) -> String {
    let out = mobilenetc(args);
    assert!(out.status.success(), "mobilenetc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = mobilenetc(args);
    assert!(!out.status.success(), "mobilenetc {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn shipped_specs_are_the_output_of_mobilenetc_spec() {
    for (family, file) in
        [("v1", "v1_1.0_224"), ("v2", "v2_1.0_224"), ("v3-large", "v3-large_1.0_224"), ("v3-small", "v3-small_1.0_224")]
    {
        let printed = ok(&["spec", family, "--alpha", "1.0", "--resolution", "224x224", "--classes", "1000"]);
        let shipped = std::fs::read_to_string(repo().join(format!("specs/{file}.yaml"))).unwrap();
        assert_eq!(printed, shipped, "specs/{file}.yaml differs from `mobilenetc spec {family}`");
    }
}

#[test]
fn shipped_torchvision_specs_are_the_output_of_mobilenetc_spec() {
    for (family, file) in
        [("v2", "tv_v2_1.0_224"), ("v3-large", "tv_v3-large_1.0_224"), ("v3-small", "tv_v3-small_1.0_224")]
    {
        let printed = ok(&["spec", family, "--framework", "torchvision"]);
        let shipped = std::fs::read_to_string(repo().join(format!("specs/{file}.yaml"))).unwrap();
        assert_eq!(
            printed, shipped,
            "specs/{file}.yaml differs from `mobilenetc spec {family} --framework torchvision`"
        );
    }
}

/// torchvision's published parameter counts (its model docs' `num_params`:
/// learnable parameters, without BatchNorm running statistics, which the
/// summary counts as Keras does), for torchvision's own channel rounding.
#[test]
fn summary_reproduces_torchvision_param_counts() {
    for (family, params) in [("v2", 3_504_872u64), ("v3-large", 5_483_032), ("v3-small", 2_542_856)] {
        let path = tmp(&format!("tv_{family}.yaml"));
        std::fs::write(&path, ok(&["spec", family, "--framework", "torchvision"])).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&ok(&["summary", path.to_str().unwrap(), "--json"])).unwrap();
        let ir = ok(&["ir", path.to_str().unwrap()]);
        // Two running statistics per BatchNorm channel.
        let running: u64 = ir
            .lines()
            .filter(|l| l.contains("= batch_norm("))
            .map(|l| {
                let c = l.split(" c=").nth(1).and_then(|r| r.split(' ').next()).unwrap();
                2 * c.parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(json["params"].as_u64().unwrap() - running, params, "torchvision {family}");
    }
}

/// Keras `count_params()` of the fixtures (../shared/README.md) and the
/// published multiply-accumulate counts (TF-slim tables, 1001 classes).
#[test]
fn summary_reproduces_keras_params_and_published_macs() {
    let totals = |args: &[&str]| {
        let path = tmp(&format!("{}.yaml", args.join("_")));
        std::fs::write(&path, ok(args)).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&ok(&["summary", path.to_str().unwrap(), "--json"])).unwrap();
        (json["params"].as_u64().unwrap(), json["macs"].as_u64().unwrap())
    };
    for (family, params) in [("v1", 4_253_864), ("v2", 3_538_984), ("v3-large", 5_507_432), ("v3-small", 2_554_968)] {
        assert_eq!(totals(&["spec", family]).0, params, "{family} parameters");
    }
    // Published tables round (v1) or truncate (v2) to millions; the v1 0.75
    // row of the TF-slim table (317M) leaves out the stem, the v1 paper's
    // Table 6 gives 325M, which is what Keras' layers multiply to.
    for (family, alpha, res, published) in [
        ("v1", "1.0", "224", 569.0),
        ("v1", "0.75", "224", 325.0),
        ("v1", "0.5", "160", 77.0),
        ("v1", "0.25", "128", 14.0),
        ("v2", "1.0", "224", 300.0),
        ("v2", "1.4", "224", 582.0),
        ("v2", "0.5", "128", 32.0),
        ("v3-large", "1.0", "224", 217.0),
        ("v3-small", "1.0", "224", 56.5),
    ] {
        let (_, macs) = totals(&["spec", family, "--alpha", alpha, "--resolution", res, "--classes", "1001"]);
        let m = macs as f64 / 1e6;
        assert!((m - published).abs() < 1.0, "{family} {alpha}_{res}: {m:.2}M MACs, published {published}M");
    }
}

#[test]
fn summary_table_and_ir_text() {
    let spec = repo().join("specs/v2_1.0_224.yaml");
    let table = ok(&["summary", spec.to_str().unwrap()]);
    assert!(table.contains("block_16_project (conv)"), "{table}");
    assert!(table.contains("Total params: 3,538,984"), "{table}");
    let ir = ok(&["ir", spec.to_str().unwrap()]);
    assert!(ir.starts_with("graph mobilenetv2_1.00_224\n"), "{ir}");
    assert!(ir.contains("%block_1_pad = zero_pad(%block_1_expand_relu) pad=0,1,0,1 : [113,113,96]"), "{ir}");
    assert!(ir.contains("%block_2_add = add(%block_1_project_BN, %block_2_project_BN) : [56,56,24]"), "{ir}");
}

#[test]
fn run_writes_logits_that_match_keras() {
    let fixture = repo().join("tests/data/v2_0.35_96_c10");
    let spec = tmp("v2_0.35_96.yaml");
    std::fs::write(&spec, ok(&["spec", "v2", "--alpha", "0.35", "--resolution", "96", "--classes", "10"])).unwrap();
    let out = tmp("v2_out.npy");
    ok(&[
        "run",
        spec.to_str().unwrap(),
        "--weights",
        fixture.join("weights.safetensors").to_str().unwrap(),
        "--input",
        fixture.join("input.npy").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let ours = mobilenet_compiler::npy::read(&out).unwrap();
    let keras = mobilenet_compiler::npy::read(&fixture.join("expected_logits.npy")).unwrap();
    assert_eq!(ours.shape, vec![2, 10]);
    let scale = keras.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (a, b) in ours.data.iter().zip(&keras.data) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
}

#[test]
fn torchvision_ir_pads_symmetrically_and_names_modules() {
    let spec = repo().join("specs/tv_v2_1.0_224.yaml");
    let ir = ok(&["ir", spec.to_str().unwrap()]);
    assert!(ir.starts_with("graph mobilenet_v2 (torchvision)\n"), "{ir}");
    // Stride-2 depthwise: (k-1)/2 on every side, no zero_pad node.
    assert!(
        ir.contains("%features.2.conv.1.0 = depthwise(%features.2.conv.0.2) k=3x3 s=2 pad=1,1,1,1 c=96->96"),
        "{ir}"
    );
    assert!(!ir.contains("zero_pad"), "{ir}");
    assert!(ir.contains("%features.3 = add(%features.2.conv.3, %features.3.conv.3) : [56,56,24]"), "{ir}");
    assert!(ir.contains("eps=0.00001"), "{ir}");
}

#[test]
fn bad_command_line_options_are_errors() {
    for (args, needle) in [
        (&["spec", "v2", "--alpha", "0"][..], "alpha must be a finite number > 0"),
        (&["spec", "v2", "--alpha", "NaN"][..], "alpha must be a finite number > 0"),
        (&["spec", "v2", "--alpha", "-1"][..], "alpha must be a finite number > 0, found -1"),
        (&["spec", "v2", "--resolution", "16x224"][..], "too small for the network's strides"),
        (&["spec", "v2", "--resolution", "224y224"][..], "invalid resolution"),
        (&["spec", "v2", "--classes", "0"][..], "classes must be at least 1"),
        (&["spec", "v5"][..], "unknown family `v5`"),
        (&["spec", "v2", "--minimalistic"][..], "v3 options"),
        (&["spec", "v1", "--framework", "torchvision"][..], "torchvision has no MobileNetV1"),
        (&["spec", "v3-small", "--framework", "torchvision", "--minimalistic"][..], "Keras options"),
        (&["spec", "v2", "--framework", "caffe"][..], "invalid value 'caffe'"),
    ] {
        let err = fails(args);
        assert!(err.contains(needle), "mobilenetc {args:?}: `{err}` lacks `{needle}`");
    }
}

#[test]
fn bad_files_are_errors_with_locations() {
    let bad = tmp("bad.yaml");
    std::fs::write(&bad, "family: v2\nalpha: 1.0\ninput: {height: 224, width: 224, depth: 3}\n").unwrap();
    let err = fails(&["summary", bad.to_str().unwrap()]);
    assert!(err.contains(&format!("{}:3:34: unknown field `depth`", bad.display())), "{err}");

    let fixture = repo().join("tests/data/v1_0.25_96_c10");
    let spec = tmp("v1.yaml");
    std::fs::write(&spec, ok(&["spec", "v1", "--alpha", "0.25", "--resolution", "96", "--classes", "10"])).unwrap();
    let truncated = tmp("truncated.safetensors");
    let bytes = std::fs::read(fixture.join("weights.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..1000]).unwrap();
    let input = fixture.join("input.npy");
    let out = tmp("never.npy");
    let run = |weights: &Path, input: &Path| {
        fails(&[
            "run",
            spec.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
    };
    let err = run(&truncated, &input);
    assert!(err.contains("is not a valid safetensors file"), "{err}");
    // Weights of another variant: every tensor named with expected and actual shapes.
    let other = repo().join("tests/data/v2_0.35_96_c10/weights.safetensors");
    let err = run(&other, &input);
    assert!(err.contains("missing tensor `conv1/kernel` (expected shape [3, 3, 3, 8])"), "{err}");
    assert!(err.contains("unexpected tensor `Conv1/kernel`"), "{err}");
    // An input of the wrong resolution.
    let err = run(&fixture.join("weights.safetensors"), &repo().join("tests/data/v3large_0.5_64_c10/input.npy"));
    assert!(err.contains("the network takes [N, 96,96,3]"), "{err}");
    // Not an .npy file.
    let err = run(&fixture.join("weights.safetensors"), &bad);
    assert!(err.contains("not a .npy file"), "{err}");
}

#[test]
fn rust_refuses_a_type_name_that_is_not_an_identifier() {
    let spec = repo().join("specs/tiny.yaml");
    let err = fails(&["rust", spec.to_str().unwrap(), "--name", "my-net"]);
    assert!(err.contains("--name `my-net` is not a Rust identifier"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(ok(&["rust", spec.to_str().unwrap(), "--name", "MyNet"]).contains("pub struct MyNet"));
}

/// `quantize` then `run --quantized`, as the README shows; and the errors
/// a user meets on the way.
#[test]
fn quantize_then_run_the_integer_reference() {
    let dir = repo().join("tests/data/v2_0.35_96_c10");
    let (spec, weights, input) = (dir.join("spec.yaml"), dir.join("weights.safetensors"), dir.join("input.npy"));
    let (spec, weights, input) = (spec.to_str().unwrap(), weights.to_str().unwrap(), input.to_str().unwrap());
    let q = tmp("v2_int8.safetensors");
    let out = mobilenetc(&[
        "quantize",
        spec,
        "--weights",
        weights,
        "--calibrate",
        input,
        input,
        "--out",
        q.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("on 4 calibration images"), "{said}");
    let y = tmp("v2_int8_out.npy");
    ok(&["run", spec, "--quantized", q.to_str().unwrap(), "--input", input, "--output", y.to_str().unwrap()]);
    let logits = mobilenet_compiler::npy::read(&y).unwrap();
    assert_eq!(logits.shape, [2, 10]);
    assert!(logits.data.iter().all(|v| v.is_finite()) && logits.data.iter().any(|v| *v != 0.0));

    // The int8 program, for review.
    let code = ok(&["rust", spec, "--int8", "--name", "V2Int8"]);
    assert!(code.contains("pub struct V2Int8") && code.contains("k8::conv2d(") && code.contains("k8::depthwise("));

    // A float weights file where the int8 model goes.
    let e = fails(&["run", spec, "--quantized", weights, "--input", input, "--output", y.to_str().unwrap()]);
    assert!(e.contains("is not a mobilenet-rs int8 model"), "{e}");
    // Calibration images of the wrong size.
    let small = repo().join("tests/data/keras_v2_0.1_32/input.npy");
    let e =
        fails(&["quantize", spec, "--weights", weights, "--calibrate", small.to_str().unwrap(), "--out", "/dev/null"]);
    assert!(e.contains("calibration images have shape [") && e.contains("the network takes [N, 96, 96, 3]"), "{e}");
    // A network int8 does not cover.
    let v3 = repo().join("tests/data/v3small_0.5_96x80_c10");
    let e = fails(&[
        "quantize",
        v3.join("spec.yaml").to_str().unwrap(),
        "--weights",
        v3.join("weights.safetensors").to_str().unwrap(),
        "--calibrate",
        v3.join("input.npy").to_str().unwrap(),
        "--out",
        "/dev/null",
    ]);
    assert!(e.contains("int8: node `") && e.contains("hard_swish"), "{e}");
}
