//! Build script: lets the `part2` binary start the Python it was built for.

fn main() {
    // pyo3 links libpython but leaves finding it at run time to the system
    // loader, which does not look where pyenv (or a self-built Python) keeps
    // it. Recording that folder in the binary (its RUNPATH) means `part2`
    // starts with no LD_LIBRARY_PATH, and against the right libpython.
    pyo3_build_config::add_libpython_rpath_link_args();

    // Tell the program which interpreter it was built against: it starts
    // that interpreter's standard library when no venv is around, and
    // refuses a venv made by another Python version.
    let config = pyo3_build_config::get();
    if let Some(executable) = config.executable() {
        println!("cargo:rustc-env=PART2_PYTHON={executable}");
    }
    println!("cargo:rustc-env=PART2_PYTHON_VERSION={}", config.version());
}
