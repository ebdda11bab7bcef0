mobilenet_macros::mobilenet!("ui/yaml_syntax.yaml", name = Broken);

fn main() {}
