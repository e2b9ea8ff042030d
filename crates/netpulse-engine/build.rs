//! Link the `netpulse` binary with its relative relocations packed (`DT_RELR`) on GNU/Linux:
//! the dynamic loader then reads a table of some 14 KB at start instead of 1.1 MB of `RELA`
//! entries, and those pages do not stay resident (docs/benchmarks.md, "Fourth round"). Needs
//! GNU ld 2.38 or lld 15 and glibc 2.36 (Debian 12, Ubuntu 22.04); set
//! `NETPULSE_NO_PACKED_RELOCS=1` to link without it for an older system.

fn main() {
    println!("cargo:rerun-if-env-changed=NETPULSE_NO_PACKED_RELOCS");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && std::env::var_os("NETPULSE_NO_PACKED_RELOCS").is_none() {
        println!("cargo:rustc-link-arg-bin=netpulse=-Wl,-z,pack-relative-relocs");
    }
}
