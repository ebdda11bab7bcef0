//! The instruction set kernels run with, chosen once (at model load) and
//! passed to every kernel call.

use core::fmt;

pub use mobilenet_layout::pack::Packing;

/// Which kernel implementations to use. Only [`Isa::portable`] and
/// [`Isa::detect`] (which checks the CPU) are safe to construct, so holding
/// an `Isa` means its instructions are available.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Isa(pub(crate) Kind);

// Without `std` the x86 kinds exist only where the build enables them.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Plain Rust on 8-float arrays (what the compiler makes of them for the
    /// build's baseline target).
    Portable,
    /// x86-64 AVX2 + FMA, 8-float vectors.
    Avx2,
    /// x86-64 AVX-512F, 16-float vectors.
    Avx512,
}

impl Isa {
    /// Kernels in plain Rust, correct on any target.
    pub const fn portable() -> Isa {
        Isa(Kind::Portable)
    }

    /// The fastest kernels this CPU supports.
    #[cfg(feature = "std")]
    pub fn detect() -> Isa {
        Isa::available().into_iter().last().unwrap_or(Isa::portable())
    }

    /// Every instruction set this CPU can run, slowest first (always starts
    /// with the portable one). Tests run every network with each.
    #[cfg(feature = "std")]
    pub fn available() -> std::vec::Vec<Isa> {
        let mut out = std::vec![Isa::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                out.push(Isa(Kind::Avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                out.push(Isa(Kind::Avx512));
            }
        }
        out
    }

    /// An instruction set by name (`portable`, `avx2`, `avx512`), if this CPU
    /// can run it.
    #[cfg(feature = "std")]
    pub fn by_name(name: &str) -> Option<Isa> {
        Isa::available().into_iter().find(|i| i.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            Kind::Portable => "portable",
            Kind::Avx2 => "avx2",
            Kind::Avx512 => "avx512",
        }
    }

    /// The fastest kernels this CPU supports, without allocating and
    /// without `std`: with `std`, run-time detection (cached by `std`);
    /// without, the instruction sets the build enables for the target
    /// (`-C target-feature` / `target-cpu`), else the portable kernels.
    pub fn best() -> Isa {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa(Kind::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Isa(Kind::Avx2);
            }
        }
        #[cfg(all(not(feature = "std"), target_arch = "x86_64", target_feature = "avx512f"))]
        return Isa(Kind::Avx512);
        #[cfg(all(
            not(feature = "std"),
            target_arch = "x86_64",
            not(target_feature = "avx512f"),
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        return Isa(Kind::Avx2);
        #[allow(unreachable_code)]
        Isa::portable()
    }

    /// How weights are packed for these kernels.
    pub const fn packing(self) -> Packing {
        self.0.config().packing
    }

    /// Floats per vector.
    pub(crate) const fn lanes(self) -> usize {
        self.packing().lanes()
    }

    /// Output channels per packed weight panel of the GEMM kernels.
    pub(crate) const fn panel(self) -> usize {
        self.packing().panel()
    }
}

/// What the kernels of one instruction set are built with. Every size that
/// must agree between packing, the vector type and the micro-kernels is
/// read from [`Kind::config`], the one table of them (the vector types'
/// `LANES` and `MR` are defined from it, and `entry.rs` checks its tile list
/// against it at compile time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
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
}

impl Kind {
    pub(crate) const fn config(self) -> Config {
        match self {
            Kind::Portable => Config { packing: Packing::Narrow, gemm_rows: 4, offset_rows: 4 },
            Kind::Avx2 => Config { packing: Packing::Narrow, gemm_rows: 6, offset_rows: 6 },
            Kind::Avx512 => Config { packing: Packing::Wide, gemm_rows: 12, offset_rows: 8 },
        }
    }
}

impl From<Isa> for Packing {
    fn from(isa: Isa) -> Packing {
        isa.packing()
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
