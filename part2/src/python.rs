//! Starting the embedded Python, and loading the WSGI application from it.
//!
//! Ports the last lines of `part2/webserver2.py`: `module, application =
//! app_path.split(':')`, `__import__(module)`, `getattr(module, application)`.
//! Python does more work for the article than it shows: the interpreter is
//! already running, `sys.path` already holds the current directory and the
//! active venv. An embedded interpreter has to be told all of that.

use std::env;
use std::ffi::CString;
use std::fs;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use pyo3::exceptions::PyModuleNotFoundError;
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Where part2's example apps (wsgiapp, flaskapp, ...) live.
pub const APPS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/apps");

// ANCHOR: python_executable
/// The Python whose packages the app sees: the venv at `$VIRTUAL_ENV`, else
/// `./.venv`, else the interpreter this program was built against.
pub fn python_executable() -> PathBuf {
    let venvs = [
        env::var_os("VIRTUAL_ENV").filter(|venv| !venv.is_empty()),
        env::current_dir().ok().map(|dir| dir.join(".venv").into()),
    ];
    // A stale VIRTUAL_ENV (the venv was deleted) falls through to ./.venv.
    venvs
        .into_iter()
        .flatten()
        .map(|venv| PathBuf::from(venv).join("bin/python"))
        .find(|python| python.exists())
        .unwrap_or_else(|| {
            PathBuf::from(option_env!("PART2_PYTHON").unwrap_or("python3"))
        })
}
// ANCHOR_END: python_executable

// ANCHOR: start_python
/// Starts the interpreter as `python_executable()` would start.
///
/// CPython finds its standard library and `site-packages` from the path of
/// its executable; a venv's `bin/python` brings its `pyvenv.cfg`, which puts
/// the venv's packages ahead of the base interpreter's.
pub fn start_python() -> Result<(), String> {
    let executable = python_executable();
    check_venv_version(&executable)?;
    let executable_c = CString::new(executable.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("odd Python path {}", executable.display()))?;
    // SAFETY: the PyConfig calls below are CPython's documented way to start
    // an interpreter (PEP 587); the config is initialised by
    // PyConfig_InitPythonConfig before use and freed by PyConfig_Clear.
    unsafe {
        let mut config = MaybeUninit::<pyo3::ffi::PyConfig>::uninit();
        pyo3::ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        // Leave SIGINT alone, so Ctrl-C stops the server at once; Python's
        // handler would only raise KeyboardInterrupt inside the next request.
        config.install_signal_handlers = 0;
        // Like `python -u`: what the app prints shows up at once.
        config.buffered_stdio = 0;
        let status = pyo3::ffi::PyConfig_SetBytesString(
            &mut config,
            &mut config.executable,
            executable_c.as_ptr(),
        );
        let status = if pyo3::ffi::PyStatus_Exception(status) == 0 {
            pyo3::ffi::Py_InitializeFromConfig(&config)
        } else {
            status
        };
        pyo3::ffi::PyConfig_Clear(&mut config);
        if pyo3::ffi::PyStatus_Exception(status) != 0 {
            let why = std::ffi::CStr::from_ptr(status.err_msg);
            return Err(format!(
                "cannot start Python from {}: {}",
                executable.display(),
                why.to_string_lossy()
            ));
        }
        // Let go of the interpreter; pyo3's `Python::attach` takes it back
        // whenever we call into Python.
        pyo3::ffi::PyEval_SaveThread();
    }
    Python::attach(add_search_paths)
        .map_err(|e| format!("cannot set sys.path: {e}"))
}
// ANCHOR_END: start_python

// ANCHOR: as_a_python_thread
/// Runs `work`, the whole life of a thread of ours, as one thread of
/// Python's: the thread is made known to the interpreter once, and lets the
/// GIL go at once; each `Python::attach` inside then only takes the GIL.
///
/// CPython keeps a thread state for each thread that runs Python (its stack
/// of frames, its exception, its context variables). `Python::attach` on a
/// thread that has none makes one (`PyGILState_Ensure`), and destroys it
/// again when it returns (`PyGILState_Release`, its count back at zero):
/// a thread that attached once per request paid that every request. The
/// main thread needs none of this: it keeps the state the interpreter
/// started with.
pub fn as_a_python_thread<T: Ungil>(work: impl FnOnce() -> T + Ungil) -> T {
    Python::attach(|py| py.detach(work))
}
// ANCHOR_END: as_a_python_thread

