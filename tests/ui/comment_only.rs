// Only comments and blank lines: no YAML document. The error is located,
// but in the YAML parser's words; the macro itself calls a file empty only
// when it holds nothing but whitespace (empty.rs).
mobilenet_macros::mobilenet!("ui/comment_only.yaml");

fn main() {}
