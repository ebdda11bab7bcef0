// A directory where the spec should be: said so, not "Is a directory (os
// error 21)".
mobilenet_macros::mobilenet!("ui");

fn main() {}