// ANCHOR: check_venv_version
/// A venv made by another Python version would load a standard library
/// that does not match our libpython: refuse it with a clear message.
fn check_venv_version(executable: &Path) -> Result<(), String> {
    let Some(venv) = executable.parent().and_then(Path::parent) else {
        return Ok(());
    };
    let Ok(cfg) = fs::read_to_string(venv.join("pyvenv.cfg")) else {
        return Ok(());
    };
    let built_for = env!("PART2_PYTHON_VERSION");
    let venv_version = cfg
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| matches!(key.trim(), "version" | "version_info"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    if venv_version.starts_with(&format!("{built_for}.")) {
        return Ok(());
    }
    Err(format!(
        "the venv {} is Python {venv_version}, but part2 was built for \
         Python {built_for}: remove it and run ./test.sh to make it again",
        venv.display()
    ))
}
// ANCHOR_END: check_venv_version

// ANCHOR: add_search_paths
/// Embedded Python does not put the current directory on `sys.path` the way
/// `python webserver2.py` does: add it, and part2's example apps after it.
fn add_search_paths(py: Python<'_>) -> PyResult<()> {
    let sys_path = py.import("sys")?.getattr("path")?.cast_into::<PyList>()?;
    let cwd = env::current_dir()?;
    // The importer ignores anything but `str` entries (a pathlib.Path is
    // skipped silently), so insert plain strings.
    sys_path.insert(0, cwd.to_string_lossy().as_ref())?;
    sys_path.insert(1, APPS_DIR)?;
    Ok(())
}
// ANCHOR_END: add_search_paths

// ANCHOR: load_application
/// Imports `module:callable`, as `webserver2.py` does with `__import__`
/// and `getattr`. Every error is one line that says what was not found.
pub fn load_application(
    py: Python<'_>,
    app_path: &str,
) -> Result<Py<PyAny>, String> {
    let Some((module_name, callable_name)) = app_path
        .split_once(':')
        .filter(|(m, c)| !m.is_empty() && !c.is_empty())
    else {
        return Err(format!(
            "{app_path:?} is not module:callable (try wsgiapp:app)"
        ));
    };
    let module = py
        .import(module_name)
        .map_err(|err| import_error(py, module_name, err))?;
    let application = module
        .getattr_opt(callable_name)
        .map_err(|err| err.to_string())?
        .ok_or_else(|| {
            let file: String = module
                .getattr("__file__")
                .and_then(|f| f.extract())
                .unwrap_or_else(|_| "?".into());
            format!("module {module_name} ({file}) has no {callable_name:?}")
        })?;
    if !application.is_callable() {
        return Err(format!("{app_path} is not callable"));
    }
    Ok(application.unbind())
}
// ANCHOR_END: load_application

// ANCHOR: import_error
/// Turns a failed import into one line: which module is missing, and where
/// Python looked for it (or which package the app needs).
fn import_error(py: Python<'_>, module_name: &str, err: PyErr) -> String {
    if err.is_instance_of::<PyModuleNotFoundError>(py) {
        let missing: String = err
            .value(py)
            .getattr("name")
            .and_then(|name| name.extract())
            .unwrap_or_default();
        let top = module_name.split('.').next().unwrap_or(module_name);
        if missing == module_name || missing == top {
            return format!(
                "no module named {module_name:?}; looked in {}",
                search_path(py)
            );
        }
        // The fix names the venv in use, or the one to make: a `.venv/...`
        // would be wrong when $VIRTUAL_ENV is another venv, or none exists.
        let python = python_executable();
        let bin = python.parent().unwrap_or(Path::new(""));
        let pip = bin.join("pip");
        let fix = if pip.exists() {
            format!("`{} install -r requirements.txt`", pip.display())
        } else if bin.join("../pyvenv.cfg").exists() {
            format!(
                "`{} -m ensurepip`, then `{} install -r requirements.txt`",
                python.display(),
                pip.display()
            )
        } else {
            format!(
                "make a venv, `{} -m venv .venv && .venv/bin/pip install \
                 -r requirements.txt`, or run ./test.sh once",
                python.display()
            )
        };
        return format!(
            "{module_name} needs the Python package {missing:?}, which {} \
             does not have: {fix}",
            python.display()
        );
    }
    // Anything else (a syntax error, an exception at import time) is the
    // app's own bug: its traceback says more than one line could.
    err.print(py);
    format!("importing {module_name} failed (traceback above)")
}
// ANCHOR_END: import_error

/// `sys.path` without the standard library: the places an app can be.
fn search_path(py: Python<'_>) -> String {
    let entries: Vec<String> = py
        .import("sys")
        .and_then(|sys| sys.getattr("path"))
        .and_then(|path| path.extract())
        .unwrap_or_default();
    let places: Vec<String> = entries
        .into_iter()
        .filter(|entry| !entry.ends_with(".zip"))
        .filter(|entry| {
            entry.contains("site-packages") || !entry.contains("/lib/python")
        })
        .collect();
    places.join(", ")
}
