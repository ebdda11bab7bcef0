//! `mobilenet!` errors are compile errors at the macro call that quote the
//! spec's file:line:column.

use std::path::Path;

#[test]
fn macro_errors_point_at_the_call() {
    // trybuild compiles each case as a crate of its own under
    // `<target>/tests/trybuild/<package>`, which is the CARGO_MANIFEST_DIR
    // the macro resolves spec paths against: put the specs there.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_path_buf();
    let project = target.join("tests/trybuild").join(env!("CARGO_PKG_NAME"));
    let ui = project.join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "safetensors") {
            std::fs::copy(&path, ui.join(path.file_name().unwrap())).unwrap();
        }
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
