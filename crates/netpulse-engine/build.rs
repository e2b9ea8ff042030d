//! Link the `netpulse` binary with its relative relocations packed (`DT_RELR`) on GNU/Linux
//! when the C library it links against can load them: the dynamic loader then reads a table of
//! some 14 KB at start instead of 1.1 MB of `RELA` entries, and those pages do not stay
//! resident (docs/benchmarks.md, "Fourth round"). A glibc that can (2.36 and later: Debian 12,
//! Ubuntu 22.10, Fedora 37) defines the symbol version `GLIBC_ABI_DT_RELR`, which the linker
//! then requires; an older one, or a cross build, links without it, as does
//! `NETPULSE_NO_PACKED_RELOCS=1`.

use std::path::Path;

/// Where the system's glibc lives, on the multiarch and the plain layouts.
const LIBC_PATHS: [&str; 4] =
    ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6", "/usr/lib/libc.so.6"];

fn glibc_loads_relr() -> bool {
    LIBC_PATHS.iter().map(Path::new).filter_map(|p| std::fs::read(p).ok()).any(|bytes| {
        let marker = b"GLIBC_ABI_DT_RELR";
        bytes.windows(marker.len()).any(|w| w == marker)
    })
}

fn main() {
    println!("cargo:rerun-if-env-changed=NETPULSE_NO_PACKED_RELOCS");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let native = env("TARGET") == env("HOST");
    let linux_gnu = env("CARGO_CFG_TARGET_OS") == "linux" && env("CARGO_CFG_TARGET_ENV") == "gnu";
    if native && linux_gnu && std::env::var_os("NETPULSE_NO_PACKED_RELOCS").is_none() && glibc_loads_relr() {
        println!("cargo:rustc-link-arg-bin=netpulse=-Wl,-z,pack-relative-relocs");
    }
}
