// Valid YAML, but not a valid network: alpha must be positive.
mobilenet_macros::mobilenet!("ui/semantic.yaml");

fn main() {}
