//! Weights compiled into the binary.
//!
//! `mobilenet!(..., weights = "file")` prepares the weights at build time
//! as `load` would (f32: BatchNorm folded, kernels packed; int8: the blob
//! of layer records), once per weight layout
//! ([`Packing`](crate::kernels::Packing) or [`QLayout`](crate::kernels::QLayout)),
//! writes each to a file and embeds it with `include_bytes!` in an
//! [`Aligned`] static. A network then needs no load step, no heap and no
//! `std`: its weights are `&'static` views of those statics.

/// Bytes aligned for any vector load the kernels make (64: a cache line,
/// an AVX-512 vector).
#[repr(C, align(64))]
pub struct Aligned<const N: usize>(pub [u8; N]);

impl<const N: usize> Aligned<N> {
    /// The bytes as the little-endian `f32`s they hold.
    ///
    /// Fails to compile if `N` is not a multiple of 4 or the target is
    /// big-endian (the blobs are written little-endian).
    pub const fn floats(&'static self) -> &'static [f32] {
        const { assert!(N.is_multiple_of(4), "embedded weights are whole f32s") };
        const { assert!(cfg!(target_endian = "little"), "embedded weights are little-endian") };
        // SAFETY: `Aligned` is 64-byte aligned, more than `f32` needs; the
        // `N / 4` floats lie within the `N` bytes, which live for 'static
        // and are never written (a shared reference to them exists); every
        // bit pattern is a valid `f32`.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr().cast::<f32>(), N / 4) }
    }
}

impl<const N: usize> Aligned<N> {
    /// The bytes (an int8 network's blob).
    pub const fn bytes(&'static self) -> &'static [u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BLOB: Aligned<8> = Aligned([0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);

    #[test]
    fn bytes_are_read_as_little_endian_floats() {
        const W: &[f32] = BLOB.floats();
        assert_eq!(W, &[1.5, -2.0]);
        assert_eq!(W.as_ptr() as usize % 64, 0);
    }
}
