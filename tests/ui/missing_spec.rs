mobilenet_macros::mobilenet!("ui/no_such_spec.yaml");

fn main() {}
