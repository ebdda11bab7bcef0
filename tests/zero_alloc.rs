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

/// The counter is global: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

mobilenet_macros::mobilenet!("tests/data/v3small_0.5_96x80_c10/spec.yaml", name = Fused);
mobilenet_macros::mobilenet!("tests/data/v3small_0.5_96x80_c10/spec.yaml", name = Unfused, fuse = false);
mobilenet_macros::mobilenet!("tests/data/v2_0.35_96_c10/spec.yaml", name = V2);

#[test]
fn forward_makes_no_heap_allocation() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

mobilenet_macros::mobilenet!("tests/data/v2_0.35_96_c10/spec.yaml", name = V2Int8, precision = int8);

#[test]
fn int8_forward_makes_no_heap_allocation() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use mobilenet_compiler::quant::{self, Int8Graph};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v2_0.35_96_c10");
    let graph =
        mobilenet_compiler::lower(&mobilenet_compiler::spec::Spec::from_file(&dir.join("spec.yaml")).unwrap()).unwrap();
    let weights = mobilenet_compiler::weights::Weights::load(&dir.join("weights.safetensors"), &graph).unwrap();
    let x = mobilenet_compiler::npy::read(&dir.join("input.npy")).unwrap();
    let x = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&x.shape), x.data).unwrap();
    let file = quant::quantize(&Int8Graph::of(&graph).unwrap(), &weights, x.view(), 2).unwrap();
    let net = V2Int8::from_safetensors(&file.to_bytes()).unwrap();
    let input: Box<[f32; V2Int8::INPUT_LEN]> = vec![0.25f32; V2Int8::INPUT_LEN].into_boxed_slice().try_into().unwrap();
    let mut arena = V2Int8::new_arena();
    let mut out = [0.0f32; V2Int8::OUTPUT_LEN];
    let pool = mobilenet_runtime::exec::Pool::new(2);
    net.forward_on(&pool, &input, &mut out, &mut arena, &mut []);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..3 {
        net.forward(&input, &mut out, &mut arena);
        net.forward_on(&pool, &input, &mut out, &mut arena, &mut []);
    }
    let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(during, 0, "int8 forward allocated {during} times");
    assert!(out.iter().any(|v| *v != 0.0));
}
