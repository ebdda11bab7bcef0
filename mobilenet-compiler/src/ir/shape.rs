//! Static tensor shapes (per image, channels last).

use std::fmt;

/// The most elements one tensor (a value or a weight) may have: a flattened
/// feature map is a [`Shape::Vector`] of `u32` length.
pub const MAX_LEN: u64 = u32::MAX as u64;

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

    /// Number of elements. Every shape in a graph has at most [`MAX_LEN`]
    /// (the builder checks it), so this cannot overflow there; for any
    /// other shape use [`Shape::checked_len`].
    pub fn len(&self) -> usize {
        match *self {
            Shape::Map { h, w, c } => h as usize * w as usize * c as usize,
            Shape::Vector { n } => n as usize,
        }
    }

    /// Number of elements, or `None` if it does not fit a `u64`.
    pub fn checked_len(&self) -> Option<u64> {
        match *self {
            Shape::Map { h, w, c } => u64::from(h).checked_mul(u64::from(w))?.checked_mul(u64::from(c)),
            Shape::Vector { n } => Some(u64::from(n)),
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
