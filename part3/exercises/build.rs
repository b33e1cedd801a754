//! Build script: lets the exercises that serve WSGI apps (4 and 5) start
//! the Python they were built for; see part2/build.rs for why.

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
