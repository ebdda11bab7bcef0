//! The instruction sets the kernels run with, chosen once (at model load)
//! and passed to every kernel call.
//!
//! One table, [`Kind::row`], says for every instruction set what the CPU
//! must have ([`Kind::runs_here`], the one detection routine) and which
//! kernels of each precision it runs, with their vector width, tile shapes,
//! weight layout and cache blocking: the shape of XNNPACK's
//! `src/configs/*-config.c`. The kernels are written once per precision,
//! generic over a vector (f32: `simd::Simd`) or micro-kernel trait (int8:
//! `q8::gemm::Micro`, `q8::dw::Lanes`); a kernel family here is one impl of
//! those traits, and reads its sizes from its row (compile-time asserts
//! check the vector types and instantiations against it). Adding an
//! instruction set is a row here and those impls: ARCHITECTURE.md has the
//! checklist.

use core::fmt;

pub use mobilenet_layout::pack::Packing;
pub use mobilenet_layout::q8pack::QLayout;

/// Which kernels to run. Only [`Isa::portable`], [`Isa::detect`],
/// [`Isa::best`], [`Isa::available`] and [`Isa::by_name`] make one, and all
/// but the first check the CPU: holding an `Isa` means its instructions
/// are available.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Isa(pub(crate) Kind);

/// The rows of the table.
// Without `std` the x86 kinds exist only where the build enables them.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Plain Rust (what the compiler makes of it for the build's target).
    Portable,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F (and AVX2): 16-float vectors; int8 as AVX2.
    Avx512,
    /// x86-64 AVX-512 F/BW/VL with VNNI: f32 as AVX-512, int8 `vpdpbusd`.
    Avx512Vnni,
    /// WebAssembly SIMD128 (a build with `-C target-feature=+simd128`):
    /// 4-float vectors, int8 `i32x4.dot_i16x8_s`.
    Simd128,
}

/// The two precisions kernels exist for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    Int8,
}

/// One instruction set: its name and its kernels of each precision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub name: &'static str,
    pub f32: F32Config,
    pub int8: Int8Config,
}

/// The f32 kernel families (one `Simd` vector type each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum F32Kernels {
    Portable,
    Avx2,
    Avx512,
    Simd128,
}

/// The int8 kernel families (one micro-kernel impl each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int8Kernels {
    Portable,
    Avx2,
    Avx512Vnni,
    Simd128,
}

/// What the f32 kernels of a family are built with. Every size that must
/// agree between packing, the vector type and the micro-kernels is read
/// from here (the vector types' `LANES`, `MR`, `PANEL` are defined from it,
/// and `entry.rs` checks its tile list against it at compile time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct F32Config {
    pub kernels: F32Kernels,
    pub name: &'static str,
    /// Weight layout: vector width and GEMM panel width
    /// ([`Packing::lanes`], [`Packing::panel`] = two vectors).
    pub packing: Packing,
    /// Rows of the GEMM micro-kernel tile (`gemm_rows x panel` outputs):
    /// as many as leave registers for the accumulators (2 per row), one
    /// broadcast input and two weight vectors (AVX2: 16 registers, 12
    /// accumulators; AVX-512: 32 registers, 24 accumulators).
    pub gemm_rows: usize,
    /// Rows of a two-vector tile that reads its inputs through offsets (a
    /// regular conv's windows in place: the stem). There LLVM issues all the
    /// broadcasts of a `k` step before its multiply-adds; with AVX-512's 12
    /// rows that is 24 accumulators, 2 weight vectors and 12 broadcasts, over
    /// 32 registers, and the loop spilled and shuffled accumulators: v1/v2's
    /// 32-channel stem ran at 70 GMAC/s on a Zen 5, 92 with 8 rows (26
    /// registers). One-vector tiles (v3's 16-channel stem) fit with 12 rows
    /// and were slower with 8; AVX2's 6 rows measured the same as 4 or 5.
    pub offset_rows: usize,
    /// Whether the depthwise conv walks channel slices that keep their
    /// input rows in L1 (`Cache::dw_l1_rows`): with vectors of a cache line
    /// (AVX-512) it waited on L2 without; with AVX2's half lines it did not,
    /// and slicing only slowed it.
    pub dw_slices: bool,
    pub cache: Cache,
}

