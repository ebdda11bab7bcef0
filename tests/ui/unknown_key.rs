// A typo in the spec is an error, not silently ignored.
mobilenet_macros::mobilenet!("ui/unknown_key.yaml", name = Typo);

fn main() {}
