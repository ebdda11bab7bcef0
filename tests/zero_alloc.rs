//! `forward` allocates nothing: a counting global allocator sees no
//! allocation between the first and the last of many calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to `System`, which upholds `GlobalAlloc`'s
// contract; counting does not change what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's `layout`, passed on to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation here goes through it).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller's `new_size`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mobilenet_macros::mobilenet!("tests/data/v3small_0.5_96x80_c10/spec.yaml", name = Fused);
mobilenet_macros::mobilenet!("tests/data/v3small_0.5_96x80_c10/spec.yaml", name = Unfused, fuse = false);
mobilenet_macros::mobilenet!("tests/data/v2_0.35_96_c10/spec.yaml", name = V2);

#[test]
fn forward_makes_no_heap_allocation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let fused = Fused::load(dir.join("v3small_0.5_96x80_c10/weights.safetensors")).unwrap();
    let unfused = Unfused::load(dir.join("v3small_0.5_96x80_c10/weights.safetensors")).unwrap();
    let v2 = V2::load(dir.join("v2_0.35_96_c10/weights.safetensors")).unwrap();
    let input: Box<[f32; Fused::INPUT_LEN]> = vec![0.25f32; Fused::INPUT_LEN].into_boxed_slice().try_into().unwrap();
    let v2_input: Box<[f32; V2::INPUT_LEN]> = vec![0.25f32; V2::INPUT_LEN].into_boxed_slice().try_into().unwrap();
    let (mut arena, mut unfused_arena, mut v2_arena) = (Fused::new_arena(), Unfused::new_arena(), V2::new_arena());
    let (mut out, mut v2_out) = ([0.0f32; Fused::OUTPUT_LEN], [0.0f32; V2::OUTPUT_LEN]);

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        fused.forward(&input, &mut out, &mut arena);
        unfused.forward(&input, &mut out, &mut unfused_arena);
        v2.forward(&v2_input, &mut v2_out, &mut v2_arena);
    }
    let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(during, 0, "forward allocated {during} times");

    // On two threads: the pool and scratch are made once, the runs allocate nothing.
    let pool = mobilenet_runtime::exec::Pool::new(2);
    let mut scratch = V2::new_scratch(2);
    v2.forward_on(&pool, &v2_input, &mut v2_out, &mut v2_arena, &mut scratch);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        v2.forward_on(&pool, &v2_input, &mut v2_out, &mut v2_arena, &mut scratch);
    }
    let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(during, 0, "forward_on allocated {during} times");
    assert!(out.iter().all(|v| v.is_finite()) && v2_out.iter().any(|v| *v != 0.0));

    // The counter does see allocations (the test can fail).
    let _ = Fused::new_arena();
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before);
}
