// MobileNetV3 has hard-swish, which int8 networks do not cover: the error
// names the node and points at `int8`.
mobilenet_macros::mobilenet!("ui/int8_v3.yaml", name = Net, precision = int8);

fn main() {}
