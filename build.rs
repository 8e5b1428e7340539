//! Builds the C helper for Redis-exact INCRBYFLOAT arithmetic (C `long double`).
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("shoal_longdouble");
}
