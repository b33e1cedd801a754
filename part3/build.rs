//! Build script: lets webserver3h and webserver3i start the Python they
//! were built for.

fn main() {
    // webserver3h and webserver3i embed CPython through part2. The link argument that
    // records where libpython lives (the binary's RUNPATH) applies only to
    // the binaries of the package whose build script emits it, so part3
    // emits it too; see part2/build.rs for why it is needed.
    pyo3_build_config::add_libpython_rpath_link_args();
}
