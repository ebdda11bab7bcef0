//! The committed small fixtures' networks, their weights compiled in, for
//! the node conformance tests (`web/tests/conformance.mjs`): f32 fused,
//! unfused and with every block fused, and int8; on the SIMD128 kernels and
//! on the portable ones.

use mobilenet_runtime::Network;
use mobilenet_runtime::kernels::Isa;

use crate::Local;

/// Floats of the largest input plus the largest output.
const FLOATS: usize = 224 * 224 * 3 + 1000;

static FLOATS_BUF: Local<[f32; FLOATS]> = Local::new([0.0; FLOATS]);

/// One network: its name, input and output lengths, and how to run it on
/// an input with the kernels of an instruction set into an output.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) input: usize,
    pub(crate) output: usize,
    pub(crate) run: fn(Isa, &[f32], &mut [f32]),
}

/// The networks: `name = Type from spec [with options]`, each with a
/// static arena.
#[cfg_attr(feature = "bench", allow(unused_macros))]
macro_rules! nets {
    ($($name:literal => $ty:ident ($spec:literal, $($opt:tt)*);)*) => {
        $(mobilenet_macros::mobilenet!($spec, name = $ty, $($opt)*);)*

        pub(crate) static NETS: &[Entry] = &[$(Entry {
            name: $name,
            input: $ty::INPUT_LEN,
            output: $ty::OUTPUT_LEN,
            run: |isa, x, y| {
                // SAFETY: all-zero bytes are zero floats or bytes.
                static ARENA: Local<[<$ty as Network>::Elem; $ty::ARENA_LEN]> = Local::new(unsafe { core::mem::zeroed() });
                // SAFETY: `mn_run` runs one network at a time.
                $ty::with_isa(isa).run(x, y, unsafe { ARENA.get() })
            },
        }),*];
    };
}

#[cfg(not(feature = "bench"))]
nets! {
    "v1_0.25_96_c10" => V1 ("../tests/data/v1_0.25_96_c10/spec.yaml", weights = "../tests/data/v1_0.25_96_c10/weights.safetensors");
    "v1_0.25_96_c10 unfused" => V1Unfused ("../tests/data/v1_0.25_96_c10/spec.yaml", fuse = false, weights = "../tests/data/v1_0.25_96_c10/weights.safetensors");
    "v1_0.25_96_c10 every block" => V1Every ("../tests/data/v1_0.25_96_c10/spec.yaml", fuse = every_block, weights = "../tests/data/v1_0.25_96_c10/weights.safetensors");
    "v2_0.35_96_c10" => V2 ("../tests/data/v2_0.35_96_c10/spec.yaml", weights = "../tests/data/v2_0.35_96_c10/weights.safetensors");
    "v2_0.35_96_c10 unfused" => V2Unfused ("../tests/data/v2_0.35_96_c10/spec.yaml", fuse = false, weights = "../tests/data/v2_0.35_96_c10/weights.safetensors");
    "v2_0.35_96_c10 every block" => V2Every ("../tests/data/v2_0.35_96_c10/spec.yaml", fuse = every_block, weights = "../tests/data/v2_0.35_96_c10/weights.safetensors");
    "v3small_0.5_96x80_c10" => V3Small ("../tests/data/v3small_0.5_96x80_c10/spec.yaml", weights = "../tests/data/v3small_0.5_96x80_c10/weights.safetensors");
    "v3small_0.5_96x80_c10 every block" => V3SmallEvery ("../tests/data/v3small_0.5_96x80_c10/spec.yaml", fuse = every_block, weights = "../tests/data/v3small_0.5_96x80_c10/weights.safetensors");
    "v3large_0.5_64_c10" => V3Large ("../tests/data/v3large_0.5_64_c10/spec.yaml", weights = "../tests/data/v3large_0.5_64_c10/weights.safetensors");
    "keras_v1_0.25_dm2" => V1Dm2 ("../tests/data/keras_v1_0.25_dm2/spec.yaml", weights = "../tests/data/keras_v1_0.25_dm2/weights.safetensors");
    "keras_v1_0.25_custom_max" => V1Custom ("../tests/data/keras_v1_0.25_custom_max/spec.yaml", weights = "../tests/data/keras_v1_0.25_custom_max/weights.safetensors");
    "keras_v3small_0.35_prep_softmax" => V3Prep ("../tests/data/keras_v3small_0.35_prep_softmax/spec.yaml", weights = "../tests/data/keras_v3small_0.35_prep_softmax/weights.safetensors");
    "tv_v3small_0.5_96x80_c10" => TvV3Small ("../tests/data/tv_v3small_0.5_96x80_c10/spec.yaml", weights = "../tests/data/tv_v3small_0.5_96x80_c10/weights.safetensors");
    "v2_0.35_96_c10 int8" => V2Int8 ("../tests/data/v2_0.35_96_c10/spec.yaml", precision = int8, weights = "../embedded-example/data/v2_0.35_96_c10_int8.safetensors");
    "tv_v2_1.0_224 (trained)" => TvV2 ("../specs/tv_v2_1.0_224.yaml", weights = "../generated-example/models/mobilenet_v2_imagenet/weights.safetensors");
    "tv_v2_1.0_224 (trained) int8" => TvV2Int8 ("../specs/tv_v2_1.0_224.yaml", precision = int8, weights = "../generated-example/models/mobilenet_v2_imagenet/int8.safetensors");
}

#[cfg(feature = "bench")]
use crate::bench::NETS;
#[cfg(feature = "bench")]
pub(crate) use nets;

/// How many networks the module holds.
#[unsafe(no_mangle)]
pub extern "C" fn mn_nets() -> usize {
    NETS.len()
}

/// Network `i`'s name (UTF-8, `mn_net_name_len(i)` bytes).
#[unsafe(no_mangle)]
pub extern "C" fn mn_net_name(i: usize) -> *const u8 {
    NETS.get(i).map_or(core::ptr::null(), |n| n.name.as_ptr())
}

#[unsafe(no_mangle)]
pub extern "C" fn mn_net_name_len(i: usize) -> usize {
    NETS.get(i).map_or(0, |n| n.name.len())
}

#[unsafe(no_mangle)]
pub extern "C" fn mn_input_len(i: usize) -> usize {
    NETS.get(i).map_or(0, |n| n.input)
}

#[unsafe(no_mangle)]
pub extern "C" fn mn_output_len(i: usize) -> usize {
    NETS.get(i).map_or(0, |n| n.output)
}

/// The float buffer: network `i`'s input (`mn_input_len(i)` floats), then
/// its output; null if `len` floats do not fit.
#[unsafe(no_mangle)]
pub extern "C" fn mn_floats(len: usize) -> *mut f32 {
    if len > FLOATS {
        return core::ptr::null_mut();
    }
    // SAFETY: this export's only reference to the buffer.
    unsafe { FLOATS_BUF.get().as_mut_ptr() }
}

/// Runs network `i` on the input in the float buffer, writing its output
/// after it, with the portable kernels if `portable`, else the fastest;
/// false if there is no network `i`.
#[unsafe(no_mangle)]
pub extern "C" fn mn_run(i: usize, portable: bool) -> bool {
    let Some(n) = NETS.get(i) else { return false };
    // SAFETY: this export's only reference to the buffer.
    let buf = unsafe { FLOATS_BUF.get() };
    let (x, y) = buf.split_at_mut(n.input);
    let isa = if portable { Isa::portable() } else { Isa::best() };
    (n.run)(isa, x, &mut y[..n.output]);
    true
}
