// MobileNetV3 has hard-swish, which int8 networks do not cover: the error
// names the node and points at `int8`, also when a file to compile in is given.
mobilenet_macros::mobilenet!("ui/int8_v3.yaml", name = Net, precision = int8);
mobilenet_macros::mobilenet!("ui/int8_v3.yaml", name = Compiled, precision = int8, weights = "ui/other.safetensors");

fn main() {}
