//! The instruction set kernels run with, chosen once (at model load) and
//! passed to every kernel call.

use core::fmt;

/// Which kernel implementations to use. Only [`Isa::portable`] and
/// [`Isa::detect`] (which checks the CPU) are safe to construct, so holding
/// an `Isa` means its instructions are available.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Isa(pub(crate) Kind);

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

    /// Floats per vector.
    pub(crate) fn lanes(self) -> usize {
        match self.0 {
            Kind::Portable | Kind::Avx2 => 8,
            Kind::Avx512 => 16,
        }
    }

    /// Output channels per packed weight panel of the GEMM kernels.
    pub(crate) fn panel(self) -> usize {
        match self.0 {
            Kind::Portable | Kind::Avx2 => 16,
            Kind::Avx512 => 32,
        }
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