/// What the int8 kernels of a family are built with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int8Config {
    pub kernels: Int8Kernels,
    pub name: &'static str,
    /// How its weights are packed: GEMM panel width and input group, the
    /// depthwise block ([`QLayout::gemm_shape`], [`QLayout::depthwise_lanes`]).
    pub layout: QLayout,
    /// Rows of a GEMM tile of 1, 2, 3 and 4 panels (0: not used): as many
    /// as leave registers for the sums (AVX2: 12 one-panel rows or 6
    /// two-panel rows of its 16 registers; VNNI's 32 registers take 12
    /// rows of 1 or 2 panels, 8 of 3, 6 of 4).
    pub gemm_rows: [usize; 4],
    pub cache: Cache,
}

impl Int8Config {
    /// Most panels a GEMM tile spans.
    pub const fn max_panels(&self) -> usize {
        let mut nv = 4;
        while nv > 1 && self.gemm_rows[nv - 1] == 0 {
            nv -= 1;
        }
        nv
    }

    /// Panels per tile for a product of `panels` panels: all of them up to
    /// the most a tile takes; else the widest tile that divides them (no
    /// narrow last column of tiles), else the widest.
    pub const fn panels_per_tile(&self, panels: usize) -> usize {
        let most = self.max_panels();
        if panels <= most {
            return if panels == 0 { 1 } else { panels };
        }
        let mut nv = most;
        while nv >= 2 {
            if panels.is_multiple_of(nv) {
                return nv;
            }
            nv -= 1;
        }
        most
    }
}

/// Cache blocking: how much of each operand a kernel keeps in which level,
/// in bytes. Sized for the cores this runs on (32-48 KiB L1d, 512 KiB-2 MiB
/// L2 per core); BENCHMARKS.md has the measurements behind each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cache {
    /// f32 GEMM: input rows a block keeps in L2 while the panels pass over them.
    pub gemm_l2_rows: usize,
    /// f32 GEMM: a weight panel's slice kept in L1 while the row tiles use it.
    pub gemm_l1_panel: usize,
    /// f32 GEMM: up to this many bytes of weights, every panel stays in L1
    /// and rows are finished one band at a time.
    pub gemm_l1_weights: usize,
    /// f32 depthwise: the `kh` input rows of a channel slice kept in L1
    /// (half of a 32 KiB L1).
    pub dw_l1_rows: usize,
    /// int8 GEMM: up to this many bytes of weights, every panel stays in L1
    /// and each band of rows is finished across all panels before the next.
    pub q8_l1_weights: usize,
    /// int8 GEMM: input rows a block keeps in L2 while the panel groups pass.
    pub q8_l2_rows: usize,
    /// int8 3x3 depthwise: input columns (3 rows of every channel) kept in L1
    /// while every block of channels passes over them.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub q8_dw_l1_span: usize,
}

/// The cores the x86 rows run on, and the portable kernels anywhere.
const DESKTOP: Cache = Cache {
    gemm_l2_rows: 192 * 1024,
    gemm_l1_panel: 16 * 1024,
    gemm_l1_weights: 20 * 1024,
    dw_l1_rows: 16 * 1024,
    q8_l1_weights: 32 * 1024,
    q8_l2_rows: 256 * 1024,
    q8_dw_l1_span: 16 * 1024,
};

/// The portable kernels read the layout of the target's vector kernels:
/// 8-float vectors on x86-64 (AVX2's), 4 elsewhere (SIMD128's, NEON's), so
/// that a target compiles in one float layout for both.
pub(crate) const F32_PORTABLE: F32Config = F32Config {
    kernels: F32Kernels::Portable,
    name: "portable",
    packing: if cfg!(target_arch = "x86_64") { Packing::Narrow } else { Packing::Quad },
    gemm_rows: 4,
    offset_rows: 4,
    dw_slices: false,
    cache: DESKTOP,
};
pub(crate) const F32_AVX2: F32Config = F32Config {
    kernels: F32Kernels::Avx2,
    name: "avx2",
    packing: Packing::Narrow,
    gemm_rows: 6,
    offset_rows: 6,
    dw_slices: false,
    cache: DESKTOP,
};
pub(crate) const F32_AVX512: F32Config = F32Config {
    kernels: F32Kernels::Avx512,
    name: "avx512",
    packing: Packing::Wide,
    gemm_rows: 12,
    offset_rows: 8,
    dw_slices: true,
    cache: DESKTOP,
};

/// 16 registers on an x86 host (the engine's), 32 on an ARM one: a tile of
/// 6 rows by 2 vectors is 12 accumulators, 2 weight vectors, 1 broadcast.
pub(crate) const F32_SIMD128: F32Config = F32Config {
    kernels: F32Kernels::Simd128,
    name: "simd128",
    packing: Packing::Quad,
    gemm_rows: 6,
    offset_rows: 6,
    dw_slices: false,
    cache: DESKTOP,
};

