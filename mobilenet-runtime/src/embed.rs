//! Weights compiled into the binary.
//!
//! `mobilenet!(..., weights = "file")` folds BatchNorm and packs the weights
//! at build time, once per [`Packing`](crate::kernels::Packing), writes each
//! packed buffer to a file and embeds it with `include_bytes!` in an
//! [`Aligned`] static. A network then needs no load step, no heap and no
//! `std`: its weights are `&'static [f32]` views of those statics.

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
    /// `len` values of `T` (i8, i32 or f32, little-endian) from byte `at`;
    /// a build error where the generated tables use it if they do not fit
    /// or are misaligned.
    const fn values<T>(&'static self, at: usize, len: usize) -> &'static [T] {
        let size = core::mem::size_of::<T>();
        assert!(at.is_multiple_of(size) && at + len * size <= N, "an embedded slice within its blob");
        const { assert!(cfg!(target_endian = "little"), "embedded weights are little-endian") };
        // SAFETY: `Aligned` is 64-byte aligned and `at` a multiple of `T`'s
        // size, which is its alignment for the three types used; the `len`
        // values lie within the `N` bytes (asserted), which live for 'static
        // and are never written; every bit pattern is a valid i8, i32, f32.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr().add(at).cast::<T>(), len) }
    }

    /// `len` i8 from byte `at` (see [`Aligned::values`]).
    pub const fn i8s(&'static self, at: usize, len: usize) -> &'static [i8] {
        self.values(at, len)
    }

    /// `len` i32 from byte `at` (see [`Aligned::values`]).
    pub const fn i32s(&'static self, at: usize, len: usize) -> &'static [i32] {
        self.values(at, len)
    }

    /// `len` f32 from byte `at` (see [`Aligned::values`]).
    pub const fn f32s(&'static self, at: usize, len: usize) -> &'static [f32] {
        self.values(at, len)
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

    #[test]
    fn typed_views_read_little_endian_values_at_offsets() {
        const F: &[f32] = BLOB.f32s(4, 1);
        const I: &[i32] = BLOB.i32s(0, 2);
        const B: &[i8] = BLOB.i8s(7, 1);
        assert_eq!(F, &[-2.0]);
        assert_eq!(I, &[0x3fc0_0000, 0xc000_0000_u32 as i32]);
        assert_eq!(B, &[-64]);
    }
}
