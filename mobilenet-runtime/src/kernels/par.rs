//! Splitting a kernel's output between the parts an [`Exec`] runs.

use crate::exec::Exec;

/// Most parts a kernel is split into.
pub(crate) const MAX_PARTS: usize = 32;

/// Boundaries of `parts` nearly equal ranges of `0..total`, each (but the
/// last) a multiple of `align`: part `i` is `b[i]..b[i + 1]`.
pub(crate) fn bounds(total: usize, parts: usize, align: usize) -> ([usize; MAX_PARTS + 1], usize) {
    let parts = parts.clamp(1, MAX_PARTS).min(total.div_ceil(align.max(1)).max(1));
    let mut b = [total; MAX_PARTS + 1];
    b[0] = 0;
    for (i, v) in b.iter_mut().enumerate().take(parts).skip(1) {
        *v = (total * i / parts).div_ceil(align) * align;
        *v = (*v).min(total);
    }
    (b, parts)
}

/// A slice handed out in disjoint pieces to the parts of a job.
struct Pieces<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the parts get disjoint ranges (see `run`), so sharing the pointer
// between threads creates no aliasing `&mut`; the elements are `Send`, so
// handing a piece to another thread is sound.
unsafe impl<T: Send> Sync for Pieces<T> {}

/// Runs `f(part, piece)` for each part of `e`, where `piece` is
/// `y[unit * b[part] .. unit * b[part + 1]]` and `b` the boundaries of
/// `parts` ranges (from [`bounds`]). Generic over the element type: the
/// float kernels write `f32`, the int8 kernels (`q8`) `u8`.
pub(crate) fn run<T: Send>(
    e: &dyn Exec,
    y: &mut [T],
    b: &[usize; MAX_PARTS + 1],
    parts: usize,
    unit: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    if parts == 1 {
        return f(0, y);
    }
    assert!(b[parts] * unit <= y.len() && b[..=parts].windows(2).all(|w| w[0] <= w[1]));
    let pieces = &Pieces { ptr: y.as_mut_ptr(), len: y.len() };
    e.run(&|part| {
        if part >= parts {
            return;
        }
        let (start, end) = (b[part] * unit, b[part + 1] * unit);
        debug_assert!(end <= pieces.len);
        // SAFETY: `start..end` lie in `y`, and the ranges of different parts
        // do not overlap (the boundaries increase); `y` is borrowed
        // mutably for the whole call.
        let piece = unsafe { core::slice::from_raw_parts_mut(pieces.ptr.add(start), end - start) };
        f(part, piece)
    });
}

/// A part's work: `(part, output piece, scratch piece)`.
pub(crate) type PartWithScratch<'a> = dyn Fn(usize, &mut [f32], &mut [f32]) + Sync + 'a;

/// Like [`run`], also giving part `i` its own piece `s[i * s_len .. (i + 1) * s_len]`
/// of a scratch slice.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_with_scratch(
    e: &dyn Exec,
    y: &mut [f32],
    b: &[usize; MAX_PARTS + 1],
    parts: usize,
    unit: usize,
    s: &mut [f32],
    s_len: usize,
    f: &PartWithScratch<'_>,
) {
    assert!(s.len() >= parts * s_len, "scratch for every part");
    let scratch = &Pieces { ptr: s.as_mut_ptr(), len: s.len() };
    run(e, y, b, parts, unit, &|part, piece| {
        debug_assert!((part + 1) * s_len <= scratch.len);
        // SAFETY: part `part` alone gets this range of `s`, borrowed
        // mutably for the whole call.
        let mine = unsafe { core::slice::from_raw_parts_mut(scratch.ptr.add(part * s_len), s_len) };
        f(part, piece, mine)
    });
}

/// Runs `f(part, y_ptr, y_len)` for each of `parts` parts of `e`, all given
/// the whole of `y` as a raw pointer: for parts that write interleaved,
/// disjoint elements of it (column ranges of a matrix). `f` must only write
/// its own part's elements.
pub(crate) fn run_shared(e: &dyn Exec, y: &mut [f32], parts: usize, f: &(dyn Fn(usize, *mut f32, usize) + Sync)) {
    let out = &Pieces { ptr: y.as_mut_ptr(), len: y.len() };
    e.run(&|part| {
        if part < parts {
            f(part, out.ptr, out.len)
        }
    });
}

/// `len` items from `start` in the fewest pieces of at most `max`, sized
/// within one of each other: 49 rows in tiles of 6 are 6,6,6,6,5,5,5,5,5,
/// not eight 6s and a 1 whose tile runs at a fraction of the speed (and for
/// row blocks, a last block of 1 row would stream every weight again).
pub(crate) fn even(start: usize, len: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let pieces = len.div_ceil(max.max(1));
    (0..pieces).map(move |i| {
        let (a, b) = (i * len / pieces, (i + 1) * len / pieces);
        (start + a, b - a)
    })
}

#[cfg(test)]
mod tests {
    use super::even;

    #[test]
    fn even_pieces_cover_the_range_in_near_equal_sizes() {
        for len in 0..200 {
            for max in 1..14 {
                let pieces: Vec<_> = even(7, len, max).collect();
                assert_eq!(pieces.len(), len.div_ceil(max));
                let mut next = 7;
                for &(at, n) in &pieces {
                    assert_eq!(at, next);
                    assert!(n >= 1 && n <= max, "{len} by {max}: {pieces:?}");
                    next += n;
                }
                assert_eq!(next, 7 + len);
                let sizes = pieces.iter().map(|p| p.1);
                assert!(sizes.clone().max().unwrap_or(0) - sizes.min().unwrap_or(0) <= 1);
            }
        }
        assert_eq!(even(0, 49, 6).map(|p| p.1).collect::<Vec<_>>(), [5, 5, 6, 5, 6, 5, 6, 5, 6]);
    }
}
