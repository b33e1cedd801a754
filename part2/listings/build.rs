//! Build script: lets the listings start the Python they were built for.

fn main() {
    // The RUNPATH link argument reaches only the binaries of the package
    // whose build script emits it: part2's own does not cover ours. See
    // part2/build.rs for why the binaries need it.
    pyo3_build_config::add_libpython_rpath_link_args();
}
