// Only comments and blank lines: no YAML document, which the spec parser
// calls empty, as it does a file of whitespace (empty.rs).
mobilenet_macros::mobilenet!("ui/comment_only.yaml");

fn main() {}
