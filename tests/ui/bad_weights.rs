// Weights that cannot be read, and weights of another network: errors at the
// `weights` argument, naming the file as written and every mismatched tensor.
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = A, weights = "ui/no_such.safetensors");
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = B, weights = "ui/other.safetensors");

fn main() {}