pub(crate) const INT8_PORTABLE: Int8Config = Int8Config {
    kernels: Int8Kernels::Portable,
    name: "portable",
    layout: QLayout::Pairs8,
    gemm_rows: [1, 0, 0, 0],
    cache: DESKTOP,
};
pub(crate) const INT8_AVX2: Int8Config = Int8Config {
    kernels: Int8Kernels::Avx2,
    name: "avx2",
    layout: QLayout::Pairs8,
    gemm_rows: [12, 6, 0, 0],
    cache: DESKTOP,
};
pub(crate) const INT8_VNNI: Int8Config = Int8Config {
    kernels: Int8Kernels::Avx512Vnni,
    name: "avx512vnni",
    layout: QLayout::Quads16,
    gemm_rows: [12, 12, 8, 6],
    cache: DESKTOP,
};

/// Whether the CPU has all these x86 features (see [`Kind::runs_here`]);
/// false on other architectures.
macro_rules! x86 {
    ($($f:tt),+) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        let on = $(std::arch::is_x86_feature_detected!($f))&&+;
        #[cfg(all(not(feature = "std"), target_arch = "x86_64"))]
        let on = $(cfg!(target_feature = $f))&&+;
        #[cfg(not(target_arch = "x86_64"))]
        let on = false;
        on
    }};
}

pub(crate) const INT8_SIMD128: Int8Config = Int8Config {
    kernels: Int8Kernels::Simd128,
    name: "simd128",
    layout: QLayout::Pairs8,
    gemm_rows: [6, 3, 0, 0],
    cache: DESKTOP,
};

impl Kind {
    /// Every instruction set, slowest first (per architecture: only one
    /// architecture's rows ever run).
    pub(crate) const ALL: [Kind; 5] = [Kind::Portable, Kind::Avx2, Kind::Avx512, Kind::Avx512Vnni, Kind::Simd128];

    /// The table.
    pub(crate) const fn row(self) -> Row {
        match self {
            Kind::Portable => Row { name: "portable", f32: F32_PORTABLE, int8: INT8_PORTABLE },
            Kind::Avx2 => Row { name: "avx2", f32: F32_AVX2, int8: INT8_AVX2 },
            Kind::Avx512 => Row { name: "avx512", f32: F32_AVX512, int8: INT8_AVX2 },
            Kind::Avx512Vnni => Row { name: "avx512vnni", f32: F32_AVX512, int8: INT8_VNNI },
            Kind::Simd128 => Row { name: "simd128", f32: F32_SIMD128, int8: INT8_SIMD128 },
        }
    }

    /// Whether this CPU runs the row's kernels (of both precisions): with
    /// `std`, run-time detection (cached by `std`); without, the target
    /// features the build enables (`-C target-feature` / `target-cpu`).
    fn runs_here(self) -> bool {
        match self {
            Kind::Portable => true,
            Kind::Avx2 => x86!("avx2", "fma"),
            Kind::Avx512 => x86!("avx512f", "avx2", "fma"),
            Kind::Avx512Vnni => x86!("avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx2", "fma"),
            // WebAssembly has no run-time detection: a module with SIMD
            // instructions does not load where they are missing.
            Kind::Simd128 => cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
        }
    }
}

impl Isa {
    /// Kernels in plain Rust, correct on any target.
    pub const fn portable() -> Isa {
        Isa(Kind::Portable)
    }

    /// The fastest kernels this CPU supports (the last of [`Isa::available`]).
    #[cfg(feature = "std")]
    pub fn detect() -> Isa {
        Isa::best()
    }

    /// The fastest kernels this CPU supports, without allocating and
    /// without `std`: with `std`, run-time detection; without, the
    /// instruction sets the build enables for the target, else the portable
    /// kernels.
    pub fn best() -> Isa {
        let mut best = Isa::portable();
        for kind in Kind::ALL {
            if kind.runs_here() {
                best = Isa(kind);
            }
        }
        best
    }

    /// Every instruction set this CPU can run, slowest first (always starts
    /// with the portable one).
    #[cfg(feature = "std")]
    pub fn available() -> std::vec::Vec<Isa> {
        Kind::ALL.into_iter().filter(|k| k.runs_here()).map(Isa).collect()
    }

