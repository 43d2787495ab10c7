//! The run-time choice among the three builds of the row kernels. All
//! three give the same bits (the kernels are written once, in plain Rust
//! without fused multiply-adds, and compiled three times); the levels
//! differ only in speed.

use std::sync::OnceLock;

/// An instruction-set level for the row kernels of [`crate::random`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// AVX-512 F, DQ, VL and BW (x86-64): 512-bit vectors.
    Avx512,
    /// AVX2 and FMA (x86-64): 256-bit vectors.
    Avx2,
    /// Whatever the compilation target guarantees (SSE2 on x86-64, NEON
    /// on aarch64): runs everywhere.
    Portable,
}

impl Level {
    /// Whether this processor can run the level (the environment is not
    /// consulted).
    pub(crate) fn supported(self) -> bool {
        match self {
            Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The levels this processor supports, fastest first (always ends with
    /// [`Level::Portable`]); for tests and benches that compare them.
    pub fn all_supported() -> Vec<Level> {
        [Level::Avx512, Level::Avx2, Level::Portable]
            .into_iter()
            .filter(|l| l.supported())
            .collect()
    }

    /// The fastest supported level not above the cap set by the
    /// environment variable `REVSHARE_SIMD`: `off` (or `portable`) gives
    /// [`Level::Portable`], `avx2` caps at [`Level::Avx2`], anything else
    /// or unset allows [`Level::Avx512`]. Read once per process.
    pub fn detect() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let cap = std::env::var("REVSHARE_SIMD").unwrap_or_default();
            Level::best_under(Level::from_cap(&cap))
        })
    }

    /// The cap that a value of `REVSHARE_SIMD` sets (case-insensitive).
    fn from_cap(value: &str) -> Level {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "off" | "portable" => Level::Portable,
            "avx2" => Level::Avx2,
            _ => Level::Avx512,
        }
    }

    /// The fastest supported level at or below `cap`.
    fn best_under(cap: Level) -> Level {
        Level::all_supported()
            .into_iter()
            .find(|l| l.rank() <= cap.rank())
            .unwrap_or(Level::Portable)
    }

    fn rank(self) -> u8 {
        match self {
            Level::Portable => 0,
            Level::Avx2 => 1,
            Level::Avx512 => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn caps_from_the_environment_value() {
        assert_eq!(Level::from_cap("off"), Level::Portable);
        assert_eq!(Level::from_cap("OFF"), Level::Portable);
        assert_eq!(Level::from_cap("avx2"), Level::Avx2);
        assert_eq!(Level::from_cap(""), Level::Avx512);
        assert_eq!(Level::best_under(Level::Portable), Level::Portable);
        let best = Level::best_under(Level::Avx512);
        assert_eq!(best, Level::all_supported()[0]);
        assert!(Level::best_under(Level::Avx2) != Level::Avx512);
    }
}
