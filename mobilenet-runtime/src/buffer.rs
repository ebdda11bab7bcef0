//! Heap buffers for a model's weights and arena, in 2 MiB pages where the
//! OS offers them.
//!
//! A forward pass streams every weight once (14-17 MB for the 224x224
//! networks) and walks an arena of several MB: with 4 KiB pages that is
//! thousands of pages, more than the second-level TLB holds, so every layer
//! pays page walks for its weights. On Linux, with transparent huge pages
//! in `madvise` mode (the default of most distributions), a buffer aligned
//! to 2 MiB and marked `MADV_HUGEPAGE` before it is first touched is mapped
//! with 2 MiB pages (a tenth off v1 and v2 on one core: BENCHMARKS.md).
//! Elsewhere the buffer is an ordinary allocation.

use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};

/// Buffers of at least this many bytes get 2 MiB alignment and the
/// huge-page hint; smaller ones would waste most of a huge page.
const HUGE_FROM: usize = 1 << 20;

/// Size and alignment of a huge page.
const HUGE_PAGE: usize = 2 << 20;

pub use crate::Element;

/// A zeroed `[T]` (`f32` or `u8`) on the heap, 64-byte aligned, in huge
/// pages when large (see the module documentation). Derefs to the slice.
pub struct Buffer<T: Element = f32> {
    ptr: NonNull<T>,
    len: usize,
    /// What `ptr` was allocated with; zero-sized for an empty buffer.
    layout: Layout,
}

// SAFETY: a `Buffer` owns its allocation, like `Box<[T]>`, and `T: Send`.
unsafe impl<T: Element> Send for Buffer<T> {}
// SAFETY: shared access only reads, like `&[T]`, and `T: Sync`.
unsafe impl<T: Element> Sync for Buffer<T> {}

impl<T: Element> Buffer<T> {
    /// `len` zeros.
    ///
    /// # Panics
    /// If `len` values overflow `isize`; aborts if memory runs out.
    pub fn zeroed(len: usize) -> Buffer<T> {
        let bytes = len.checked_mul(core::mem::size_of::<T>()).expect("buffer size overflows");
        if bytes == 0 {
            return Buffer { ptr: NonNull::dangling(), len: 0, layout: Layout::new::<()>() };
        }
        let huge = bytes >= HUGE_FROM;
        let layout = if huge {
            Layout::from_size_align(bytes.next_multiple_of(HUGE_PAGE), HUGE_PAGE)
        } else {
            Layout::from_size_align(bytes, 64)
        }
        .expect("buffer size overflows");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else { handle_alloc_error(layout) };
        if huge {
            advise_huge(raw, layout.size());
        }
        // Zeroed only now, after the hint: the first touch decides the
        // page size.
        // SAFETY: `raw` is valid for `layout.size()` bytes, at least `len`
        // values; all-zero bytes are a valid `T` (zero: `Element`).
        unsafe { core::ptr::write_bytes(ptr.as_ptr(), 0, len) };
        Buffer { ptr, len, layout }
    }
}

/// Asks the kernel to back `len` bytes at `ptr` (2 MiB aligned) with huge
/// pages. Only a hint: without THP, or with THP off, nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    // SAFETY: `ptr..ptr + len` is one allocation of ours, page aligned;
    // MADV_HUGEPAGE changes no contents. A failure leaves 4 KiB pages.
    let _ = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

impl<T: Element> Drop for Buffer<T> {
    fn drop(&mut self) {
        if self.layout.size() > 0 {
            // SAFETY: allocated in `zeroed` with this layout.
            unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) }
        }
    }
}

impl<T: Element> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialized values (or dangling and empty).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Element> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `self` is borrowed mutably.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Element> core::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Buffer").field("len", &self.len).field("align", &self.layout.align()).finish()
    }
}

/// The arena of a network with `N` values of `T` (`f32` for float
/// networks, `u8` for int8 ones): a zeroed [`Buffer`] that derefs to
/// `[T; N]`, what `forward` takes.
pub struct Arena<T: Element, const N: usize>(Buffer<T>);

impl<T: Element, const N: usize> Arena<T, N> {
    pub fn new() -> Arena<T, N> {
        Arena(Buffer::zeroed(N))
    }
}

impl<T: Element, const N: usize> Default for Arena<T, N> {
    fn default() -> Self {
        Arena::new()
    }
}

impl<T: Element, const N: usize> Deref for Arena<T, N> {
    type Target = [T; N];
    fn deref(&self) -> &[T; N] {
        // SAFETY: the buffer holds exactly `N` values; `[T; N]` has the
        // alignment of `T`.
        unsafe { &*self.0.ptr.as_ptr().cast::<[T; N]>() }
    }
}

impl<T: Element, const N: usize> DerefMut for Arena<T, N> {
    fn deref_mut(&mut self) -> &mut [T; N] {
        // SAFETY: as in `deref`, and `self` is borrowed mutably.
        unsafe { &mut *self.0.ptr.as_ptr().cast::<[T; N]>() }
    }
}

impl<T: Element, const N: usize> core::fmt::Debug for Arena<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Arena").field(&N).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_zeroed_writable_and_aligned() {
        for len in [0, 1, 1000, HUGE_FROM / 4 - 1, HUGE_FROM / 4, 3 * HUGE_PAGE / 4 + 5] {
            let mut b = Buffer::<f32>::zeroed(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 0.0));
            if len > 0 {
                b[len - 1] = 1.5;
                b[0] += 2.0;
                assert_eq!((b[0], b[len - 1]), if len == 1 { (3.5, 3.5) } else { (2.0, 1.5) });
                let align = if len * 4 >= HUGE_FROM { HUGE_PAGE } else { 64 };
                assert_eq!(b.as_ptr() as usize % align, 0, "{len} floats");
            }
        }
    }

    #[test]
    fn an_arena_is_an_array_of_its_length() {
        let mut a = Arena::<f32, 300_000>::new();
        assert_eq!(a.len(), 300_000);
        a[299_999] = 1.0;
        assert_eq!(a.iter().sum::<f32>(), 1.0);
        let array: &mut [f32; 300_000] = &mut a;
        array[0] = 2.0;
        assert_eq!(a[0], 2.0);
        let mut bytes = Arena::<u8, 4097>::new();
        bytes[4096] = 7;
        assert_eq!(bytes.iter().map(|&b| b as u32).sum::<u32>(), 7);
        assert_eq!(bytes.as_ptr() as usize % 64, 0);
    }
}