    /// The available instruction sets whose kernels of `precision` differ:
    /// the first of each kernel family (what tests run every network with;
    /// AVX-512 without VNNI runs the AVX2 int8 kernels, for one).
    #[cfg(feature = "std")]
    pub fn distinct(precision: Precision) -> std::vec::Vec<Isa> {
        let mut out: std::vec::Vec<Isa> = std::vec::Vec::new();
        for isa in Isa::available() {
            if !out.iter().any(|o| o.kernels(precision) == isa.kernels(precision)) {
                out.push(isa);
            }
        }
        out
    }

    /// An instruction set by name (`portable`, `avx2`, `avx512`,
    /// `avx512vnni`), if this CPU can run it.
    pub fn by_name(name: &str) -> Option<Isa> {
        Kind::ALL.into_iter().find(|k| k.row().name == name && k.runs_here()).map(Isa)
    }

    /// The names of every instruction set of the table, whether or not this
    /// CPU runs it.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Kind::ALL.into_iter().map(|k| k.row().name)
    }

    /// The kernel families of `precision` in the table, each once, whether
    /// or not this CPU runs them.
    pub fn all_kernels(precision: Precision) -> impl Iterator<Item = &'static str> {
        let names = Kind::ALL.map(|k| Isa(k).kernels(precision));
        names.into_iter().enumerate().filter(move |&(i, n)| !names[..i].contains(&n)).map(|(_, n)| n)
    }

    pub const fn name(self) -> &'static str {
        self.0.row().name
    }

    /// The name of the kernel family this instruction set runs for
    /// `precision` (several instruction sets may share one).
    pub const fn kernels(self, precision: Precision) -> &'static str {
        match precision {
            Precision::F32 => self.0.row().f32.name,
            Precision::Int8 => self.0.row().int8.name,
        }
    }

    /// How f32 weights are packed for these kernels.
    pub const fn packing(self) -> Packing {
        self.f32().packing
    }

    /// How int8 weights are packed for these kernels.
    pub const fn qlayout(self) -> QLayout {
        self.int8().layout
    }

    pub(crate) const fn f32(self) -> F32Config {
        self.0.row().f32
    }

    pub(crate) const fn int8(self) -> Int8Config {
        self.0.row().int8
    }

    /// Floats per vector of the f32 kernels.
    pub(crate) const fn lanes(self) -> usize {
        self.packing().lanes()
    }

    /// Output channels per packed weight panel of the f32 GEMM kernels.
    pub(crate) const fn panel(self) -> usize {
        self.packing().panel()
    }
}

impl From<Isa> for Packing {
    fn from(isa: Isa) -> Packing {
        isa.packing()
    }
}

impl From<Isa> for QLayout {
    fn from(isa: Isa) -> QLayout {
        isa.qlayout()
    }
}

impl fmt::Debug for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_per_tile_keep_the_old_rules() {
        // AVX2 took min(panels, 2); VNNI all of up to 4, else the widest divisor, else 4.
        for panels in 1..200 {
            assert_eq!(INT8_AVX2.panels_per_tile(panels), panels.min(2), "{panels}");
            let vnni = match panels {
                1..=4 => panels,
                _ if panels % 4 == 0 => 4,
                _ if panels % 3 == 0 => 3,
                _ if panels % 2 == 0 => 2,
                _ => 4,
            };
            assert_eq!(INT8_VNNI.panels_per_tile(panels), vnni, "{panels}");
        }
    }

    /// Every row this target can run reads weight layouts this target's
    /// generated code compiles in.
    #[test]
    fn the_rows_of_this_target_read_its_layouts() {
        let arch = std::env::consts::ARCH;
        for isa in Isa::available() {
            assert!(isa.packing().targets().includes(arch), "{isa}: {:?} on {arch}", isa.packing());
            assert!(isa.qlayout().targets().includes(arch), "{isa}: {:?} on {arch}", isa.qlayout());
        }
    }

    #[test]
    fn the_table_names_every_row_once_and_detection_keeps_its_order() {
        let names: Vec<_> = Isa::names().collect();
        assert_eq!(names, ["portable", "avx2", "avx512", "avx512vnni", "simd128"]);
        let available = Isa::available();
        assert_eq!(available[0], Isa::portable());
        assert_eq!(*available.last().unwrap(), Isa::best());
        for isa in &available {
            assert_eq!(Isa::by_name(isa.name()), Some(*isa));
        }
        assert_eq!(Isa::by_name("no such"), None);
        assert_eq!(Isa::all_kernels(Precision::F32).collect::<Vec<_>>(), ["portable", "avx2", "avx512", "simd128"]);
        assert_eq!(
            Isa::all_kernels(Precision::Int8).collect::<Vec<_>>(),
            ["portable", "avx2", "avx512vnni", "simd128"]
        );
    }
}
