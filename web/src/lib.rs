//! torchvision's trained MobileNetV2, compiled by `mobilenet!` into one
//! WebAssembly module with its weights inside: no runtime, no allocator
//! (the crate is `#![no_std]` without `alloc` on wasm, so nothing in it can
//! allocate), every buffer a static.
//!
//! The C ABI the page (`web/www/app.mjs`) and the node tests call, in the
//! module's linear memory:
//!
//! | export | what |
//! |---|---|
//! | `mn_pixels(len) -> *mut u8` | the RGBA buffer for an image of `len` bytes, or 0 if it is larger than [`MAX_PIXELS`] pixels |
//! | `mn_classify(width, height) -> i32` | preprocesses the RGBA image in that buffer as torchvision does (`Resize(256)`, `CenterCrop(224)`, `Normalize`: Pillow's resampling, bit for bit), runs the network, ranks the classes; 0, or a negative error code whose message is `mn_error()` |
//! | `mn_top_class(i) -> u32`, `mn_top_prob(i) -> f32` | the `i`-th of the top 5 (softmax probabilities) |
//! | `mn_error() -> *const u8`, `mn_error_len() -> usize` | the last error's message, UTF-8 |
//! | `mn_weights_bytes() -> usize`, `mn_isa() -> *const u8`, `mn_isa_len()` | the compiled-in weights' size; the kernels' instruction set |
//!
//! With feature `conformance`, instead, the committed small fixtures'
//! networks, run on preprocessed inputs by the node tests
//! (`web/tests/conformance.mjs`): `mn_nets()`, `mn_net_name(i)` /
//! `mn_net_name_len(i)`, `mn_input_len(i)`, `mn_output_len(i)`,
//! `mn_floats(len) -> *mut f32` (input then output), `mn_run(i, portable)`.
#![cfg_attr(target_arch = "wasm32", no_std)]

/// A value the module's one thread owns: WebAssembly without the threads
/// proposal (this module's target) runs its exports on one thread, one at
/// a time, so a static may be handed out mutably by the export running.
struct Local<T>(core::cell::UnsafeCell<T>);

// SAFETY: see `Local`: there is never a second thread to share it with.
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    const fn new(v: T) -> Local<T> {
        Local(core::cell::UnsafeCell::new(v))
    }

    /// The value, mutably.
    ///
    /// # Safety
    /// No other reference to it is live: each export takes each `Local`
    /// once and lets go before it returns.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}

#[cfg(feature = "bench")]
mod bench;
#[cfg(any(feature = "f32", feature = "int8"))]
mod classify;
#[cfg(any(feature = "conformance", feature = "bench"))]
mod conformance;

/// The last error's message.
static ERROR: Local<&'static str> = Local::new("");

/// Records `message` as the last error; returns `code`.
#[cfg_attr(not(any(feature = "f32", feature = "int8")), allow(dead_code))]
fn fail(code: i32, message: &'static str) -> i32 {
    // SAFETY: exports take ERROR only here and in `mn_error*`, one at a time.
    unsafe { *ERROR.get() = message };
    code
}

/// The last error's message (UTF-8, `mn_error_len()` bytes).
#[unsafe(no_mangle)]
pub extern "C" fn mn_error() -> *const u8 {
    // SAFETY: see `fail`.
    unsafe { ERROR.get().as_ptr() }
}

#[unsafe(no_mangle)]
pub extern "C" fn mn_error_len() -> usize {
    // SAFETY: see `fail`.
    unsafe { ERROR.get().len() }
}

/// The instruction set the kernels run with (`simd128` or `portable`).
#[unsafe(no_mangle)]
pub extern "C" fn mn_isa() -> *const u8 {
    mobilenet_runtime::kernels::Isa::best().name().as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn mn_isa_len() -> usize {
    mobilenet_runtime::kernels::Isa::best().name().len()
}

/// A panic is a bug (every input is checked first): the module traps, the
/// page reports it and can instantiate the module again.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
