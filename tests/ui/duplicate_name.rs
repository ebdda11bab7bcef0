// Two networks of the same name in one module.
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = Net);
mobilenet_macros::mobilenet!("ui/weights_spec.yaml", name = Net, fuse = false);

fn main() {}
