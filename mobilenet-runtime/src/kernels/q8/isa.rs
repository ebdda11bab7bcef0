//! The instruction sets of the int8 kernels, chosen once and passed to
//! every call, like [`crate::kernels::Isa`] for the float ones.

use core::fmt;

/// Which int8 kernel implementations to use. Only [`QIsa::portable`],
/// [`QIsa::detect`], [`QIsa::best`] and [`QIsa::by_name`] make one, and the
/// last three check the CPU, so holding a `QIsa` means its instructions are
/// available.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct QIsa(pub(crate) Kind);

// Without `std` the x86 kinds exist only where the build enables them.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Plain Rust (what the compiler makes of it for the build's target).
    Portable,
    /// x86-64 AVX2: u8 and i8 widened to i16, `vpmaddwd` (exact) into i32.
    Avx2,
    /// x86-64 AVX-512 F/BW/VL with VNNI: `vpdpbusd`, 64 u8 x i8 products
    /// summed exactly into 16 i32 per instruction.
    Avx512Vnni,
}

impl QIsa {
    /// Kernels in plain Rust, correct on any target.
    pub const fn portable() -> QIsa {
        QIsa(Kind::Portable)
    }

    /// The fastest kernels this CPU supports.
    #[cfg(feature = "std")]
    pub fn detect() -> QIsa {
        QIsa::best()
    }

    /// Every instruction set this CPU can run, slowest first (always starts
    /// with the portable one).
    #[cfg(feature = "std")]
    pub fn available() -> std::vec::Vec<QIsa> {
        let mut out = std::vec![QIsa::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                out.push(QIsa(Kind::Avx2));
            }
            if has_vnni() {
                out.push(QIsa(Kind::Avx512Vnni));
            }
        }
        out
    }

    /// An instruction set by name (`portable`, `avx2`, `avx512vnni`), if
    /// this CPU can run it.
    #[cfg(feature = "std")]
    pub fn by_name(name: &str) -> Option<QIsa> {
        QIsa::available().into_iter().find(|i| i.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self.0 {
            Kind::Portable => "portable",
            Kind::Avx2 => "avx2",
            Kind::Avx512Vnni => "avx512vnni",
        }
    }

    /// The fastest kernels this CPU supports, without allocating and
    /// without `std`: with `std`, run-time detection (cached by `std`);
    /// without, the instruction sets the build enables for the target
    /// (`-C target-feature` / `target-cpu`), else the portable kernels.
    pub fn best() -> QIsa {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if has_vnni() {
                return QIsa(Kind::Avx512Vnni);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return QIsa(Kind::Avx2);
            }
        }
        #[cfg(all(
            not(feature = "std"),
            target_arch = "x86_64",
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        ))]
        return QIsa(Kind::Avx512Vnni);
        #[cfg(all(
            not(feature = "std"),
            target_arch = "x86_64",
            target_feature = "avx2",
            not(all(
                target_feature = "avx512f",
                target_feature = "avx512bw",
                target_feature = "avx512vl",
                target_feature = "avx512vnni"
            ))
        ))]
        return QIsa(Kind::Avx2);
        #[allow(unreachable_code)]
        QIsa::portable()
    }
}

/// The features the `Avx512Vnni` kernels are compiled with (VL for the
/// masked 16-byte loads and stores of partial vectors).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn has_vnni() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

impl QIsa {
    /// How the weights of these kernels are packed.
    pub const fn layout(self) -> QLayout {
        QLayout(self.0)
    }
}

/// How the weights of one family of int8 kernels are packed. Unlike a
/// [`QIsa`], any layout can be named on any machine: a build packs
/// embedded weights for every instruction set its binary may meet.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct QLayout(pub(crate) Kind);

impl QLayout {
    pub const PORTABLE: QLayout = QLayout(Kind::Portable);
    pub const AVX2: QLayout = QLayout(Kind::Avx2);
    pub const AVX512VNNI: QLayout = QLayout(Kind::Avx512Vnni);
    /// Every layout.
    pub const ALL: [QLayout; 3] = [QLayout::PORTABLE, QLayout::AVX2, QLayout::AVX512VNNI];

    /// The name of the instruction set that reads it.
    pub const fn name(self) -> &'static str {
        QIsa(self.0).name()
    }
}

impl From<QIsa> for QLayout {
    fn from(isa: QIsa) -> QLayout {
        isa.layout()
    }
}

impl fmt::Debug for QLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for QIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for QIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
