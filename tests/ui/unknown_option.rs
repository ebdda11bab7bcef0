mobilenet_macros::mobilenet!("ui/semantic.yaml", fused = false);

fn main() {}
