// int8 with compiled-in weights: a file that cannot be read, and a file that
// is not a quantized model of this network: errors at the `weights` argument,
// naming the file as written.
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = A, precision = int8, weights = "ui/no_such.safetensors");
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = B, precision = int8, weights = "ui/other.safetensors");

fn main() {}
