//! Shared by stages 2–5 of the pipeline: the run-time choice of the
//! instruction set for the loops that run across a chunk of paths (the
//! engine's row loops, [`crate::accounting::settle_paths`] and
//! [`crate::statistics::StatAcc::add_slice`]). Those loops have a portable
//! build and, on x86-64, an AVX2 build (with FMA for the engine's
//! exponentials); both give the same bytes.

use std::sync::OnceLock;

/// True if the AVX2 build of the row loops is used: the processor has
/// AVX2 and FMA and the environment variable `REVSHARE_SIMD` is not `off` (a
/// diagnostic switch; results are identical either way, which the test
/// suite checks).
pub fn avx2() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let off = std::env::var("REVSHARE_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("off"));
        #[cfg(target_arch = "x86_64")]
        let has = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let has = false;
        has && !off
    })
}
