//! Static tensor shapes (per image, channels last).

use std::fmt;

/// The shape of one image's tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A feature map `[h, w, c]`.
    Map { h: u32, w: u32, c: u32 },
    /// A vector `[n]`.
    Vector { n: u32 },
}

impl Shape {
    pub fn map(h: u32, w: u32, c: u32) -> Shape {
        Shape::Map { h, w, c }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Map { h, w, c } => h as usize * w as usize * c as usize,
            Shape::Vector { n } => n as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels: the last dimension.
    pub fn channels(&self) -> u32 {
        match *self {
            Shape::Map { c, .. } => c,
            Shape::Vector { n } => n,
        }
    }

    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Map { h, w, c } => vec![h as usize, w as usize, c as usize],
            Shape::Vector { n } => vec![n as usize],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map { h, w, c } => write!(f, "[{h},{w},{c}]"),
            Shape::Vector { n } => write!(f, "[{n}]"),
        }
    }
}
