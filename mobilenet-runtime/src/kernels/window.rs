//! Where a convolution's windows read: the one definition of padding that
//! the kernels which walk windows themselves share.

use super::ConvGeom;

/// The first pixel of each of the `kh` (`<= N`) input rows that output row
/// `oy`'s windows read, null for a row outside the image (and past `kh`).
/// `x` is the image (`h * w * cin` values).
#[inline(always)]
pub(crate) fn input_rows<T, const N: usize>(g: &ConvGeom, x: *const T, oy: usize, kh: usize) -> [*const T; N] {
    let mut rows = [core::ptr::null(); N];
    for (ky, r) in rows.iter_mut().enumerate().take(kh) {
        let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
        if iy >= 0 && (iy as usize) < g.h {
            *r = x.wrapping_add(iy as usize * g.w * g.cin);
        }
    }
    rows
}

/// The taps of output pixel `(oy, ox)`'s window that lie inside the image,
/// as `(t, p)`: tap `t = ky * kw + kx` reads input pixel `p = iy * w + ix`.
/// Taps in the padding are skipped (they read zeros).
#[inline]
pub(crate) fn taps_inside(g: &ConvGeom, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let top = (oy * g.sh) as isize - g.pad_top as isize;
    let left = (ox * g.sw) as isize - g.pad_left as isize;
    (0..g.kh).flat_map(move |ky| {
        let iy = top + ky as isize;
        let row_inside = iy >= 0 && iy < g.h as isize;
        (0..g.kw).filter_map(move |kx| {
            let ix = left + kx as isize;
            (row_inside && ix >= 0 && ix < g.w as isize).then(|| (ky * g.kw + kx, iy as usize * g.w + ix as usize))
        })
    })
}
