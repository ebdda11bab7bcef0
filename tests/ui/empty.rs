// An empty spec file (or one of whitespace only): said so, not "unexpected
// end of input".
mobilenet_macros::mobilenet!("ui/empty.yaml");

fn main() {}
